/** EditsStore on the broker's SQLite database (its tables are in sqlite.ts's migration list). */
import type { Database } from "bun:sqlite";
import type { ClaimRow, EditsStore, TouchRow } from "./edits.ts";
import { sweepMs, type SweepTime } from "./store.ts";

export class SqliteEditsStore implements EditsStore {
  private readonly q;

  constructor(private readonly db: Database) {
    this.q = {
      touch: db.query<void, TouchRow>(
        `INSERT INTO edit_touches (repo_key, path, peer_id, lines, at) VALUES ($repo_key, $path, $peer_id, $lines, $at)
         ON CONFLICT (repo_key, path, peer_id) DO UPDATE SET lines = excluded.lines, at = excluded.at`,
      ),
      touchesOf: db.query<TouchRow, { repo_key: string; path: string; since: number }>(
        `SELECT repo_key, path, peer_id, lines, at FROM edit_touches WHERE repo_key = $repo_key AND path = $path AND at >= $since ORDER BY at DESC`,
      ),
      claim: db.query<void, ClaimRow>(
        `INSERT INTO edit_claims (repo_key, pattern, peer_id, ttl_ms, created_at, expires_at) VALUES ($repo_key, $pattern, $peer_id, $ttl_ms, $created_at, $expires_at)
         ON CONFLICT (repo_key, pattern, peer_id) DO UPDATE SET ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at`,
      ),
      claimsIn: db.query<ClaimRow, { repo_key: string; now: number }>(
        `SELECT repo_key, pattern, peer_id, ttl_ms, created_at, expires_at FROM edit_claims WHERE repo_key = $repo_key AND expires_at > $now ORDER BY created_at, pattern`,
      ),
      releaseAll: db.query<void, { peer_id: string }>(`DELETE FROM edit_claims WHERE peer_id = $peer_id`),
      releaseOne: db.query<void, { peer_id: string; pattern: string }>(`DELETE FROM edit_claims WHERE peer_id = $peer_id AND pattern = $pattern`),
      renew: db.query<void, { peer_id: string; repo_key: string; now: number }>(
        `UPDATE edit_claims SET expires_at = max(expires_at, $now + ttl_ms) WHERE peer_id = $peer_id AND repo_key = $repo_key AND expires_at > $now`,
      ),
      touchesSince: db.query<TouchRow, { since: number }>(`SELECT repo_key, path, peer_id, lines, at FROM edit_touches WHERE at >= $since ORDER BY at DESC`),
      claimsAt: db.query<ClaimRow, { now: number }>(
        `SELECT repo_key, pattern, peer_id, ttl_ms, created_at, expires_at FROM edit_claims WHERE expires_at > $now ORDER BY created_at, pattern`,
      ),
      pruneTouches: db.query<void, { before: number }>(`DELETE FROM edit_touches WHERE at < $before`),
      pruneClaims: db.query<void, { now: number }>(`DELETE FROM edit_claims WHERE expires_at <= $now`),
    };
  }

  async touch(row: TouchRow): Promise<void> {
    this.q.touch.run(row);
  }

  async touchesOf(repoKey: string, path: string, since: number): Promise<TouchRow[]> {
    return this.q.touchesOf.all({ repo_key: repoKey, path, since });
  }

  async claim(rows: readonly ClaimRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const row of rows) this.q.claim.run(row);
    })();
  }

  async claimsIn(repoKey: string, now: number): Promise<ClaimRow[]> {
    return this.q.claimsIn.all({ repo_key: repoKey, now });
  }

  async release(peerId: string, patterns?: readonly string[]): Promise<number> {
    return this.db.transaction(() => {
      if (!patterns) return this.q.releaseAll.run({ peer_id: peerId }).changes;
      let n = 0;
      for (const pattern of new Set(patterns)) n += this.q.releaseOne.run({ peer_id: peerId, pattern }).changes;
      return n;
    })();
  }

  async renew(peerId: string, repoKey: string, now: number): Promise<void> {
    this.q.renew.run({ peer_id: peerId, repo_key: repoKey, now });
  }

  async recent(since: number, now: number, peerIds?: readonly string[]): Promise<{ touches: TouchRow[]; claims: ClaimRow[] }> {
    const ids = peerIds && new Set(peerIds);
    const mine = <R extends { peer_id: string }>(rows: R[]) => (ids ? rows.filter((r) => ids.has(r.peer_id)) : rows);
    return { touches: mine(this.q.touchesSince.all({ since })), claims: mine(this.q.claimsAt.all({ now })) };
  }

  async prune(windowMs: number, at: SweepTime): Promise<number> {
    const now = sweepMs(at);
    return this.db.transaction(() => this.q.pruneTouches.run({ before: now - windowMs }).changes + this.q.pruneClaims.run({ now }).changes)();
  }
}
