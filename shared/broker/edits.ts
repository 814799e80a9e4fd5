/**
 * Edit collisions: every file a session edits is a touch, recorded by the agents' edit hooks
 * (/edits/touch); claim_files adds explicit claims. Before an edit of a file another live session
 * (any worktree, host or agent) touched within the window or claims, the editing session's model is
 * told (or refused once: collisions.ts decides) and the other session gets a notice, each once per
 * pair and file per window; never about a session's own edits, never across repositories (a file's
 * key names its repository). Calls down: Presence (who is live, whose hook this is), Notices (which
 * sends through Mail), its own store.
 */
import { realpathSync } from "node:fs";
import { join, relative } from "node:path";
import { WireError } from "../errors.ts";
import type { FileKeys } from "../file-key.ts";
import type { ClaimFilesResult, EditsResult, EditTouchResult, PeerInfo, ParsedBody } from "../protocol.ts";
import type { ClaimRow, EditsStore, TouchRow } from "../store/edits.ts";
import type { PeerRow, SweepTime } from "../store/store.ts";
import {
  DEFAULT_CLAIM_TTL_S,
  MAX_CLAIM_PATTERNS,
  Once,
  claimCovers,
  decide,
  describeLines,
  formatLines,
  mergeRanges,
  normalizeClaim,
  parseLines,
  RETRY_MS,
  type Lines,
  type Stake,
} from "./collisions.ts";
import { stakeLists, stakeName, type EditFlags } from "./edit-flags.ts";
import { hookAncestors } from "./hook-pairing.ts";
import type { Notices } from "./notices.ts";
import type { Presence } from "./presence.ts";
import { ShellChanges } from "./shell-changes.ts";

/** How many files list_peers and whoami show per session. */
const SHOWN_FILES = 3;
const NOTHING: EditTouchResult = { decision: "none", text: null };
/** How many files' warnings one shell command's answer gives in full. */
const SHOWN_SHELL_TEXTS = 8;
/** First snapshots one refresh takes (each a `git status` of up to 3 s, one after another). */
const FIRST_LOOKS_PER_REFRESH = 4;

export interface EditsOptions {
  store: EditsStore;
  presence: Presence;
  notices: Notices;
  keys: FileKeys;
  /** CLAUDE_PEERS_COLLISION_WINDOW_S: how long an edit counts. */
  windowMs: number;
  now: () => number;
  /** The stake files the edit hooks test from the shell; none when absent (in-process tests). */
  flags?: EditFlags;
}

/** What an edit hook's call names: the hook (as /hook pairs it), the edit, how to answer. */
type HookCall = Pick<ParsedBody<"/edits/touch">, "ancestors" | "agent_pid" | "session_id" | "mode" | "tell">;

export class Edits {
  private readonly store: EditsStore;
  private readonly presence: Presence;
  private readonly notices: Notices;
  private readonly keys: FileKeys;
  private readonly now: () => number;
  readonly windowMs: number;
  /** Each side is told once per pair and file per window (again only after a newer edit). */
  private readonly told: Once;
  /** Editor and file → when its edit was refused: a retry within RETRY_MS goes through. */
  private readonly refused = new Map<string, number>();
  private readonly flags: EditFlags | undefined;
  /** Counts edits and claims: a refresh that saw the store before one of them writes no stake files. */
  private flagEpoch = 0;
  /** Each local session's last snapshot of its worktree's changed files (shell-changes.ts). */
  private readonly shellChanges: ShellChanges;

  constructor(opts: EditsOptions) {
    this.store = opts.store;
    this.presence = opts.presence;
    this.notices = opts.notices;
    this.keys = opts.keys;
    this.windowMs = opts.windowMs;
    this.now = opts.now;
    this.told = new Once(() => this.windowMs);
    this.flags = opts.flags;
    this.shellChanges = new ShellChanges(opts.now, opts.windowMs);
  }

  /** An edit hook's call: records the touch and answers what the editing session's model is told. */
  async touch(body: ParsedBody<"/edits/touch">): Promise<EditTouchResult> {
    const found = this.presence.forHook(hookAncestors(body.ancestors, body.agent_pid), body.session_id);
    if (!found) return NOTHING;
    const keyed = await this.keys.of(body.path);
    if (!keyed.ok) return NOTHING;
    const lines: Lines = body.lines === null || body.lines === "all" ? body.lines : mergeRanges(body.lines);
    return this.touchKeyed(found.peer, keyed.key.repo, keyed.key.path, lines, body.phase, body, "edit");
  }

  /**
   * After a shell tool call (the agents report no paths for it): the files of the session's worktree
   * that changed since its previous snapshot become its touches (no lines), each answered as a
   * post-edit touch; one text for all. Files another session's hooks recorded since are theirs.
   */
  async shell(body: ParsedBody<"/edits/shell">): Promise<EditTouchResult> {
    const found = this.presence.forHook(hookAncestors(body.ancestors, body.agent_pid), body.session_id);
    if (!found || body.mode === "off") return NOTHING;
    const top = await this.keys.topOf(body.cwd);
    if (!top) return NOTHING;
    const changed = await this.shellChanges.scan(found.peer.id, top);
    if (!changed) return NOTHING;
    const texts: string[] = [];
    for (const rel of changed.paths) {
      const keyed = await this.keys.of(join(top, rel));
      if (!keyed.ok) continue;
      const { repo, path } = keyed.key;
      // An edit tool's hook (this session's, or another's in this very worktree) recorded it since: that says who, and which lines.
      const recorded = await this.store.touchesOf(repo, path, changed.since);
      if (recorded.some((t) => t.peer_id === found.peer.id || this.worksIn(t.peer_id, top))) continue;
      const answer = await this.touchKeyed(found.peer, repo, path, null, "post", body, "shell");
      if (answer.text) texts.push(answer.text);
    }
    // Within what Claude Code keeps of additionalContext (8,000 characters): a few files in full, then a count.
    const shown = texts.slice(0, SHOWN_SHELL_TEXTS);
    if (texts.length > shown.length) shown.push(`claude-peers: and ${texts.length - shown.length} more files your shell command changed that other sessions have a stake in (bun cli.ts edits lists them).`);
    return texts.length ? { decision: "warn", text: shown.join("\n") } : NOTHING;
  }

  /** Whether a session of this host works in the worktree `top` (a shared checkout: its changes show in the same `git status`). */
  private worksIn(peerId: string, top: string): boolean {
    const root = this.presence.get(peerId)?.row.git_root;
    if (!root) return false;
    try {
      return realpathSync(root) === top;
    } catch {
      return false;
    }
  }

  /** Records one keyed touch (unless refused) and answers it; notices go to the other sessions with a stake. */
  private async touchKeyed(editor: PeerInfo, repo: string, path: string, lines: Lines, phase: "pre" | "post", call: HookCall, how: "edit" | "shell"): Promise<EditTouchResult> {
    const now = this.now();
    const { stakes, others } = call.mode === "off" ? { stakes: [], others: new Map<string, PeerInfo>() } : await this.stakes(editor.id, repo, path, now);
    const refusalKey = `${editor.id}\0${repo}\0${path}`;
    const decision = phase === "pre" ? decide({ stakes, lines, mode: call.mode, now, refusedAt: this.refused.get(refusalKey) }) : stakes.length ? "warn" : "none";
    if (decision === "deny") this.refused.set(refusalKey, now);
    else await this.record(editor.id, repo, path, lines, now);
    if (decision === "none") return NOTHING;

    // A path from `git status` (shell) is the file system's: quoted, as data, in the texts.
    const shown = how === "shell" ? JSON.stringify(path) : path;
    for (const s of stakes) {
      if (this.told.take(`notice\0${s.peerId}\0${editor.id}\0${repo}\0${path}`, now)) {
        await this.notices.tell(s.peerId, noticeText(editor, shown, s, now, how));
      }
    }
    // Not shown now (a post-edit hook, Gemini's BeforeTool): the editor is told when its hook can show it.
    if (decision === "warn" && !call.tell) return NOTHING;
    // The editor hears of each other session again only once it has edited the file since.
    // A refusal also counts as this telling: the retry that follows goes through without it again.
    const heard = stakes.filter((s) => this.told.take(`warn\0${editor.id}\0${s.peerId}\0${repo}\0${path}`, now, s.touchedAt ?? 0));
    const fresh = decision === "deny" ? stakes : heard;
    const lines_ = fresh.flatMap((s) => (others.has(s.peerId) ? [stakeText(others.get(s.peerId)!, path, s, now, shown)] : []));
    if (lines_.length === 0) return NOTHING;
    const names = [...new Set(fresh.flatMap((s) => others.get(s.peerId)?.name ?? []))];
    const ask = `send_message to=${names[0]}`;
    const text =
      decision === "deny"
        ? `claude-peers: edit refused once so you can coordinate. ${lines_.join(" ")} Read the file's current state and tell ${names.join(", ")} what you will change (${ask}); the same edit tried again within ${RETRY_MS / 60_000} min goes through.`
        : how === "shell"
          ? `claude-peers: your shell command changed ${shown}. ${lines_.join(" ")} Check that you meant to, and coordinate (${ask}).`
          : `claude-peers: ${lines_.join(" ")} Read the file's current state before changing it, and coordinate (${ask}) if you will change the same lines.`;
    return { decision, text };
  }

  /** The other live sessions' stakes in a file (their edits within the window, their claims covering it), and who they are. */
  private async stakes(editorId: string, repo: string, path: string, now: number): Promise<{ stakes: Stake[]; others: Map<string, PeerInfo> }> {
    const [touches, claims] = await Promise.all([this.store.touchesOf(repo, path, now - this.windowMs), this.store.claimsIn(repo, now)]);
    const byPeer = new Map<string, Stake>();
    for (const t of touches) if (t.peer_id !== editorId) byPeer.set(t.peer_id, { peerId: t.peer_id, touchedAt: t.at, lines: parseLines(t.lines), claim: null });
    for (const c of claims) {
      if (c.peer_id === editorId || !claimCovers(c.pattern, path)) continue;
      const s = byPeer.get(c.peer_id) ?? { peerId: c.peer_id, touchedAt: null, lines: null, claim: null };
      s.claim = { pattern: c.pattern, expiresAt: c.expires_at };
      byPeer.set(c.peer_id, s);
    }
    if (byPeer.size === 0) return { stakes: [], others: new Map() };
    const others = await this.liveInfo([...byPeer.keys()]);
    return { stakes: [...byPeer.values()].filter((s) => others.has(s.peerId)), others };
  }

  /** The session's touch, its own lines within the window kept beside the new ones; its edits renew its claims. */
  private async record(peerId: string, repo: string, path: string, lines: Lines, now: number): Promise<void> {
    const [mine] = (await this.store.touchesOf(repo, path, now - this.windowMs)).filter((t) => t.peer_id === peerId);
    const before = parseLines(mine?.lines ?? null);
    const stored: Lines = before === "all" || lines === "all" ? "all" : before === null ? lines : lines === null ? before : mergeRanges([...before, ...lines]);
    await this.store.touch({ repo_key: repo, path, peer_id: peerId, lines: formatLines(stored), at: now });
    await this.store.renew(peerId, repo, now);
    this.staked(peerId, repo, path);
  }

  /**
   * A session edited `path` (or claimed in `repo`: null): the other sessions here in that repository
   * must not skip their hooks for it, from now on. Their stake files get its name at once (a claim, or
   * a name the shell cannot match, takes their files away) until refresh() writes them whole again.
   */
  private staked(peerId: string, repo: string, path: string | null): void {
    this.flagEpoch++;
    if (!this.flags) return;
    const others: string[] = [];
    for (const p of this.presence.entries()) if (p.row.id !== peerId && p.row.repo_key === repo) others.push(...p.sessionIds);
    const name = path === null ? null : stakeName(path);
    if (name === null) this.flags.remove(others);
    else this.flags.add(others, name);
  }

  /**
   * Writes every stake file again: for each live session here in a repository, the names of the files
   * other live sessions (any host) edited there within the window; none while another claims there,
   * nor while a live session on another host works there (its edits reach this broker only at the
   * next refresh: Bun decides meanwhile). Then takes the first snapshot of a few new sessions'
   * worktrees (shell-changes.ts: a failed one is tried again later, less and less often), so that what
   * their shell commands change before their first shell hook runs (it may skip Bun while nobody else
   * is there) still counts.
   */
  async refreshFlags(): Promise<void> {
    if (!this.flags) return;
    const epoch = this.flagEpoch;
    const now = this.now();
    const here = [...this.presence.entries()].filter((p) => this.presence.isLive(p) && p.row.repo_key);
    // No session here is in a repository: nobody to flag, and no query (an idle broker's refresh is free).
    if (here.length === 0) {
      this.flags.set(stakeLists([], []));
      return;
    }
    // Only what this host's sessions need, never the whole network: a repository where another host's
    // session works gets no stake file, so only this host's sessions' touches and claims can fill one.
    const remoteRepos = await this.presence.remoteRepoKeys([...new Set(here.map((p) => p.row.repo_key!))]);
    const { touches, claims } = await this.store.recent(now - this.windowMs, now, here.map((p) => p.row.id));
    const files = stakeLists(
      here.map((p) => ({ id: p.row.id, repo: p.row.repo_key!, sessionIds: p.sessionIds })),
      [...touches, ...claims].map((r) => ({ repo: r.repo_key, peer: r.peer_id, path: "path" in r ? r.path : null })),
      remoteRepos,
    );
    // An edit or claim came while this refresh read the store: its view may be stale; the next one writes.
    if (epoch === this.flagEpoch) this.flags.set(files);
    let scans = 0;
    for (const p of here) {
      if (scans >= FIRST_LOOKS_PER_REFRESH) break;
      if (!p.row.git_root || !this.shellChanges.due(p.row.id)) continue;
      scans++;
      const top = await this.keys.topOf(p.row.git_root); // the real path, as a shell hook's cwd finds it
      if (top) await this.shellChanges.scan(p.row.id, top);
      else this.shellChanges.failed(p.row.id);
    }
  }

  /** Forgets what is kept per session (its worktree's snapshot) when it leaves. */
  forgetPeer(peerId: string): void {
    this.shellChanges.forget(peerId);
  }

  sizes(): { shellSnapshots: number } {
    return { shellSnapshots: this.shellChanges.size };
  }

  /** Live peers (here and on other hosts) among `ids`, with what the texts name them by. */
  private async liveInfo(ids: readonly string[]): Promise<Map<string, PeerInfo>> {
    const wanted = new Set(ids);
    const out = new Map<string, PeerInfo>();
    for (const p of await this.presence.list("network", {})) if (wanted.has(p.id)) out.set(p.id, p);
    return out;
  }

  /** claim_files: claims (or releases) globs inside the session's repository. */
  async claim(peer: PeerRow, body: ParsedBody<"/edits/claim">): Promise<Omit<ClaimFilesResult, "unread" | "queued">> {
    const now = this.now();
    if (!peer.repo_key || !peer.git_root) {
      throw new WireError("bad_request", "paths: claim_files works inside a git repository with an origin or a commit; this session's folder is not one", { field: "paths" });
    }
    const prefix = relative(peer.git_root, peer.cwd).split("\\").join("/");
    const patterns: string[] = [];
    for (const [i, raw] of (body.paths ?? []).entries()) {
      const n = normalizeClaim(raw, prefix.startsWith("..") ? "" : prefix);
      if ("error" in n) throw new WireError("bad_request", `paths.${i}: "${raw.slice(0, 80)}" ${n.error}`, { field: `paths.${i}` });
      patterns.push(n.pattern);
    }
    if (patterns.length > MAX_CLAIM_PATTERNS) throw new WireError("bad_request", `paths: at most ${MAX_CLAIM_PATTERNS} patterns; claim folders or globs instead`, { field: "paths" });
    let released = 0;
    if (body.release) released = await this.store.release(peer.id, body.paths ? patterns : undefined);
    else {
      const ttlMs = (body.ttl_s ?? DEFAULT_CLAIM_TTL_S) * 1000;
      this.staked(peer.id, peer.repo_key, null);
      await this.store.claim([...new Set(patterns)].map((pattern): ClaimRow => ({ repo_key: peer.repo_key!, pattern, peer_id: peer.id, ttl_ms: ttlMs, created_at: now, expires_at: now + ttlMs })));
    }
    const mine = (await this.store.claimsIn(peer.repo_key, now)).filter((c) => c.peer_id === peer.id);
    const others: string[] = [];
    if (!body.release) {
      const { touches, claims } = await this.store.recent(now - this.windowMs, now);
      const live = await this.liveInfo([...new Set([...touches, ...claims].map((r) => r.peer_id))].filter((id) => id !== peer.id));
      for (const t of touches) {
        const who = live.get(t.peer_id);
        if (who && t.repo_key === peer.repo_key && patterns.some((p) => claimCovers(p, t.path))) others.push(`${who.name} edited ${t.path} ${minutesAgo(now - t.at)}`);
      }
      for (const c of claims) {
        const who = live.get(c.peer_id);
        if (who && c.repo_key === peer.repo_key && patterns.some((p) => p === c.pattern || claimCovers(p, c.pattern) || claimCovers(c.pattern, p))) others.push(`${who.name} claims ${c.pattern}`);
      }
    }
    return { claims: mine.map((c) => ({ pattern: c.pattern, expires_at: new Date(c.expires_at).toISOString() })), released, others: others.slice(0, 10) };
  }

  /** The peers, each with the files it edited lately and its claims, in a few words (list_peers, whoami). */
  async annotate(peers: PeerInfo[]): Promise<PeerInfo[]> {
    if (peers.length === 0) return peers;
    const now = this.now();
    const { touches, claims } = await this.store.recent(now - this.windowMs, now, peers.map((p) => p.id));
    return peers.map((p) => {
      const editing = touches.filter((t) => t.peer_id === p.id).map((t) => t.path);
      const claimed = claims.filter((c) => c.peer_id === p.id).map((c) => c.pattern);
      return editing.length || claimed.length ? { ...p, editing: editing.slice(0, SHOWN_FILES), claims: claimed.slice(0, SHOWN_FILES) } : p;
    });
  }

  /** Who is editing what (bun cli.ts edits): live sessions' edits within the window and their claims. */
  async list(): Promise<EditsResult> {
    const now = this.now();
    const live = new Map((await this.presence.list("network", {})).map((p) => [p.id, p]));
    const { touches, claims } = await this.store.recent(now - this.windowMs, now, [...live.keys()]);
    const holders = new Map<string, Set<string>>();
    const hold = (repo: string, path: string, peer: string) => holders.set(`${repo}\0${path}`, (holders.get(`${repo}\0${path}`) ?? new Set()).add(peer));
    for (const t of touches) hold(t.repo_key, t.path, t.peer_id);
    const colliding = (repo: string, path: string, peer: string) =>
      (holders.get(`${repo}\0${path}`)?.size ?? 0) > 1 || claims.some((c) => c.repo_key === repo && c.peer_id !== peer && claimCovers(c.pattern, path));
    const row = (r: TouchRow | ClaimRow, kind: "edit" | "claim") => {
      const p = live.get(r.peer_id)!;
      const path = "path" in r ? r.path : r.pattern;
      return {
        repo: r.repo_key,
        path,
        kind,
        peer_id: p.id,
        name: p.name,
        agent: p.agent,
        host: p.host,
        branch: p.git_branch,
        lines: "lines" in r ? r.lines : null,
        at: new Date("at" in r ? r.at : r.created_at).toISOString(),
        expires_at: "expires_at" in r ? new Date(r.expires_at).toISOString() : null,
        colliding: kind === "edit" ? colliding(r.repo_key, path, r.peer_id) : touches.some((t) => t.repo_key === r.repo_key && t.peer_id !== r.peer_id && claimCovers(path, t.path)),
      };
    };
    return { window_s: Math.round(this.windowMs / 1000), files: [...touches.map((t) => row(t, "edit")), ...claims.map((c) => row(c, "claim"))] };
  }

  /**
   * The git guard: of the staged files, those another live session edited within the window and the
   * committing session (found like a hook's; none for a person at a terminal) did not.
   */
  async guard(body: ParsedBody<"/edits/guard">): Promise<{ files: Array<{ path: string; others: string[] }> }> {
    const self = this.presence.forHook(hookAncestors(body.ancestors, body.agent_pid), body.session_id)?.peer.id;
    const now = this.now();
    const files: Array<{ path: string; others: string[] }> = [];
    let live: Map<string, PeerInfo> | undefined;
    for (const abs of body.paths) {
      const keyed = await this.keys.of(abs);
      if (!keyed.ok) continue;
      const touches = await this.store.touchesOf(keyed.key.repo, keyed.key.path, now - this.windowMs);
      if (touches.length === 0 || touches.some((t) => t.peer_id === self)) continue;
      live ??= new Map((await this.presence.list("network", {})).map((p) => [p.id, p]));
      const others = touches.flatMap((t) => (live!.has(t.peer_id) ? [`${who(live!.get(t.peer_id)!)} ${minutesAgo(now - t.at)}`] : []));
      if (others.length) files.push({ path: keyed.key.path, others });
    }
    return { files };
  }

  /** Forgets touches older than the window and ended claims. */
  /** The leader's sweep of the shared touches and claims, at `at` (housekeeping: the database's clock on PostgreSQL). */
  async prune(at: SweepTime = this.now()): Promise<number> {
    const now = this.now();
    for (const [key, refusedAt] of this.refused) if (now - refusedAt >= RETRY_MS) this.refused.delete(key);
    return this.store.prune(this.windowMs, at);
  }
}

/** "web (codex, branch feat/login, host laptop)": who another session is, in the texts. */
function who(p: PeerInfo): string {
  return `${p.name} (${[p.agent, p.git_branch ? `branch ${p.git_branch}` : null, p.host ? `host ${p.host}` : null].filter(Boolean).join(", ")})`;
}

function minutesAgo(ms: number): string {
  const min = Math.floor(ms / 60_000);
  return min < 1 ? "just now" : `${min} min ago`;
}

/** The editing session's line about one other session's stake. */
function stakeText(other: PeerInfo, path: string, s: Stake, now: number, shown = path): string {
  const parts: string[] = [];
  if (s.touchedAt !== null) {
    const lines = describeLines(s.lines);
    parts.push(`${who(other)} edited ${shown} ${minutesAgo(now - s.touchedAt)}${lines ? ` (${lines})` : ""}`);
  }
  if (s.claim) parts.push(`${s.touchedAt === null ? `${who(other)} ` : ""}claims ${s.claim.pattern === path ? "it" : `${shown} (${s.claim.pattern})`} for ${Math.max(1, Math.round((s.claim.expiresAt - now) / 60_000))} more min`);
  return `${parts.join(" and ")}.`;
}

/** The other session's notice: who is about to edit which of its files (`shown`: the path as the text spells it). */
function noticeText(editor: PeerInfo, shown: string, s: Stake, now: number, how: "edit" | "shell"): string {
  const yours: string[] = [];
  if (s.touchedAt !== null) {
    const lines = describeLines(s.lines);
    yours.push(`which you edited ${minutesAgo(now - s.touchedAt)}${lines ? ` (${lines})` : ""}`);
  }
  if (s.claim) yours.push(`${yours.length ? "and " : "which "}you claim (${s.claim.pattern})`);
  return `${who(editor)} ${how === "shell" ? "changed" : "is about to edit"} ${shown}${how === "shell" ? " with a shell command" : ""}, ${yours.join(" ")}. If you are still changing it, tell ${editor.name} (send_message to=${editor.name}).`;
}
