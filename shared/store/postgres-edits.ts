/** EditsStore on the shared PostgreSQL (its tables are in postgres.ts's migration list): what every host's sessions edit. */
import type { SQL } from "bun";
import type { ClaimRow, EditsStore, TouchRow } from "./edits.ts";
import { queryOn, type Query } from "./postgres.ts";
import type { SweepTime } from "./store.ts";

export class PostgresEditsStore implements EditsStore {
  private readonly q: Query;

  constructor(
    private readonly sql: SQL,
    private readonly location: string,
  ) {
    this.q = queryOn(sql, location);
  }

  async touch(r: TouchRow): Promise<void> {
    await this.q`
      INSERT INTO edit_touches (repo_key, path, peer_id, lines, at) VALUES (${r.repo_key}, ${r.path}, ${r.peer_id}, ${r.lines}, ${r.at})
      ON CONFLICT (repo_key, path, peer_id) DO UPDATE SET lines = excluded.lines, at = excluded.at`;
  }

  async touchesOf(repoKey: string, path: string, since: number): Promise<TouchRow[]> {
    return [...(await this.q<TouchRow>`
      SELECT repo_key, path, peer_id, lines, at FROM edit_touches WHERE repo_key = ${repoKey} AND path = ${path} AND at >= ${since} ORDER BY at DESC`)];
  }

  async claim(rows: readonly ClaimRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.sql.begin(async (tx) => {
      const q = queryOn(tx, this.location);
      for (const r of rows) {
        await q`
          INSERT INTO edit_claims (repo_key, pattern, peer_id, ttl_ms, created_at, expires_at)
          VALUES (${r.repo_key}, ${r.pattern}, ${r.peer_id}, ${r.ttl_ms}, ${r.created_at}, ${r.expires_at})
          ON CONFLICT (repo_key, pattern, peer_id) DO UPDATE SET ttl_ms = excluded.ttl_ms, expires_at = excluded.expires_at`;
      }
    });
  }

  async claimsIn(repoKey: string, now: number): Promise<ClaimRow[]> {
    return [...(await this.q<ClaimRow>`
      SELECT repo_key, pattern, peer_id, ttl_ms, created_at, expires_at FROM edit_claims WHERE repo_key = ${repoKey} AND expires_at > ${now} ORDER BY created_at, pattern`)];
  }

  async release(peerId: string, patterns?: readonly string[]): Promise<number> {
    const rows = patterns
      ? await this.q`DELETE FROM edit_claims WHERE peer_id = ${peerId} AND pattern = ANY(${[...new Set(patterns)]}) RETURNING 1`
      : await this.q`DELETE FROM edit_claims WHERE peer_id = ${peerId} RETURNING 1`;
    return rows.length;
  }

  async renew(peerId: string, repoKey: string, now: number): Promise<void> {
    await this.q`
      UPDATE edit_claims SET expires_at = greatest(expires_at, ${now} + ttl_ms) WHERE peer_id = ${peerId} AND repo_key = ${repoKey} AND expires_at > ${now}`;
  }

  async recent(since: number, now: number, peerIds?: readonly string[]): Promise<{ touches: TouchRow[]; claims: ClaimRow[] }> {
    // Asked with the live sessions' ids: the answer grows with what they edit, not with the network's history.
    // Both reads are one transaction: every broker refreshes its stake files every few seconds.
    return this.sql.begin(async (tx) => {
      const q = queryOn(tx, this.location);
      const touches = peerIds
        ? await q<TouchRow>`SELECT repo_key, path, peer_id, lines, at FROM edit_touches WHERE peer_id = ANY(${[...peerIds]}) AND at >= ${since} ORDER BY at DESC`
        : await q<TouchRow>`SELECT repo_key, path, peer_id, lines, at FROM edit_touches WHERE at >= ${since} ORDER BY at DESC`;
      const claims = peerIds
        ? await q<ClaimRow>`SELECT repo_key, pattern, peer_id, ttl_ms, created_at, expires_at FROM edit_claims WHERE peer_id = ANY(${[...peerIds]}) AND expires_at > ${now} ORDER BY created_at, pattern`
        : await q<ClaimRow>`SELECT repo_key, pattern, peer_id, ttl_ms, created_at, expires_at FROM edit_claims WHERE expires_at > ${now} ORDER BY created_at, pattern`;
      return { touches: [...touches], claims: [...claims] };
    });
  }

  async prune(windowMs: number, at: SweepTime): Promise<number> {
    // "database" (null): the database's now() in ms, which every host's leader agrees on.
    const now = at === "database" ? null : at;
    const [touches, claims] = await Promise.all([
      this.q`DELETE FROM edit_touches WHERE at < coalesce(${now}::bigint, (extract(epoch FROM now()) * 1000)::bigint) - ${windowMs}::bigint RETURNING 1`,
      this.q`DELETE FROM edit_claims WHERE expires_at <= coalesce(${now}::bigint, (extract(epoch FROM now()) * 1000)::bigint) RETURNING 1`,
    ]);
    return touches.length + claims.length;
  }
}
