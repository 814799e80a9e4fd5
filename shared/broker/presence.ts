/**
 * Who is live: this broker's peers (a push socket, or polls within the grace while the process
 * runs) and, through a shared PostgreSQL, the peers of the other hosts' brokers. Names are unique
 * among all of them; list_peers scopes and the live part of addressing are answered here.
 */
import type { BrokerNetwork, LocalPeer, RemotePeer } from "./network.ts";
import { WireError } from "../errors.ts";
import type { PeerInfo, Scope } from "../protocol.ts";
import type { PeerRow } from "../store/store.ts";
import { pairHook, type HookAncestor } from "./hook-pairing.ts";
import { toWirePeer } from "./to-wire.ts";

/** A peer without a push connection (poll fallback) stays live this long after its last poll. */
const POLL_GRACE_MS = 2500;
const MAX_NAME_SUFFIX = 999;

/** The part of a WebSocket the broker needs; lets tests and the server share one shape. */
export interface PushSocket {
  send(data: string): unknown;
  close(code?: number, reason?: string): void;
}

export interface LivePeer {
  row: PeerRow;
  socket: PushSocket | null;
  /** When it last showed it is alive: attached, polled, or now if it holds a socket. */
  seenAt: number;
  /**
   * The Claude Code session ids its hooks may send: the one its server started under
   * (CLAUDE_CODE_SESSION_ID), and any a hook brought that ancestry tied to it (after /clear).
   */
  sessionIds: Set<string>;
}

/** Where list_peers is looked at from: a peer, or the CLI in some folder. */
export interface Viewer {
  id?: string;
  cwd?: string;
  git_common_dir?: string | null;
  repo_key?: string | null;
}

/** A live peer found by id or name: on this broker, or (with `brokerId`) on another host's. */
export interface LiveAddress {
  id: string;
  name: string;
  brokerId?: string;
}

export interface PresenceOptions {
  /** This machine's name, stamped on every peer that registers here. */
  host: string;
  network?: BrokerNetwork;
  now: () => number;
  /** Whether a local process still exists; a crashed poll-mode peer is dropped at once. */
  pidAlive: (pid: number) => boolean;
  /** Called for each peer the sweep finds gone. */
  onGone: (peer: LivePeer) => void;
  /**
   * Called for each peer that leaves this broker, whichever way (unregistered, swept, its socket
   * closed, its name lost): what the broker keeps per peer goes with it.
   */
  onLeft?: (peer: LivePeer) => void;
}

export class Presence {
  readonly host: string;
  private readonly network: BrokerNetwork | undefined;
  private readonly now: () => number;
  private readonly pidAlive: (pid: number) => boolean;
  private readonly onGone: (peer: LivePeer) => void;
  private readonly onLeft: (peer: LivePeer) => void;
  private readonly live = new Map<string, LivePeer>();
  /** Peers inside admit(): their network name is not settled yet. */
  private readonly admitting = new Set<string>();

  constructor(opts: PresenceOptions) {
    this.host = opts.host;
    this.network = opts.network;
    this.now = opts.now;
    this.pidAlive = opts.pidAlive;
    this.onGone = opts.onGone;
    this.onLeft = opts.onLeft ?? (() => {});
  }

  /** This broker's entry for `id`, live or not yet swept. */
  get(id: string): LivePeer | undefined {
    return this.live.get(id);
  }

  entries(): IterableIterator<LivePeer> {
    return this.live.values();
  }

  /**
   * Makes `row` live here under the first free name from `row.name` (`api`, `api-2`…), free on the
   * whole network, and keeps the push socket of an earlier registration of the same id. `save`
   * stores the final row; if it fails, the earlier entry is put back.
   */
  async admit(row: PeerRow, save: (row: PeerRow) => Promise<void>, sessionId?: string): Promise<LivePeer> {
    // Only the other hosts' names this one could collide with (`api`, `api-2`…), not the whole network.
    const remote = this.network ? await this.network.remotePeers({ nameFamily: { name: row.name, base: nameBase(row.name) } }) : [];
    const taken = new Set(remote.map((p) => p.row.name));
    const previous = this.live.get(row.id);
    // Reserve the name before the next await, so concurrent registrations never share one.
    const sessionIds = new Set([...(previous?.sessionIds ?? []), ...(sessionId ? [sessionId] : [])]);
    const entry: LivePeer = { row: { ...row, name: this.freeName(row.name, row.id, taken) }, socket: previous?.socket ?? null, seenAt: row.last_seen, sessionIds };
    this.live.set(row.id, entry);
    this.admitting.add(row.id);
    try {
      if (this.network) await this.claimOnNetwork(entry, row.name, taken);
      await save(entry.row);
    } catch (err) {
      if (previous) this.live.set(row.id, previous);
      else this.live.delete(row.id);
      throw err;
    } finally {
      this.admitting.delete(row.id);
    }
    return entry;
  }

  /** Whether a peer's network name is being settled right now (admit() has not finished). */
  isAdmitting(id: string): boolean {
    return this.admitting.has(id);
  }

  /** Another host may have taken the name a moment ago: then the next free one, until one holds. */
  private async claimOnNetwork(entry: LivePeer, wanted: string, taken: Set<string>): Promise<void> {
    while (!(await this.network!.claimName(localPeer(entry)))) {
      taken.add(entry.row.name);
      entry.row = { ...entry.row, name: this.freeName(wanted, entry.row.id, taken) };
    }
  }

  /** The first free name among `wanted`, `wanted-2`, `wanted-3`… held by no other live peer. */
  private freeName(wanted: string, selfId: string, takenElsewhere: ReadonlySet<string>): string {
    const taken = new Set(takenElsewhere);
    for (const [id, p] of this.live) if (id !== selfId && this.isLive(p)) taken.add(p.row.name);
    if (!taken.has(wanted)) return wanted;
    const base = nameBase(wanted);
    for (let n = 2; n <= MAX_NAME_SUFFIX; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
    throw new WireError("conflict", `name: every name from ${base} to ${base}-${MAX_NAME_SUFFIX} is taken`, { field: "name" });
  }

  /** The peer showed it is alive (a poll). */
  touch(id: string): void {
    const entry = this.live.get(id);
    if (entry) entry.seenAt = this.now();
  }

  /** Gives the peer its push socket; returns the one it replaces, if any. */
  attachSocket(id: string, socket: PushSocket): PushSocket | null {
    const entry = this.live.get(id);
    if (!entry) return null;
    const previous = entry.socket;
    entry.socket = socket;
    entry.seenAt = this.now();
    return previous !== socket ? previous : null;
  }

  setSummary(id: string, summary: string): void {
    const entry = this.live.get(id);
    if (entry) entry.row = { ...entry.row, summary };
  }

  /** Takes a peer off this broker (and its name off the network); returns its last entry. */
  remove(id: string): LivePeer | undefined {
    const entry = this.live.get(id);
    this.live.delete(id);
    this.network?.release(id);
    if (entry) this.onLeft(entry);
    return entry;
  }

  /** Forgets every peer at once (broker shutdown); the caller closes their sockets. */
  clear(): void {
    this.live.clear();
  }

  bySecretHash(hash: string): PeerRow | null {
    for (const p of this.live.values()) if (p.row.secret_hash === hash) return p.row;
    return null;
  }

  isLive(p: LivePeer): boolean {
    if (p.socket) return true;
    return this.now() - p.seenAt < POLL_GRACE_MS && this.pidAlive(p.row.pid);
  }

  /** Drops peers whose poll grace ran out or whose process died; returns how many left. */
  sweep(): number {
    let gone = 0;
    for (const [id, p] of this.live) {
      if (this.isLive(p)) continue;
      this.remove(id);
      this.onGone(p);
      gone++;
    }
    return gone;
  }

  /** Peers remembered, for tests that check nothing is kept. */
  sizes(): { live: number; admitting: number } {
    return { live: this.live.size, admitting: this.admitting.size };
  }

  liveIds(): Set<string> {
    return new Set(this.live.keys());
  }

  /** Which of these peers are live, here or on another host (the database filters). */
  async liveAmong(ids: readonly string[]): Promise<Set<string>> {
    const live = new Set(ids.filter((id) => this.live.has(id)));
    const elsewhere = ids.filter((id) => !live.has(id));
    if (this.network && elsewhere.length > 0) for (const p of await this.network.remotePeers({ ids: elsewhere })) live.add(p.row.id);
    return live;
  }

  /** Live peers here and on every other host. */
  async networkLiveIds(): Promise<Set<string>> {
    const ids = this.liveIds();
    if (this.network) for (const p of await this.network.remotePeers()) ids.add(p.row.id);
    return ids;
  }

  /** How many peers are live on the other hosts (0 on SQLite). */
  /** Whether this broker shares its database with other hosts' brokers (PostgreSQL). */
  get networked(): boolean {
    return this.network !== undefined;
  }

  async otherHostsCount(): Promise<number> {
    return this.network ? this.network.countRemote() : 0;
  }

  /** This broker's live peers, as its heartbeat reports them to the network. */
  localPeers(): LocalPeer[] {
    this.sweep();
    return [...this.live.values()].map(localPeer);
  }

  counts(): { live: number; push: number; poll: number } {
    this.sweep();
    let push = 0;
    for (const p of this.live.values()) if (p.socket) push++;
    return { live: this.live.size, push, poll: this.live.size - push };
  }

  info(p: LivePeer): PeerInfo {
    return toWirePeer(p.row, p.socket !== null, p.socket ? this.now() : p.seenAt);
  }

  async list(scope: Scope, viewer: Viewer): Promise<PeerInfo[]> {
    this.sweep();
    const visible = (row: PeerRow) => row.id !== viewer.id && inScope(scope, row, viewer, this.host);
    const peers: PeerInfo[] = [];
    for (const p of this.live.values()) if (visible(p.row)) peers.push(this.info(p));
    for (const p of await this.remoteInScope(scope, viewer)) if (visible(p.row)) peers.push(remoteInfo(p));
    return peers.sort((a, b) => a.name.localeCompare(b.name) || a.host.localeCompare(b.host));
  }

  /** Which of these repository keys the other hosts' live peers work in (none without a network): the database filters. */
  async remoteRepoKeys(among: readonly string[]): Promise<Set<string>> {
    const keys = new Set<string>();
    if (!this.network || among.length === 0) return keys;
    for (const p of await this.network.remotePeers({ repoKeys: among })) if (p.row.repo_key) keys.add(p.row.repo_key);
    return keys;
  }

  /** Whether the peer holds a push connection, here or on another host's broker. */
  async hasPush(id: string): Promise<boolean> {
    if (this.live.get(id)?.socket) return true;
    return (await this.network?.findRemote({ id }))?.push ?? false;
  }

  /**
   * The other hosts' live peers a scope can show: none for this machine's scopes, those of the
   * viewer's repository key for repo, all for network (the database filters).
   */
  private async remoteInScope(scope: Scope, viewer: Viewer): Promise<RemotePeer[]> {
    if (!this.network || scope === "machine" || scope === "directory") return [];
    if (scope === "repo") return viewer.repo_key ? this.network.remotePeers({ repoKeys: [viewer.repo_key] }) : [];
    return this.network.remotePeers();
  }

  /** Every live peer here and on the other hosts (or those holding `names`), by name (names are unique on the network). */
  async liveByName(names?: readonly string[]): Promise<Map<string, LiveAddress & { host: string }>> {
    this.sweep();
    const byName = new Map<string, LiveAddress & { host: string }>();
    if (this.network) for (const p of await this.network.remotePeers(names ? { names } : undefined)) byName.set(p.row.name, { id: p.row.id, name: p.row.name, brokerId: p.brokerId, host: p.row.host });
    for (const p of this.live.values()) byName.set(p.row.name, { id: p.row.id, name: p.row.name, host: this.host });
    return byName;
  }

  /** The live peers of this host, other than `exceptId`: whom `*` reaches. */
  localLive(exceptId?: string): LiveAddress[] {
    this.sweep();
    const out: LiveAddress[] = [];
    for (const p of this.live.values()) if (p.row.id !== exceptId) out.push({ id: p.row.id, name: p.row.name });
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The live peer `to` names: an id, a name (unique on the network), or name@host. */
  async find(to: string): Promise<LiveAddress | null> {
    const { name, host } = parseAddress(to);
    const byId = this.live.get(to);
    if (!host && byId && this.isLive(byId)) return { id: to, name: byId.row.name };
    if (host) return this.named(name, host);
    const here = this.localNamed(name);
    if (here || !this.network) return here;
    // One lookup on the other hosts: the name, else the id (a name wins there as it does here).
    const remote = await this.network.findRemote({ name, id: to });
    return remote ? { id: remote.row.id, name: remote.row.name, brokerId: remote.brokerId } : null;
  }

  /** The live peer of this broker with this name. */
  private localNamed(name: string): LiveAddress | null {
    for (const p of this.live.values()) if (p.row.name === name && this.isLive(p)) return { id: p.row.id, name };
    return null;
  }

  /** The live peer with this name, here or on another host (on `host` only, if given). */
  async named(name: string, host?: string): Promise<LiveAddress | null> {
    const here = !host || host === this.host ? this.localNamed(name) : null;
    if (here) return here;
    const remote = await this.network?.findRemote({ name, host });
    return remote ? { id: remote.row.id, name, brokerId: remote.brokerId } : null;
  }

  /**
   * The live peer a hook belongs to (the rules are hook-pairing.ts's). When ancestry found it, the
   * hook's session id is tied to it from then on (after /clear Claude Code's id changes while its
   * servers keep running).
   */
  forHook(ancestors: readonly HookAncestor[], sessionId?: string): { peer: PeerInfo; parent_pid: number | null } | null {
    const paired = pairHook([...this.live.values()].filter((p) => this.isLive(p)), ancestors, sessionId);
    if (!paired) return null;
    if (paired.bind) paired.peer.sessionIds.add(paired.bind);
    return { peer: this.info(paired.peer), parent_pid: paired.parentPid };
  }

  /** Tells the broker a session id its server learned after registering (Codex names its session in each tool call). */
  addSessionId(id: string, sessionId: string): void {
    this.live.get(id)?.sessionIds.add(sessionId);
  }
}

/** `name@host` → both parts; anything else is an id or a name. */
export function parseAddress(to: string): { name: string; host?: string } {
  const at = to.lastIndexOf("@");
  return at > 0 ? { name: to.slice(0, at), host: to.slice(at + 1) } : { name: to };
}

function localPeer(p: LivePeer): LocalPeer {
  return { id: p.row.id, name: p.row.name, push: p.socket !== null };
}

function remoteInfo(p: RemotePeer): PeerInfo {
  return toWirePeer(p.row, p.push, p.seenAt);
}

function inScope(scope: Scope, row: PeerRow, viewer: Viewer, host: string): boolean {
  switch (scope) {
    case "network":
      return true;
    case "machine":
      return row.host === host;
    case "directory":
      return row.host === host && row.cwd === viewer.cwd;
    case "repo":
      return sameRepo(row, viewer, host);
  }
}

/** One repository on every host by its repo key (origin URL or root commit); else by its folders here. */
function sameRepo(p: PeerRow, viewer: Viewer, host: string): boolean {
  if (p.repo_key && viewer.repo_key) return p.repo_key === viewer.repo_key;
  if (p.host !== host) return false;
  // Worktrees of one repository share the git common dir, not the top level.
  if (viewer.git_common_dir) return p.git_common_dir === viewer.git_common_dir;
  return p.cwd === viewer.cwd;
}

/** What a name's numbered variants start from (`api` → `api-2`, …): at most 58 characters, so the suffix fits. */
function nameBase(wanted: string): string {
  return wanted.slice(0, 58);
}
