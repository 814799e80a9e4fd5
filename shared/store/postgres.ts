/** The Store on PostgreSQL through Bun.SQL: one database that the brokers of several machines share. */
import { SQL } from "bun";
import type { MessageState } from "../protocol.ts";
import {
  StoreOpenError,
  StoreUnavailableError,
  zeroCounts,
  heldByOf,
  type HistoryQuery,
  type Membership,
  type MessageRow,
  type NewMessage,
  type PairActivity,
  type PairGuard,
  type PairQuery,
  type PeerRow,
  type RecentSend,
  type PruneLimits,
  type PruneResult,
  type Store,
  type SweepTime,
  textCrc,
} from "./store.ts";
import { redactUrl } from "../store-location.ts";
import { PgConnection } from "./pg-connection.ts";

export { redactUrl };

/** Each entry upgrades the schema by one version; never edit a shipped entry, append a new one. */
const MIGRATIONS: string[] = [
  `CREATE TABLE peers (
     id text PRIMARY KEY,
     secret_hash text NOT NULL UNIQUE,
     name text NOT NULL,
     pid integer NOT NULL,
     parent_pid integer,
     cwd text NOT NULL,
     git_root text,
     git_common_dir text,
     git_branch text,
     repo_key text,
     host text NOT NULL DEFAULT '',
     summary text NOT NULL DEFAULT '',
     registered_at bigint NOT NULL,
     last_seen bigint NOT NULL
   );
   CREATE INDEX peers_name ON peers (name, last_seen);
   CREATE INDEX peers_last_seen ON peers (last_seen);
   CREATE TABLE messages (
     seq bigserial PRIMARY KEY,
     id text NOT NULL UNIQUE,
     from_id text NOT NULL,
     from_name text NOT NULL,
     from_summary text NOT NULL,
     from_cwd text NOT NULL,
     to_id text,
     to_name text NOT NULL,
     text text NOT NULL,
     in_reply_to text,
     state text NOT NULL CHECK (state IN ('queued', 'delivered', 'read', 'expired')),
     created_at bigint NOT NULL,
     delivered_at bigint,
     read_at bigint,
     expires_at bigint NOT NULL,
     send_key text
   );
   CREATE INDEX messages_unread_by_peer ON messages (to_id, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_unread_by_name ON messages (to_name, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_created ON messages (created_at);
   CREATE UNIQUE INDEX messages_send_key ON messages (from_id, send_key) WHERE send_key IS NOT NULL;
   CREATE TABLE brokers (
     id text PRIMARY KEY,
     host text NOT NULL,
     pid integer NOT NULL,
     started_at timestamptz NOT NULL DEFAULT now(),
     heartbeat_at timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE presence (
     peer_id text PRIMARY KEY,
     name text NOT NULL UNIQUE,
     broker_id text NOT NULL,
     host text NOT NULL,
     push boolean NOT NULL DEFAULT false,
     since timestamptz NOT NULL DEFAULT now()
   );
   CREATE INDEX presence_broker ON presence (broker_id);`,
  `ALTER TABLE messages ADD COLUMN reply_by bigint;
   ALTER TABLE messages ADD COLUMN reply_status text CHECK (reply_status IN ('awaiting', 'answered', 'overdue'));
   CREATE INDEX messages_awaiting ON messages (reply_by) WHERE reply_status = 'awaiting';`,
  `ALTER TABLE messages DROP CONSTRAINT messages_state_check;
   ALTER TABLE messages ADD CONSTRAINT messages_state_check CHECK (state IN ('queued', 'delivered', 'read', 'expired', 'retracted', 'held'));
   ALTER TABLE messages ADD COLUMN replaces text;
   ALTER TABLE messages ADD COLUMN retracted_at bigint;`,
  `ALTER TABLE messages DROP CONSTRAINT messages_state_check;
   ALTER TABLE messages ADD CONSTRAINT messages_state_check
     CHECK (state IN ('queued', 'delivered', 'read', 'expired', 'retracted', 'held', 'discarded'));
   ALTER TABLE messages ADD COLUMN to_group text;
   ALTER TABLE messages ADD COLUMN fanout_id text;
   ALTER TABLE messages ADD COLUMN released_at bigint;
   ALTER TABLE messages ADD COLUMN text_crc bigint;
   CREATE INDEX messages_from ON messages (from_id, created_at);
   CREATE INDEX messages_pair ON messages (from_name, to_name, created_at, from_id);
   CREATE INDEX messages_released ON messages (from_name, to_name, released_at) WHERE released_at IS NOT NULL;
   CREATE INDEX messages_held ON messages (from_name, to_name) WHERE state = 'held';
   CREATE INDEX messages_fanout ON messages (fanout_id) WHERE fanout_id IS NOT NULL;
   CREATE TABLE group_members (
     group_name text NOT NULL,
     peer_name text NOT NULL,
     joined_at bigint NOT NULL,
     PRIMARY KEY (group_name, peer_name)
   );
   CREATE INDEX group_members_name ON group_members (peer_name);`,
  // Paused sessions (the operator console): a name's inbound mail held until a person resumes it.
  // held_by tells a pause's held mail from a runaway pair's.
  `CREATE TABLE paused_names (name text PRIMARY KEY, paused_at bigint NOT NULL);
   ALTER TABLE messages ADD COLUMN held_by text CHECK (held_by IN ('pair', 'pause'));
   CREATE INDEX messages_pause_held ON messages (to_name, seq) WHERE state = 'held' AND held_by = 'pause';`,
  // Peers in Codex and Gemini CLI beside Claude Code: which agent each runs in.
  `ALTER TABLE peers ADD COLUMN agent text NOT NULL DEFAULT 'claude-code';`,
  // Held mail expires like unread mail and counts toward its recipient's cap (issue 25).
  `DROP INDEX messages_expiry;
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered', 'held');
   CREATE INDEX messages_held_by_peer ON messages (to_id) WHERE state = 'held';
   CREATE INDEX messages_held_by_name ON messages (to_name) WHERE state = 'held';`,
  // Edit collisions (broker/edits.ts, store/postgres-edits.ts): keys and line ranges only, never contents.
  `CREATE TABLE edit_touches (
     repo_key text NOT NULL, path text NOT NULL, peer_id text NOT NULL, lines text, at bigint NOT NULL,
     PRIMARY KEY (repo_key, path, peer_id)
   );
   CREATE INDEX edit_touches_at ON edit_touches (at);
   CREATE INDEX edit_touches_peer ON edit_touches (peer_id, at);
   CREATE TABLE edit_claims (
     repo_key text NOT NULL, pattern text NOT NULL, peer_id text NOT NULL,
     ttl_ms bigint NOT NULL, created_at bigint NOT NULL, expires_at bigint NOT NULL,
     PRIMARY KEY (repo_key, pattern, peer_id)
   );
   CREATE INDEX edit_claims_peer ON edit_claims (peer_id);`,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** Brokers on several machines may start at once on a fresh database: the first migrates, the rest wait. */
const MIGRATION_LOCK = 0x636c617564655f70n; // "claude_p" in ASCII
/**
 * Every broker on every machine connects: one connection for queries, which ConnectionGate orders
 * (the heartbeat first), and the one Bun's LISTEN opens beside the pool. Two per host, so a server's
 * max_connections bounds the hosts (README, "Several machines").
 */
const POOL_MAX = 1;
const CONNECT_TIMEOUT_S = 5;
/** Hand idle connections back to the server, which is shared by every broker. */
const IDLE_TIMEOUT_S = 60;

// PostgreSQL text cannot hold U+0000, which SQLite (and the contract) keeps. Every string goes in with
// NUL written as U+0001 "0" and U+0001 itself doubled, and comes out unescaped: lossless, equality is
// kept (lookups escape their parameters the same way), and text without U+0000/U+0001 (all real
// names, paths and summaries) is stored as it is, readable by psql and the multi-host tables.
const escapeNul = (s: string) => s.replace(/[\u0000\u0001]/g, (c) => (c === "\u0000" ? "\u00010" : "\u0001\u0001"));
const unescapeNul = (s: string) => s.replace(/\u0001([0\u0001])/g, (_, c: string) => (c === "0" ? "\u0000" : "\u0001"));

type Row = Record<string, unknown>;
type Rows<T> = T[] & { count: number };
export type Query = <T = Row>(strings: TemplateStringsArray, ...values: unknown[]) => Promise<Rows<T>>;

// Bun's own codes for a connection that could not open or died, and the server's SQLSTATEs for
// "going away or not up yet": 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now,
// 53300 too_many_connections, and class 08 (connection exception).
const CONNECTION_CODES = new Set([
  "ERR_POSTGRES_CONNECTION_CLOSED",
  "ERR_POSTGRES_CONNECTION_FAILED",
  "ERR_POSTGRES_CONNECTION_REFUSED",
  "ERR_POSTGRES_CONNECTION_TIMEOUT",
  "ERR_POSTGRES_IDLE_TIMEOUT",
  "ERR_POSTGRES_LIFETIME_TIMEOUT",
]);
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);

function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof SQL.PostgresError)) return false;
  const state = err.errno ?? "";
  return CONNECTION_CODES.has(err.code) || UNAVAILABLE_SQLSTATES.has(state) || state.startsWith("08");
}

/** A connection failure becomes StoreUnavailableError (HTTP 503); anything else passes unchanged. */
export function unavailableOr(err: unknown, location: string): unknown {
  if (!isConnectionFailure(err)) return err;
  const reason = (err as Error).message;
  return new StoreUnavailableError(`the shared database ${location} is unreachable (${reason}); retry in a few seconds`, { cause: err });
}

/**
 * Queries on `on` (the pool, a transaction, or the broker's connection: its open unit of work, else
 * its turn at the gate): strings and string arrays escaped going in, rows decoded coming out.
 */
export function queryOn(on: SQL | PgConnection, location: string): Query {
  const run = on instanceof PgConnection ? <R>(query: (tag: SQL) => PromiseLike<R>) => on.run(query) : <R>(query: (tag: SQL) => PromiseLike<R>) => query(on);
  return async <T>(strings: TemplateStringsArray, ...values: unknown[]) => {
    try {
      const rows = await run((tag) => {
        const params = values.map((v) =>
          typeof v === "string" ? escapeNul(v) : Array.isArray(v) ? tag.array(v.map(escapeNul), "TEXT") : v,
        );
        return tag(strings, ...params);
      });
      for (let i = 0; i < rows.length; i++) rows[i] = decodeRow(rows[i]);
      return rows as Rows<T>;
    } catch (err) {
      throw unavailableOr(err, location);
    }
  };
}

/** int8 arrives as BigInt (bigint: true); every one we store (ms timestamps, seq, counts) is far below 2^53. */
function decodeRow(row: Row): Row {
  const out: Row = {};
  for (const [key, v] of Object.entries(row)) {
    out[key] = typeof v === "bigint" ? Number(v) : typeof v === "string" ? unescapeNul(v) : v;
  }
  return out;
}

/** The ids an UPDATE … RETURNING changed, in the caller's order and each once, as SQLite's per-id loop gives them. */
function inCallerOrder(ids: readonly string[], changed: Array<{ id: string }>): string[] {
  const hit = new Set(changed.map((r) => r.id));
  return [...new Set(ids)].filter((id) => hit.has(id));
}

/**
 * A sweep's time as a parameter: ms, or null for "database", which each statement reads as
 * coalesce(param, (extract(epoch FROM now()) * 1000)::bigint): the database's clock in ms.
 */
const msOf = (at: SweepTime): number | null => (at === "database" ? null : at);

/** SQLite's order (BINARY), whatever the database's collation. */
const byCodePoint = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/** One message stored, on the pool or inside a transaction. */
async function insertOn(q: Query, m: NewMessage): Promise<MessageRow> {
  const [r] = await q<MessageRow>`
    INSERT INTO messages (id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state, created_at, expires_at, send_key,
                          reply_by, reply_status, replaces, to_group, fanout_id, text_crc, held_by)
    VALUES (${m.id}, ${m.from_id}, ${m.from_name}, ${m.from_summary}, ${m.from_cwd}, ${m.to_id}, ${m.to_name}, ${m.text}, ${m.in_reply_to},
            ${m.state}, ${m.created_at}, ${m.expires_at}, ${m.send_key}, ${m.reply_by}, ${m.reply_by === null ? null : "awaiting"}, ${m.replaces},
            ${m.to_group}, ${m.fanout_id}, ${textCrc(m.text)}, ${heldByOf(m)})
    RETURNING *`;
  return r!;
}

/**
 * A pair's activity (Store.pairActivity), on the pool or inside a transaction: one round trip; each
 * lookup one direction of the pair, so each is an index range (as on SQLite).
 */
async function pairActivityOn(q: Query, { a, b, since, upTo }: PairQuery): Promise<PairActivity> {
  const [row] = await q<{ from_a: Array<bigint | number>; from_b: Array<bigint | number>; held: boolean }>`
    WITH since AS (
      SELECT GREATEST(${since}::bigint,
        (SELECT max(created_at) FROM messages WHERE from_name = 'cli' AND from_id = 'cli' AND to_name IN (${a}, ${b})),
        (SELECT max(released_at) FROM messages WHERE from_name = ${a} AND to_name = ${b} AND released_at IS NOT NULL),
        (SELECT max(released_at) FROM messages WHERE from_name = ${b} AND to_name = ${a} AND released_at IS NOT NULL)) AS t
    ),
    from_a AS (SELECT created_at FROM messages, since WHERE from_name = ${a} AND to_name = ${b} AND created_at > since.t AND from_id LIKE 'p-%'
               ORDER BY created_at DESC LIMIT ${upTo}),
    from_b AS (SELECT created_at FROM messages, since WHERE from_name = ${b} AND to_name = ${a} AND created_at > since.t AND from_id LIKE 'p-%'
               ORDER BY created_at DESC LIMIT ${upTo})
    SELECT ARRAY(SELECT created_at FROM from_a ORDER BY created_at) AS from_a,
      ARRAY(SELECT created_at FROM from_b ORDER BY created_at) AS from_b,
      EXISTS (SELECT 1 FROM messages WHERE state = 'held' AND coalesce(held_by, 'pair') = 'pair'
              AND ((from_name = ${a} AND to_name = ${b}) OR (from_name = ${b} AND to_name = ${a}))) AS held`;
  // int8[] elements arrive as BigInt (decodeRow turns only top-level values into numbers).
  return { fromA: row!.from_a.map(Number), fromB: row!.from_b.map(Number), held: row!.held };
}

/** The mail a pause holds for `name`, queued again with a fresh mailbox time; oldest first. */
async function releasePauseHeldOn(q: Query, name: string, now: number, expiresAt: number): Promise<MessageRow[]> {
  const rows = await q<MessageRow>`
    UPDATE messages SET state = 'queued', released_at = ${now}, expires_at = ${expiresAt}, held_by = NULL
    WHERE state = 'held' AND held_by = 'pause' AND to_name = ${name} RETURNING *`;
  return [...rows].sort((x, y) => x.seq - y.seq);
}

/** Removes the URL's password from text we did not write (a driver message), in case it ever echoes it. */
function scrubPassword(text: string, url: string): string {
  let secrets: string[] = [];
  try {
    const parsed = new URL(url);
    secrets = [parsed.password, decodeURIComponent(parsed.password), parsed.searchParams.get("password") ?? ""];
  } catch {}
  return secrets.filter(Boolean).reduce((out, secret) => out.replaceAll(secret, "***"), text);
}

/** What went wrong opening the store, and what to do about it. */
function openAdvice(err: unknown): string {
  const message = (err as Error).message;
  const state = err instanceof SQL.PostgresError ? err.errno : undefined;
  if (state === "28P01" || state === "28000") return `${message}. Check the user name and password in CLAUDE_PEERS_DB.`;
  if (state === "3D000") return `${message}. Create it (createdb) or point CLAUDE_PEERS_DB at an existing database.`;
  if (isConnectionFailure(err)) {
    return `cannot reach the server (${message}). Check that PostgreSQL is running there and that CLAUDE_PEERS_DB names the right host and port.`;
  }
  return message;
}

async function migrate(sql: SQL): Promise<void> {
  await sql.begin(async (tx) => {
    // First, before the schema table exists: CREATE TABLE IF NOT EXISTS itself races without it.
    await tx.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.unsafe("CREATE TABLE IF NOT EXISTS claude_peers_schema (version integer NOT NULL)");
    const [row] = await tx<Array<{ version: number }>>`SELECT version FROM claude_peers_schema`;
    const version = row?.version ?? 0;
    if (version > MIGRATIONS.length) {
      throw new Error(`its schema version ${version} is newer than this claude-peers (${MIGRATIONS.length}); update claude-peers`);
    }
    if (version === MIGRATIONS.length) return;
    for (const step of MIGRATIONS.slice(version)) await tx.unsafe(step);
    if (row) await tx`UPDATE claude_peers_schema SET version = ${MIGRATIONS.length}`;
    else await tx`INSERT INTO claude_peers_schema (version) VALUES (${MIGRATIONS.length})`;
  });
}

/** Connects (as application "claude-peers <host>"), checks, migrates; throws StoreOpenError naming CLAUDE_PEERS_DB and the redacted URL. */
export async function openPostgresStore(url: string, host?: string): Promise<PostgresStore> {
  const location = redactUrl(url);
  let sql: SQL | undefined;
  try {
    sql = new SQL({
      url,
      adapter: "postgres",
      max: POOL_MAX,
      connectionTimeout: CONNECT_TIMEOUT_S,
      idleTimeout: IDLE_TIMEOUT_S,
      bigint: true,
      // pg_stat_activity then says which host each connection serves (an operator sizing max_connections).
      ...(host ? { connection: { application_name: `claude-peers ${host}`.slice(0, 63) } } : {}),
    });
    await migrate(sql);
  } catch (err) {
    await sql?.close().catch(() => {});
    throw new StoreOpenError(`cannot open the database CLAUDE_PEERS_DB=${location}: ${scrubPassword(openAdvice(err), url)}`);
  }
  return new PostgresStore(sql, location);
}

export class PostgresStore implements Store {
  private readonly q: Query;
  /** Every query of this broker on its one connection, the network's included (postgres-network.ts). */
  readonly connection: PgConnection;

  constructor(
    readonly sql: SQL,
    /** The redacted URL. */
    readonly location: string,
  ) {
    this.connection = new PgConnection(sql);
    this.q = queryOn(this.connection, location);
  }

  atomically<T>(work: () => Promise<T>): Promise<T> {
    return this.transaction(work);
  }

  afterCommit(fn: () => void): void {
    this.connection.afterCommit(fn);
  }

  detached<T>(fn: () => T): T {
    return this.connection.detached(fn);
  }

  /** One transaction; inside a unit of work (atomically), part of it. */
  private async transaction<T>(work: (q: Query) => Promise<T>): Promise<T> {
    try {
      return await this.connection.atomically(() => work(this.q));
    } catch (err) {
      throw unavailableOr(err, this.location);
    }
  }

  async savePeer(p: PeerRow): Promise<void> {
    await this.q`
      INSERT INTO peers (id, secret_hash, name, pid, parent_pid, cwd, git_root, git_common_dir, git_branch, repo_key, host, agent, summary, registered_at, last_seen)
      VALUES (${p.id}, ${p.secret_hash}, ${p.name}, ${p.pid}, ${p.parent_pid}, ${p.cwd}, ${p.git_root}, ${p.git_common_dir}, ${p.git_branch},
              ${p.repo_key}, ${p.host}, ${p.agent}, ${p.summary}, ${p.registered_at}, ${p.last_seen})
      ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, name = excluded.name, pid = excluded.pid,
        parent_pid = excluded.parent_pid, cwd = excluded.cwd, git_root = excluded.git_root, git_common_dir = excluded.git_common_dir,
        git_branch = excluded.git_branch, repo_key = excluded.repo_key, host = excluded.host, agent = excluded.agent,
        summary = excluded.summary, last_seen = excluded.last_seen`;
  }

  async getPeer(id: string): Promise<PeerRow | null> {
    const [r] = await this.q<PeerRow>`SELECT * FROM peers WHERE id = ${id}`;
    return r ?? null;
  }

  async peerBySecretHash(secret_hash: string): Promise<PeerRow | null> {
    const [r] = await this.q<PeerRow>`SELECT * FROM peers WHERE secret_hash = ${secret_hash}`;
    return r ?? null;
  }

  async peersByIds(ids: readonly string[]): Promise<PeerRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.q<PeerRow>`SELECT * FROM peers WHERE id = ANY(${ids})`;
    // Sorted here, not by ORDER BY, so names order as on SQLite whatever the database's collation.
    return [...rows].sort((a, b) => a.name.localeCompare(b.name));
  }

  async lastPeerNamed(name: string): Promise<PeerRow | null> {
    const [r] = await this.q<PeerRow>`SELECT * FROM peers WHERE name = ${name} ORDER BY last_seen DESC LIMIT 1`;
    return r ?? null;
  }

  async setSummary(id: string, summary: string): Promise<void> {
    await this.q`UPDATE peers SET summary = ${summary} WHERE id = ${id}`;
  }

  async touchPeer(id: string, now: number): Promise<void> {
    await this.q`UPDATE peers SET last_seen = ${now} WHERE id = ${id}`;
  }

  async insertMessage(m: NewMessage): Promise<MessageRow> {
    return insertOn(this.q, m);
  }

  async insertMessages(ms: readonly NewMessage[], guard?: PairGuard): Promise<MessageRow[]> {
    return this.transaction(async (q) => {
      if (guard) {
        // Every broker takes a pair's lock before reading its activity, in one order (no deadlock);
        // held to the commit, so the next one's read sees this insert.
        const keys = [...new Set(guard.pairs.flatMap((p) => (p ? [`claude-peers pair ${[...p].sort(byCodePoint).join(" ")}`] : [])))].sort(byCodePoint);
        for (const key of keys) await q`SELECT pg_advisory_xact_lock(hashtext(${key}))`;
      }
      const rows: MessageRow[] = [];
      for (const [i, m] of ms.entries()) {
        const p = guard?.pairs[i];
        const activity = guard && p && m.state === "queued" ? await pairActivityOn(q, { a: p[0], b: p[1], since: guard.since, upTo: guard.upTo }) : null;
        rows.push(await insertOn(q, activity && guard!.holds(activity) ? { ...m, state: "held", held_by: "pair" } : m));
      }
      return rows;
    });
  }

  async copiesOf(fanoutId: string): Promise<MessageRow[]> {
    return this.q<MessageRow>`SELECT * FROM messages WHERE fanout_id = ${fanoutId} ORDER BY seq`;
  }

  async getMessage(id: string): Promise<MessageRow | null> {
    const [r] = await this.q<MessageRow>`SELECT * FROM messages WHERE id = ${id}`;
    return r ?? null;
  }

  async getMessages(ids: readonly string[]): Promise<MessageRow[]> {
    if (ids.length === 0) return [];
    return [...(await this.q<MessageRow>`SELECT * FROM messages WHERE id = ANY(${ids})`)];
  }

  async messageBySendKey(from_id: string, send_key: string): Promise<MessageRow | null> {
    const [r] = await this.q<MessageRow>`SELECT * FROM messages WHERE from_id = ${from_id} AND send_key = ${send_key}`;
    return r ?? null;
  }

  async claimMailbox(name: string, peerId: string, liveIds: ReadonlySet<string>, now: number): Promise<number> {
    // One statement, so atomic without a transaction: mail never shown (queued), never set or waiting
    // for a session that is neither this one nor live, moves to peerId; what a session was shown stays with it.
    const moved = await this.q`
      UPDATE messages SET to_id = ${peerId}
      WHERE to_name = ${name} AND state = 'queued' AND expires_at > ${now}
        AND (to_id IS NULL OR NOT (to_id = ${peerId} OR to_id = ANY(${[...liveIds]})))`;
    return moved.count;
  }

  async mailboxRecipients(name: string, now: number): Promise<string[]> {
    const rows = await this.q<{ to_id: string }>`
      SELECT DISTINCT to_id FROM messages WHERE to_name = ${name} AND state = 'queued' AND expires_at > ${now} AND to_id IS NOT NULL`;
    return rows.map((r) => r.to_id);
  }

  async queuedFor(peerId: string): Promise<MessageRow[]> {
    const rows = await this.q<MessageRow>`SELECT * FROM messages WHERE to_id = ${peerId} AND state = 'queued' ORDER BY seq`;
    return rows;
  }

  async unreadFor(peerId: string): Promise<MessageRow[]> {
    const rows = await this.q<MessageRow>`
      SELECT * FROM messages WHERE to_id = ${peerId} AND state IN ('queued', 'delivered') ORDER BY seq`;
    return rows;
  }

  async countUnread(peerId: string): Promise<number> {
    const [r] = await this.q<{ n: number }>`
      SELECT count(*) AS n FROM messages WHERE to_id = ${peerId} AND state IN ('queued', 'delivered')`;
    return r!.n;
  }

  async unreadCounts(peerId: string): Promise<{ unread: number; queued: number }> {
    const [r] = await this.q<{ unread: number; queued: number }>`
      SELECT count(*) AS unread, count(*) FILTER (WHERE state = 'queued') AS queued
      FROM messages WHERE to_id = ${peerId} AND state IN ('queued', 'delivered')`;
    return r!;
  }

  async unreadCountsOf(peerIds: readonly string[]): Promise<Map<string, { unread: number; queued: number }>> {
    if (peerIds.length === 0) return new Map();
    const rows = await this.q<{ to_id: string; unread: number; queued: number }>`
      SELECT to_id, count(*) AS unread, count(*) FILTER (WHERE state = 'queued') AS queued
      FROM messages WHERE to_id = ANY(${peerIds}) AND state IN ('queued', 'delivered') GROUP BY to_id`;
    return new Map(rows.map((r) => [r.to_id, { unread: r.unread, queued: r.queued }]));
  }

  async countWaiting(peerId: string): Promise<number> {
    // Two index ranges (unread, held) rather than one index over both, which every insert would pay for.
    const [r] = await this.q<{ n: number }>`
      SELECT (SELECT count(*) FROM messages WHERE to_id = ${peerId} AND state IN ('queued', 'delivered'))
           + (SELECT count(*) FROM messages WHERE to_id = ${peerId} AND state = 'held') AS n`;
    return r!.n;
  }

  async countWaitingNamed(name: string): Promise<number> {
    const [r] = await this.q<{ n: number }>`
      SELECT (SELECT count(*) FROM messages WHERE to_name = ${name} AND state IN ('queued', 'delivered'))
           + (SELECT count(*) FROM messages WHERE to_name = ${name} AND state = 'held') AS n`;
    return r!.n;
  }

  async markDelivered(peerId: string, ids: readonly string[], now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const changed = await this.q<{ id: string }>`
      UPDATE messages SET state = 'delivered', delivered_at = ${now}
      WHERE to_id = ${peerId} AND id = ANY(${ids}) AND state = 'queued' RETURNING id`;
    return inCallerOrder(ids, changed);
  }

  async markRead(peerId: string, ids: readonly string[], now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const changed = await this.q<{ id: string }>`
      UPDATE messages SET state = 'read', read_at = ${now}, delivered_at = coalesce(delivered_at, ${now})
      WHERE to_id = ${peerId} AND id = ANY(${ids}) AND state IN ('queued', 'delivered') RETURNING id`;
    return inCallerOrder(ids, changed);
  }

  async markAnswered(originalId: string, replier: { id: string; name: string }): Promise<boolean> {
    const changed = await this.q`
      UPDATE messages SET reply_status = 'answered'
      WHERE id = ${originalId} AND reply_status IN ('awaiting', 'overdue') AND (to_id = ${replier.id} OR to_name = ${replier.name})`;
    return changed.count > 0;
  }

  async takeOverdue(now: SweepTime): Promise<MessageRow[]> {
    // One statement: two brokers polling at once never both take a row.
    // Held mail is not overdue: its recipient never got it.
    return this.q<MessageRow>`
      UPDATE messages SET reply_status = 'overdue'
      WHERE reply_status = 'awaiting' AND reply_by <= coalesce(${msOf(now)}::bigint, (extract(epoch FROM now()) * 1000)::bigint) AND state IN ('queued', 'delivered', 'read') RETURNING *`;
  }

  async retract(fromId: string, id: string, now: number): Promise<MessageRow[]> {
    // The rows as they were: UPDATE … FROM a snapshot of them, in one statement.
    const before = await this.q<MessageRow>`
      UPDATE messages m SET state = 'retracted', retracted_at = ${now}
      FROM (SELECT * FROM messages
            WHERE id = ${id} OR fanout_id = (SELECT fanout_id FROM messages WHERE id = ${id} AND fanout_id IS NOT NULL)
            FOR UPDATE) old
      WHERE m.id = old.id AND m.from_id = ${fromId} AND m.state IN ('queued', 'delivered', 'held')
      RETURNING old.*`;
    return [...before].sort((x, y) => x.seq - y.seq);
  }

  async recentSends(fromId: string, since: number): Promise<RecentSend[]> {
    return this.q<RecentSend>`
      SELECT id, to_name, to_group, text_crc, created_at FROM messages
      WHERE from_id = ${fromId} AND created_at > ${since} AND state <> 'retracted' AND (fanout_id IS NULL OR fanout_id = id)
      ORDER BY created_at, seq`;
  }

  async pairActivity(query: PairQuery): Promise<PairActivity> {
    return pairActivityOn(this.q, query);
  }

  async releaseHeld(a: string, b: string, now: number, discard: boolean, expiresAt: number): Promise<MessageRow[]> {
    const rows = await this.q<MessageRow>`
      UPDATE messages SET state = ${discard ? "discarded" : "queued"}, released_at = ${now}, expires_at = ${expiresAt}, held_by = NULL
      WHERE state = 'held' AND coalesce(held_by, 'pair') = 'pair'
        AND ((from_name = ${a} AND to_name = ${b}) OR (from_name = ${b} AND to_name = ${a})) RETURNING *`;
    return [...rows].sort((x, y) => x.seq - y.seq);
  }

  async joinGroup(group: string, name: string, now: number, max: number): Promise<"joined" | "already" | "full"> {
    // One group at a time across every broker, so two joins never both take its last place.
    return this.transaction(async (q) => {
      await q`SELECT pg_advisory_xact_lock(hashtext(${`claude-peers group ${group}`}))`;
      const [member] = await q`SELECT 1 FROM group_members WHERE group_name = ${group} AND peer_name = ${name}`;
      if (member) return "already" as const;
      const [count] = await q<{ n: number }>`SELECT count(*) AS n FROM group_members WHERE group_name = ${group}`;
      if (count!.n >= max) return "full" as const;
      await q`INSERT INTO group_members (group_name, peer_name, joined_at) VALUES (${group}, ${name}, ${now})`;
      return "joined" as const;
    });
  }

  async leaveGroup(group: string, name: string): Promise<boolean> {
    const r = await this.q`DELETE FROM group_members WHERE group_name = ${group} AND peer_name = ${name}`;
    return r.count > 0;
  }

  async memberships(names?: readonly string[]): Promise<Membership[]> {
    // Sorted here, not by ORDER BY, so names order as on SQLite whatever the database's collation.
    const rows = names
      ? await this.q<Membership>`SELECT group_name, peer_name FROM group_members WHERE peer_name = ANY(${names})`
      : await this.q<Membership>`SELECT group_name, peer_name FROM group_members`;
    return [...rows].sort((x, y) => byCodePoint(x.group_name, y.group_name) || byCodePoint(x.peer_name, y.peer_name));
  }

  async groupMembers(group: string): Promise<string[]> {
    const rows = await this.q<{ peer_name: string }>`SELECT peer_name FROM group_members WHERE group_name = ${group}`;
    return rows.map((r) => r.peer_name).sort(byCodePoint);
  }

  async history(h: HistoryQuery): Promise<MessageRow[]> {
    const peer = h.peer ?? null;
    const group = h.group ?? null;
    const text = h.text ?? null;
    const before = h.beforeSeq ?? null;
    // Unset filters are null (typed, so PostgreSQL knows each parameter's type in every combination).
    return this.q<MessageRow>`
      SELECT * FROM messages
      WHERE (${before}::bigint IS NULL OR seq < ${before}::bigint)
        AND (${peer}::text IS NULL OR from_id = ${peer}::text OR from_name = ${peer}::text OR to_id = ${peer}::text OR to_name = ${peer}::text)
        AND (${group}::text IS NULL OR to_group = ${group}::text)
        AND (${text}::text IS NULL OR strpos(lower(text), lower(${text}::text)) > 0)
      ORDER BY seq DESC LIMIT ${h.limit}`;
  }

  async pause(name: string, now: number): Promise<boolean> {
    const r = await this.q`INSERT INTO paused_names (name, paused_at) VALUES (${name}, ${now}) ON CONFLICT DO NOTHING`;
    return r.count > 0;
  }

  async resume(name: string, now: number, expiresAt: number): Promise<MessageRow[] | null> {
    return this.transaction(async (q) => {
      const [row] = await q`DELETE FROM paused_names WHERE name = ${name} RETURNING name`;
      return row ? releasePauseHeldOn(q, name, now, expiresAt) : null;
    });
  }

  async releasePauseHeld(name: string, now: number, expiresAt: number): Promise<MessageRow[]> {
    return releasePauseHeldOn(this.q, name, now, expiresAt);
  }

  async paused(name?: string): Promise<Map<string, number>> {
    const rows =
      name === undefined
        ? await this.q<{ name: string; paused_at: number }>`SELECT name, paused_at FROM paused_names`
        : await this.q<{ name: string; paused_at: number }>`SELECT name, paused_at FROM paused_names WHERE name = ${name}`;
    return new Map(rows.map((r) => [r.name, Number(r.paused_at)]));
  }

  async countByState(): Promise<Record<MessageState, number>> {
    const counts = zeroCounts();
    const rows = await this.q<{ state: MessageState; n: number }>`SELECT state, count(*) AS n FROM messages GROUP BY state`;
    for (const { state, n } of rows) counts[state] = n;
    return counts;
  }

  async prune(l: PruneLimits): Promise<PruneResult> {
    // In order, in one transaction: mail expired by the first statement is old enough for the second.
    // Every statement sees one now(): the transaction's start on the database's clock ("database").
    const now = msOf(l.now);
    return this.transaction(async (q) => {
      const expired = await q<MessageRow>`
        UPDATE messages SET state = 'expired' WHERE state IN ('queued', 'delivered', 'held') AND expires_at <= coalesce(${now}::bigint, (extract(epoch FROM now()) * 1000)::bigint) RETURNING *`;
      const deleted = await q`
        DELETE FROM messages WHERE state IN ('read', 'expired', 'retracted', 'discarded') AND created_at < coalesce(${now}::bigint, (extract(epoch FROM now()) * 1000)::bigint) - ${l.keepReadMs}::bigint`;
      const peers = await q`
        DELETE FROM peers WHERE last_seen < coalesce(${now}::bigint, (extract(epoch FROM now()) * 1000)::bigint) - ${l.keepPeersMs}::bigint AND NOT (id = ANY(${[...l.liveIds]}))`;
      // A name's groups go with the last of its peers.
      if (peers.count > 0) await q`DELETE FROM group_members WHERE peer_name NOT IN (SELECT name FROM peers)`;
      const expiredMessages = [...expired].sort((x, y) => x.seq - y.seq);
      return { expired: expiredMessages.length, expiredMessages, deletedMessages: deleted.count, deletedPeers: peers.count };
    });
  }

  async close(): Promise<void> {
    await this.sql.close();
  }
}
