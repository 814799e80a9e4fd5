/**
 * The store of edit collisions (broker/edits.ts): touches (a session edited a file) and claims (a
 * session said it is about to). Rows name a file by its key (file-key.ts: repository identity and
 * path from the worktree's top) and carry line ranges: never contents, never absolute paths.
 * One small interface, one file per backend, run through tests/helpers/edits-store-contract.ts.
 */

import type { SweepTime } from "./store.ts";

/** The latest edit of a file by a session; `lines` as "10-42,50-51", "all" (a whole-file write) or null (unknown). */
export type TouchRow = {
  repo_key: string;
  path: string;
  peer_id: string;
  lines: string | null;
  at: number;
};

/** A glob (from the worktree's top) a session claims in a repository until `expires_at`; its own edits renew it by `ttl_ms`. */
export type ClaimRow = {
  repo_key: string;
  pattern: string;
  peer_id: string;
  ttl_ms: number;
  created_at: number;
  expires_at: number;
};

export interface EditsStore {
  /** Records the session's latest edit of the file (one row per session and file). */
  touch(row: TouchRow): Promise<void>;
  /** The touches of one file since `since`, newest first. */
  touchesOf(repoKey: string, path: string, since: number): Promise<TouchRow[]>;
  /** Claims (adds, or renews with the new lifetime) the session's patterns. */
  claim(rows: readonly ClaimRow[]): Promise<void>;
  /** The claims of a repository still holding at `now`. */
  claimsIn(repoKey: string, now: number): Promise<ClaimRow[]>;
  /** Releases the session's claims (these patterns only, when given); returns how many ended. */
  release(peerId: string, patterns?: readonly string[]): Promise<number>;
  /** Pushes the session's claims in the repository to at least their lifetime from `now` (its own edits renew them). */
  renew(peerId: string, repoKey: string, now: number): Promise<void>;
  /** The touches since `since` and claims holding at `now` of these sessions (every session when absent). */
  recent(since: number, now: number, peerIds?: readonly string[]): Promise<{ touches: TouchRow[]; claims: ClaimRow[] }>;
  /** Deletes touches older than `windowMs` before `now` and claims ended by `now`; returns how many rows went. */
  prune(windowMs: number, now: SweepTime): Promise<number>;
}

