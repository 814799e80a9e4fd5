/**
 * Files a session changed by shell commands (`sed -i`, a formatter, a code generator, `git checkout`):
 * the agents report no paths for those, so after a shell tool call the broker compares the worktree's
 * changed-file set (`git status`: modified, added, deleted and untracked files, not ignored ones) and
 * each file's mtime and size with the session's previous snapshot. What is new or changed since is the
 * session's. Bounded: one `git status` per call (3 s at most), the first MAX_SCANNED entries, at most
 * MAX_REPORTED files a call. What it cannot see: a file already changed that changes again within the
 * same mtime tick and size, anything ignored, a change made between the snapshot and the call by
 * someone else in a shared worktree (the caller leaves out files another session's hooks recorded).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { CONTROL_CHARS } from "../safe-text.ts";

/** `git status` entries read per scan (sorted by path: a huge change set is cut, not skipped). */
export const MAX_SCANNED = 2000;
/** Files one shell call reports. */
export const MAX_REPORTED = 50;
/** Sessions kept (each broker's own, freed when they leave; this bounds a leak, not normal use). */
const MAX_SESSIONS = 5000;

/** Path from the worktree's top → "mtime:size", or "gone" for a deleted file. */
export type Snapshot = ReadonlyMap<string, string>;

type Git = (cwd: string, args: string[]) => Promise<{ code: number; out: string }>;

/** First snapshots that failed are tried again after this, doubled per failure up to MAX_RETRY_MS. */
const RETRY_MS = 5_000;
const MAX_RETRY_MS = 10 * 60_000;

/**
 * The paths of `git status --porcelain=v1 -z --no-renames` output (first MAX_SCANNED). A path holding
 * a control character (a newline, an escape) is left out: it would reach other sessions' notices and
 * terminals, where the protocol refuses such text from peers.
 */
export function porcelainPaths(out: string): string[] {
  const paths: string[] = [];
  for (const entry of out.split("\0")) {
    if (entry.length < 4 || entry[2] !== " " || CONTROL_CHARS.test(entry.slice(3))) continue;
    paths.push(entry.slice(3));
    if (paths.length >= MAX_SCANNED) break;
  }
  return paths;
}

/** The files of `after` that are not in `before`, or are there with another mtime or size (sorted, first MAX_REPORTED). */
export function changedSince(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [path, state] of after) if (before.get(path) !== state) out.push(path);
  return out.sort().slice(0, MAX_REPORTED);
}

async function runGit(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const proc = Bun.spawn(["git", ...args], { cwd, stdout: "pipe", stderr: "ignore", stdin: "ignore", timeout: 3000 });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return { code, out };
  } catch {
    return { code: -1, out: "" };
  }
}

/** The worktree's changed-file set now, each file with its mtime and size; null when git could not say. */
export async function snapshotOf(top: string, git: Git = runGit): Promise<Snapshot | null> {
  // No fsmonitor, no submodule walk: a repository's config must not run a program of its choosing, nor make this slow.
  // (A file whose stat changed may still go through the repository's own clean filter, as the user's `git status` would.)
  const r = await git(top, ["-c", "core.fsmonitor=false", "status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all", "--ignore-submodules=all"]);
  if (r.code !== 0) return null;
  const snap = new Map<string, string>();
  for (const path of porcelainPaths(r.out)) {
    try {
      const s = statSync(join(top, path));
      snap.set(path, `${s.mtimeMs}:${s.size}`);
    } catch {
      snap.set(path, "gone");
    }
  }
  return snap;
}

/** A snapshot entry's mtime; -Infinity for a deleted file (when it went is unknown). */
function mtimeOf(state: string): number {
  return state === "gone" ? -Infinity : Number(state.slice(0, state.lastIndexOf(":")));
}

/** Each session's last snapshot, and what changed since, per shell call. */
export class ShellChanges {
  private readonly last = new Map<string, { top: string; at: number; snap: Snapshot }>();
  /** Sessions whose first snapshot failed: how often, and when to try again. */
  private readonly failures = new Map<string, { count: number; retryAt: number }>();

  /**
   * `maxAgeMs` (the collision window): a previous snapshot older than this is a baseline only for the
   * files whose mtime is older too. The session's hook skipped shell calls meanwhile (nobody else had a
   * stake), so what changed long ago (an editor's work of hours) is not claimed as this shell call's;
   * a file changed within it still counts, as a change that old counts as a stake.
   */
  constructor(
    private readonly now: () => number,
    private readonly maxAgeMs: number,
    private readonly git: Git = runGit,
  ) {}

  /** Whether a first snapshot of the session is due: none yet, and no failed one waiting out its backoff. */
  due(peerId: string): boolean {
    return !this.last.has(peerId) && (this.failures.get(peerId)?.retryAt ?? 0) <= this.now();
  }

  /** Notes a failed look (git failed or timed out, no worktree): the next first look waits, twice as long each time. */
  failed(peerId: string): void {
    const count = (this.failures.get(peerId)?.count ?? 0) + 1;
    this.failures.delete(peerId);
    this.failures.set(peerId, { count, retryAt: this.now() + Math.min(RETRY_MS * 2 ** (count - 1), MAX_RETRY_MS) });
    if (this.failures.size > MAX_SESSIONS) this.failures.delete(this.failures.keys().next().value!);
  }

  /**
   * Takes the session's snapshot of `top`; answers what changed since its previous one (and when that
   * was), or null when there was none of this worktree (this one is the baseline) or git failed.
   */
  async scan(peerId: string, top: string): Promise<{ paths: string[]; since: number } | null> {
    const at = this.now();
    const snap = await snapshotOf(top, this.git);
    if (!snap) {
      this.failed(peerId);
      return null;
    }
    this.failures.delete(peerId);
    const before = this.last.get(peerId);
    this.last.delete(peerId); // re-insert: the oldest session is the first to go past MAX_SESSIONS
    this.last.set(peerId, { top, at, snap });
    if (this.last.size > MAX_SESSIONS) this.last.delete(this.last.keys().next().value!);
    if (!before || before.top !== top) return null;
    if (before.at >= at - this.maxAgeMs) return { paths: changedSince(before.snap, snap), since: before.at };
    const recent = at - this.maxAgeMs;
    const fresh = new Map([...snap].filter(([, state]) => mtimeOf(state) >= recent));
    return { paths: changedSince(before.snap, fresh), since: recent };
  }

  forget(peerId: string): void {
    this.last.delete(peerId);
    this.failures.delete(peerId);
  }

  /** How many sessions' snapshots are kept (a peer that leaves takes its own along). */
  get size(): number {
    return this.last.size;
  }
}
