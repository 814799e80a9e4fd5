/** The Store on bun:sqlite: WAL mode, prepared statements, PRAGMA user_version migrations. */
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync, readSync } from "node:fs";
import { GroupCommit } from "./group-commit.ts";
import { assertOwnEntry } from "../private-file.ts";
import type { MessageState } from "../protocol.ts";
import {
  StoreOpenError,
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
  sweepMs,
  textCrc,
} from "./store.ts";

/** Each entry upgrades the schema by one version; never edit a shipped entry, append a new one. */
const MIGRATIONS: string[] = [
  `CREATE TABLE peers (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL,
     pid INTEGER NOT NULL,
     cwd TEXT NOT NULL,
     git_root TEXT,
     git_common_dir TEXT,
     git_branch TEXT,
     summary TEXT NOT NULL DEFAULT '',
     registered_at INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );
   CREATE INDEX peers_name ON peers (name, last_seen);
   CREATE INDEX peers_last_seen ON peers (last_seen);
   CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     from_id TEXT NOT NULL,
     from_name TEXT NOT NULL,
     from_summary TEXT NOT NULL,
     from_cwd TEXT NOT NULL,
     to_id TEXT,
     to_name TEXT NOT NULL,
     text TEXT NOT NULL,
     in_reply_to TEXT,
     state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'read', 'expired')),
     created_at INTEGER NOT NULL,
     delivered_at INTEGER,
     read_at INTEGER,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX messages_unread_by_peer ON messages (to_id, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_unread_by_name ON messages (to_name, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_created ON messages (created_at);`,
  `ALTER TABLE messages ADD COLUMN send_key TEXT;
   CREATE UNIQUE INDEX messages_send_key ON messages (from_id, send_key) WHERE send_key IS NOT NULL;`,
  `ALTER TABLE peers ADD COLUMN parent_pid INTEGER;`,
  `ALTER TABLE peers ADD COLUMN repo_key TEXT;
   ALTER TABLE peers ADD COLUMN host TEXT NOT NULL DEFAULT '';`,
  `ALTER TABLE messages ADD COLUMN reply_by INTEGER;
   ALTER TABLE messages ADD COLUMN reply_status TEXT CHECK (reply_status IN ('awaiting', 'answered', 'overdue'));
   CREATE INDEX messages_awaiting ON messages (reply_by) WHERE reply_status = 'awaiting';`,
  // SQLite cannot change a CHECK constraint: the table is rebuilt with the new states (retracted,
  // and held for the loop damping to come) and the replaces / retracted_at columns.
  `CREATE TABLE messages_v6 (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     from_id TEXT NOT NULL,
     from_name TEXT NOT NULL,
     from_summary TEXT NOT NULL,
     from_cwd TEXT NOT NULL,
     to_id TEXT,
     to_name TEXT NOT NULL,
     text TEXT NOT NULL,
     in_reply_to TEXT,
     state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'read', 'expired', 'retracted', 'held')),
     created_at INTEGER NOT NULL,
     delivered_at INTEGER,
     read_at INTEGER,
     expires_at INTEGER NOT NULL,
     send_key TEXT,
     reply_by INTEGER,
     reply_status TEXT CHECK (reply_status IN ('awaiting', 'answered', 'overdue')),
     replaces TEXT,
     retracted_at INTEGER
   );
   INSERT INTO messages_v6 (seq, id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state,
                            created_at, delivered_at, read_at, expires_at, send_key, reply_by, reply_status)
     SELECT seq, id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state,
            created_at, delivered_at, read_at, expires_at, send_key, reply_by, reply_status FROM messages;
   DROP TABLE messages;
   ALTER TABLE messages_v6 RENAME TO messages;
   CREATE INDEX messages_unread_by_peer ON messages (to_id, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_unread_by_name ON messages (to_name, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_created ON messages (created_at);
   CREATE UNIQUE INDEX messages_send_key ON messages (from_id, send_key) WHERE send_key IS NOT NULL;
   CREATE INDEX messages_awaiting ON messages (reply_by) WHERE reply_status = 'awaiting';`,
  // Groups and loop damping: the discarded state (rebuilt again, as for v6), a group send's copies,
  // held pairs released by a person, and the indexes damping asks on every send.
  `CREATE TABLE messages_v7 (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     from_id TEXT NOT NULL,
     from_name TEXT NOT NULL,
     from_summary TEXT NOT NULL,
     from_cwd TEXT NOT NULL,
     to_id TEXT,
     to_name TEXT NOT NULL,
     text TEXT NOT NULL,
     in_reply_to TEXT,
     state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'read', 'expired', 'retracted', 'held', 'discarded')),
     created_at INTEGER NOT NULL,
     delivered_at INTEGER,
     read_at INTEGER,
     expires_at INTEGER NOT NULL,
     send_key TEXT,
     reply_by INTEGER,
     reply_status TEXT CHECK (reply_status IN ('awaiting', 'answered', 'overdue')),
     replaces TEXT,
     retracted_at INTEGER,
     to_group TEXT,
     fanout_id TEXT,
     released_at INTEGER,
     text_crc INTEGER
   );
   INSERT INTO messages_v7 (seq, id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state,
                            created_at, delivered_at, read_at, expires_at, send_key, reply_by, reply_status, replaces, retracted_at)
     SELECT seq, id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state,
            created_at, delivered_at, read_at, expires_at, send_key, reply_by, reply_status, replaces, retracted_at FROM messages;
   DROP TABLE messages;
   ALTER TABLE messages_v7 RENAME TO messages;
   CREATE INDEX messages_unread_by_peer ON messages (to_id, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_unread_by_name ON messages (to_name, seq) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered');
   CREATE INDEX messages_created ON messages (created_at);
   CREATE UNIQUE INDEX messages_send_key ON messages (from_id, send_key) WHERE send_key IS NOT NULL;
   CREATE INDEX messages_awaiting ON messages (reply_by) WHERE reply_status = 'awaiting';
   CREATE INDEX messages_from ON messages (from_id, created_at);
   CREATE INDEX messages_pair ON messages (from_name, to_name, created_at, from_id);
   CREATE INDEX messages_released ON messages (from_name, to_name, released_at) WHERE released_at IS NOT NULL;
   CREATE INDEX messages_held ON messages (from_name, to_name) WHERE state = 'held';
   CREATE INDEX messages_fanout ON messages (fanout_id) WHERE fanout_id IS NOT NULL;
   CREATE TABLE group_members (
     group_name TEXT NOT NULL,
     peer_name TEXT NOT NULL,
     joined_at INTEGER NOT NULL,
     PRIMARY KEY (group_name, peer_name)
   );
   CREATE INDEX group_members_name ON group_members (peer_name);`,
  // Paused sessions (the operator console): a name's inbound mail held until a person resumes it.
  // held_by tells a pause's held mail from a runaway pair's.
  `CREATE TABLE paused_names (name TEXT PRIMARY KEY, paused_at INTEGER NOT NULL);
   ALTER TABLE messages ADD COLUMN held_by TEXT CHECK (held_by IN ('pair', 'pause'));
   CREATE INDEX messages_pause_held ON messages (to_name, seq) WHERE state = 'held' AND held_by = 'pause';`,
  // Peers in Codex and Gemini CLI beside Claude Code: which agent each runs in.
  `ALTER TABLE peers ADD COLUMN agent TEXT NOT NULL DEFAULT 'claude-code';`,
  // Held mail expires like unread mail and counts toward its recipient's cap (issue 25).
  `DROP INDEX messages_expiry;
   CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('queued', 'delivered', 'held');
   CREATE INDEX messages_held_by_peer ON messages (to_id) WHERE state = 'held';
   CREATE INDEX messages_held_by_name ON messages (to_name) WHERE state = 'held';`,
  // Edit collisions (broker/edits.ts, store/sqlite-edits.ts): keys and line ranges only, never contents.
  `CREATE TABLE edit_touches (
     repo_key TEXT NOT NULL, path TEXT NOT NULL, peer_id TEXT NOT NULL, lines TEXT, at INTEGER NOT NULL,
     PRIMARY KEY (repo_key, path, peer_id)
   );
   CREATE INDEX edit_touches_at ON edit_touches (at);
   CREATE INDEX edit_touches_peer ON edit_touches (peer_id, at);
   CREATE TABLE edit_claims (
     repo_key TEXT NOT NULL, pattern TEXT NOT NULL, peer_id TEXT NOT NULL,
     ttl_ms INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     PRIMARY KEY (repo_key, pattern, peer_id)
   );
   CREATE INDEX edit_claims_peer ON edit_claims (peer_id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A new message's row parameters: its text's CRC, and why it is held (a pair, when not said). */
function insertParams(m: NewMessage): Omit<NewMessage, "held_by"> & { text_crc: number; held_by: string | null } {
  const { held_by: _, ...rest } = m;
  return { ...rest, text_crc: textCrc(m.text), held_by: heldByOf(m) };
}

/** The copy as the pair rule's guard decides it while it is stored (Store.insertMessages). */
function guarded(m: NewMessage, guard: PairGuard | undefined, i: number, activity: (q: PairQuery) => PairActivity): NewMessage {
  const p = guard?.pairs[i];
  if (!guard || !p || m.state !== "queued") return m;
  return guard.holds(activity({ a: p[0], b: p[1], since: guard.since, upTo: guard.upTo })) ? { ...m, state: "held", held_by: "pair" } : m;
}

/** Held between a runaway pair (rows from before held_by say nothing, and were all a pair's). */
const PAIR_HELD = "state = 'held' AND coalesce(held_by, 'pair') = 'pair'";


/**
 * Opens (creating if needed, mode 0600) and migrates the SQLite store at `path`.
 * A file that is not a SQLite database is left untouched and reported, never overwritten.
 */
export function openSqliteStore(path: string): SqliteStore {
  if (path !== ":memory:") {
    // In a shared folder another user may have put a symlink or a file of theirs here first.
    try {
      // Only checked here: a file refused below as not SQLite is left exactly as it was, mode included.
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assertOwnEntry(file, "the database file", "file");
    } catch (err) {
      throw new StoreOpenError(`cannot open the database ${path}: ${(err as Error).message}`);
    }
  }
  let db: Database | undefined;
  try {
    if (path !== ":memory:") prepareFile(path);
    db = new Database(path, { create: true, strict: true });
    db.exec("PRAGMA busy_timeout = 5000;");
    // Read the version before WAL mode rewrites the header of a file we may have to refuse.
    const version = schemaVersion(db);
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
    migrate(db, version);
  } catch (err) {
    db?.close();
    throw new StoreOpenError(
      `cannot open the database ${path}: ${(err as Error).message}. ` +
        `If the file is damaged, move it aside (it is left as it is) or point CLAUDE_PEERS_DB at another file.`,
    );
  }
  if (path !== ":memory:") {
    // SQLite creates -wal and -shm with the umask's mode: tighten all three.
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  }
  return new SqliteStore(db, path);
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0");

/** Creates a missing file with mode 0600, and refuses an existing one that is not SQLite. */
function prepareFile(path: string): void {
  if (!existsSync(path)) return closeSync(openSync(path, "a", 0o600));
  // SQLite takes a file too short to hold a header for a new database and writes over it, so a
  // stray file at CLAUDE_PEERS_DB would be lost: check the magic bytes first. Empty is fine (ours).
  const head = Buffer.alloc(SQLITE_MAGIC.length);
  const fd = openSync(path, "r");
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    if (n > 0 && !head.equals(SQLITE_MAGIC)) throw new Error("the file is not a SQLite database");
  } finally {
    closeSync(fd);
  }
}

function schemaVersion(db: Database): number {
  const { user_version: version } = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!;
  if (version > MIGRATIONS.length) {
    throw new Error(`schema version ${version} is newer than this claude-peers (${MIGRATIONS.length}); update claude-peers`);
  }
  return version;
}

function migrate(db: Database, version: number): void {
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
}

const UNREAD = "state IN ('queued', 'delivered')";
/** What has a mailbox time and counts toward the unread cap: unread mail and held mail. */
const WAITING = "state IN ('queued', 'delivered', 'held')";

export class SqliteStore implements Store {
  private readonly q;
  /** The message writes on the send and ack path: one commit per event-loop turn, not per call. */
  private readonly writes: GroupCommit;

  constructor(
    /** Shared with the capability stores beside this one (sqlite-edits.ts). */
    readonly db: Database,
    readonly location: string,
  ) {
    this.writes = new GroupCommit(db);
    this.q = {
      savePeer: db.query<void, PeerRow>(
        `INSERT INTO peers (id, secret_hash, name, pid, parent_pid, cwd, git_root, git_common_dir, git_branch, repo_key, host, agent, summary, registered_at, last_seen)
         VALUES ($id, $secret_hash, $name, $pid, $parent_pid, $cwd, $git_root, $git_common_dir, $git_branch, $repo_key, $host, $agent, $summary, $registered_at, $last_seen)
         ON CONFLICT (id) DO UPDATE SET secret_hash = excluded.secret_hash, name = excluded.name, pid = excluded.pid,
           parent_pid = excluded.parent_pid, cwd = excluded.cwd, git_root = excluded.git_root, git_common_dir = excluded.git_common_dir,
           git_branch = excluded.git_branch, repo_key = excluded.repo_key, host = excluded.host, agent = excluded.agent,
           summary = excluded.summary, last_seen = excluded.last_seen`,
      ),
      getPeer: db.query<PeerRow, [string]>("SELECT * FROM peers WHERE id = ?"),
      peerBySecret: db.query<PeerRow, [string]>("SELECT * FROM peers WHERE secret_hash = ?"),
      lastPeerNamed: db.query<PeerRow, [string]>("SELECT * FROM peers WHERE name = ? ORDER BY last_seen DESC LIMIT 1"),
      setSummary: db.query<void, [string, string]>("UPDATE peers SET summary = ? WHERE id = ?"),
      touchPeer: db.query<void, [number, string]>("UPDATE peers SET last_seen = ? WHERE id = ?"),
      insertMessage: db.query<MessageRow, Omit<NewMessage, "held_by"> & { text_crc: number; held_by: string | null }>(
        `INSERT INTO messages (id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state, created_at, expires_at, send_key,
                               reply_by, reply_status, replaces, to_group, fanout_id, text_crc, held_by)
         VALUES ($id, $from_id, $from_name, $from_summary, $from_cwd, $to_id, $to_name, $text, $in_reply_to, $state, $created_at, $expires_at, $send_key,
                 $reply_by, CASE WHEN $reply_by IS NULL THEN NULL ELSE 'awaiting' END, $replaces, $to_group, $fanout_id, $text_crc, $held_by)
         RETURNING *`,
      ),
      copiesOf: db.query<MessageRow, [string]>("SELECT * FROM messages WHERE fanout_id = ? ORDER BY seq"),
      getMessage: db.query<MessageRow, [string]>("SELECT * FROM messages WHERE id = ?"),
      bySendKey: db.query<MessageRow, [string, string]>("SELECT * FROM messages WHERE from_id = ? AND send_key = ?"),
      mailbox: db.query<{ id: string; to_id: string | null }, [string, number]>(
        // Only mail never shown moves: what a session was shown (delivered) stays with it.
        "SELECT id, to_id FROM messages WHERE to_name = ? AND state = 'queued' AND expires_at > ? ORDER BY seq",
      ),
      claim: db.query<void, [string, string]>(
        "UPDATE messages SET to_id = ? WHERE id = ?",
      ),
      queuedFor: db.query<MessageRow, [string]>("SELECT * FROM messages WHERE to_id = ? AND state = 'queued' ORDER BY seq"),
      unreadFor: db.query<MessageRow, [string]>(`SELECT * FROM messages WHERE to_id = ? AND ${UNREAD} ORDER BY seq`),
      countUnread: db.query<{ n: number }, [string]>(`SELECT count(*) AS n FROM messages WHERE to_id = ? AND ${UNREAD}`),
      unreadCounts: db.query<{ unread: number; queued: number }, [string]>(
        `SELECT count(*) AS unread, coalesce(sum(state = 'queued'), 0) AS queued FROM messages WHERE to_id = ? AND ${UNREAD}`,
      ),
      // Two index ranges (unread, held) rather than one index over both, which every insert would pay for.
      countWaiting: db.query<{ n: number }, { id: string }>(
        `SELECT (SELECT count(*) FROM messages WHERE to_id = $id AND ${UNREAD}) + (SELECT count(*) FROM messages WHERE to_id = $id AND state = 'held') AS n`,
      ),
      countWaitingNamed: db.query<{ n: number }, { name: string }>(
        `SELECT (SELECT count(*) FROM messages WHERE to_name = $name AND ${UNREAD}) + (SELECT count(*) FROM messages WHERE to_name = $name AND state = 'held') AS n`,
      ),
      markDelivered: db.query<{ id: string }, [number, string, string]>(
        "UPDATE messages SET state = 'delivered', delivered_at = ? WHERE to_id = ? AND id = ? AND state = 'queued' RETURNING id",
      ),
      markRead: db.query<{ id: string }, [number, number, string, string]>(
        `UPDATE messages SET state = 'read', read_at = ?, delivered_at = coalesce(delivered_at, ?)
         WHERE to_id = ? AND id = ? AND ${UNREAD} RETURNING id`,
      ),
      markAnswered: db.query<{ id: string }, [string, string, string]>(
        `UPDATE messages SET reply_status = 'answered' WHERE id = ? AND reply_status IN ('awaiting', 'overdue') AND (to_id = ? OR to_name = ?) RETURNING id`,
      ),
      takeOverdue: db.query<MessageRow, [number]>(
        "UPDATE messages SET reply_status = 'overdue' WHERE reply_status = 'awaiting' AND reply_by <= ? AND state IN ('queued', 'delivered', 'read') RETURNING *",
      ),
      retractable: db.query<MessageRow, { from_id: string; id: string }>(
        `SELECT * FROM messages WHERE from_id = $from_id AND state IN ('queued', 'delivered', 'held')
           AND (id = $id OR fanout_id = (SELECT fanout_id FROM messages WHERE id = $id AND fanout_id IS NOT NULL)) ORDER BY seq`,
      ),
      retract: db.query<void, [number, string]>("UPDATE messages SET state = 'retracted', retracted_at = ? WHERE id = ?"),
      recentSends: db.query<RecentSend, [string, number]>(
        "SELECT id, to_name, to_group, text_crc, created_at FROM messages WHERE from_id = ? AND created_at > ? AND state != 'retracted' AND (fanout_id IS NULL OR fanout_id = id) ORDER BY created_at, seq",
      ),
      // Loop damping, one direction of a pair at a time so every lookup is an index range: when a
      // person last wrote to either, when the pair was last released, and its messages since then,
      // counted up to `upTo` only (whether it reached its limit, not how far past it).
      pairSince: db.query<{ t: number }, { a: string; b: string; since: number }>(
        `SELECT max($since,
           coalesce((SELECT max(created_at) FROM messages WHERE from_name = 'cli' AND from_id = 'cli' AND to_name IN ($a, $b)), 0),
           coalesce((SELECT max(released_at) FROM messages WHERE from_name = $a AND to_name = $b AND released_at IS NOT NULL), 0),
           coalesce((SELECT max(released_at) FROM messages WHERE from_name = $b AND to_name = $a AND released_at IS NOT NULL), 0)) AS t`,
      ),
      pairTimes: db.query<{ created_at: number }, { from: string; to: string; since: number; upTo: number }>(
        `SELECT created_at FROM messages WHERE from_name = $from AND to_name = $to AND created_at > $since AND from_id LIKE 'p-%'
         ORDER BY created_at DESC LIMIT $upTo`,
      ),
      pairHeld: db.query<{ held: number }, { a: string; b: string }>(
        `SELECT EXISTS (SELECT 1 FROM messages WHERE ${PAIR_HELD} AND from_name = $a AND to_name = $b)
             OR EXISTS (SELECT 1 FROM messages WHERE ${PAIR_HELD} AND from_name = $b AND to_name = $a) AS held`,
      ),
      releaseHeld: db.query<MessageRow, { a: string; b: string; now: number; state: string; expires: number }>(
        `UPDATE messages SET state = $state, released_at = $now, expires_at = $expires, held_by = NULL
         WHERE ${PAIR_HELD} AND ((from_name = $a AND to_name = $b) OR (from_name = $b AND to_name = $a)) RETURNING *`,
      ),
      joinGroup: db.query<void, { group: string; name: string; now: number; max: number }>(
        `INSERT INTO group_members (group_name, peer_name, joined_at)
         SELECT $group, $name, $now WHERE (SELECT count(*) FROM group_members WHERE group_name = $group) < $max
         ON CONFLICT DO NOTHING`,
      ),
      isMember: db.query<{ n: number }, [string, string]>("SELECT count(*) AS n FROM group_members WHERE group_name = ? AND peer_name = ?"),
      leaveGroup: db.query<void, [string, string]>("DELETE FROM group_members WHERE group_name = ? AND peer_name = ?"),
      allMemberships: db.query<Membership, []>("SELECT group_name, peer_name FROM group_members ORDER BY group_name, peer_name"),
      groupMembers: db.query<{ peer_name: string }, [string]>("SELECT peer_name FROM group_members WHERE group_name = ? ORDER BY peer_name"),
      // Unset filters are null: one statement for every combination, walking seq back from the cursor.
      history: db.query<MessageRow, { limit: number; peer: string | null; group: string | null; text: string | null; before: number | null }>(
        `SELECT * FROM messages
         WHERE ($before IS NULL OR seq < $before)
           AND ($peer IS NULL OR from_id = $peer OR from_name = $peer OR to_id = $peer OR to_name = $peer)
           AND ($group IS NULL OR to_group = $group)
           AND ($text IS NULL OR instr(lower(text), lower($text)) > 0)
         ORDER BY seq DESC LIMIT $limit`,
      ),
      pause: db.query<void, [string, number]>("INSERT INTO paused_names (name, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING"),
      unpause: db.query<{ name: string }, [string]>("DELETE FROM paused_names WHERE name = ? RETURNING name"),
      releasePauseHeld: db.query<MessageRow, { name: string; now: number; expires: number }>(
        `UPDATE messages SET state = 'queued', released_at = $now, expires_at = $expires, held_by = NULL
         WHERE state = 'held' AND held_by = 'pause' AND to_name = $name RETURNING *`,
      ),
      allPaused: db.query<{ name: string; paused_at: number }, []>("SELECT name, paused_at FROM paused_names"),
      onePaused: db.query<{ name: string; paused_at: number }, [string]>("SELECT name, paused_at FROM paused_names WHERE name = ?"),
      countByState: db.query<{ state: MessageState; n: number }, []>("SELECT state, count(*) AS n FROM messages GROUP BY state"),
      expire: db.query<MessageRow, [number]>(`UPDATE messages SET state = 'expired' WHERE ${WAITING} AND expires_at <= ? RETURNING *`),
      deleteOld: db.query<void, [number]>("DELETE FROM messages WHERE state IN ('read', 'expired', 'retracted', 'discarded') AND created_at < ?"),
      // A name's groups go with the last of its peers: a name nobody has had for 30 days.
      deleteOrphanMemberships: db.query<void, []>("DELETE FROM group_members WHERE peer_name NOT IN (SELECT name FROM peers)"),
      oldPeers: db.query<{ id: string }, [number]>("SELECT id FROM peers WHERE last_seen < ?"),
      deletePeer: db.query<void, [string]>("DELETE FROM peers WHERE id = ?"),
    };
  }

  async savePeer(p: PeerRow): Promise<void> {
    this.q.savePeer.run(p);
  }

  async getPeer(id: string): Promise<PeerRow | null> {
    const r = this.q.getPeer.get(id);
    return r ?? null;
  }

  async peerBySecretHash(secret_hash: string): Promise<PeerRow | null> {
    const r = this.q.peerBySecret.get(secret_hash);
    return r ?? null;
  }

  async peersByIds(ids: readonly string[]): Promise<PeerRow[]> {
    return this.rowsByIds<PeerRow>("peers", ids).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The rows of `table` with these ids, chunked so many ids never exceed SQLite's bound-parameter limit. */
  private rowsByIds<T>(table: "peers" | "messages", ids: readonly string[]): T[] {
    const rows: T[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      rows.push(...this.db.query<T, string[]>(`SELECT * FROM ${table} WHERE id IN (${chunk.map(() => "?").join(",")})`).all(...chunk));
    }
    return rows;
  }

  async lastPeerNamed(name: string): Promise<PeerRow | null> {
    const r = this.q.lastPeerNamed.get(name);
    return r ?? null;
  }

  async setSummary(id: string, summary: string): Promise<void> {
    this.q.setSummary.run(summary, id);
  }

  async touchPeer(id: string, now: number): Promise<void> {
    this.q.touchPeer.run(now, id);
  }

  async insertMessage(m: NewMessage): Promise<MessageRow> {
    const row = await this.writes.run(() => this.q.insertMessage.get(insertParams(m)));
    return row!;
  }

  async insertMessages(ms: readonly NewMessage[], guard?: PairGuard): Promise<MessageRow[]> {
    // One writer, and the decision and the insert in one synchronous write: nothing comes between.
    return this.writes.run(() => ms.map((m, i) => this.q.insertMessage.get(insertParams(guarded(m, guard, i, (q) => this.pairActivityNow(q))))!));
  }

  async copiesOf(fanoutId: string): Promise<MessageRow[]> {
    return this.q.copiesOf.all(fanoutId);
  }

  async getMessage(id: string): Promise<MessageRow | null> {
    const r = this.q.getMessage.get(id);
    return r ?? null;
  }

  async getMessages(ids: readonly string[]): Promise<MessageRow[]> {
    return this.rowsByIds<MessageRow>("messages", ids);
  }

  async messageBySendKey(from_id: string, send_key: string): Promise<MessageRow | null> {
    const r = this.q.bySendKey.get(from_id, send_key);
    return r ?? null;
  }

  async claimMailbox(name: string, peerId: string, liveIds: ReadonlySet<string>, now: number): Promise<number> {
    return this.db.transaction(() => {
      let moved = 0;
      for (const m of this.q.mailbox.all(name, now)) {
        if (m.to_id === peerId || (m.to_id !== null && liveIds.has(m.to_id))) continue;
        this.q.claim.run(peerId, m.id);
        moved++;
      }
      return moved;
    })();
  }

  async mailboxRecipients(name: string, now: number): Promise<string[]> {
    return [...new Set(this.q.mailbox.all(name, now).flatMap((m) => (m.to_id === null ? [] : [m.to_id])))];
  }

  async queuedFor(peerId: string): Promise<MessageRow[]> {
    return this.q.queuedFor.all(peerId);
  }

  async unreadFor(peerId: string): Promise<MessageRow[]> {
    return this.q.unreadFor.all(peerId);
  }

  async countUnread(peerId: string): Promise<number> {
    return this.q.countUnread.get(peerId)!.n;
  }

  async unreadCounts(peerId: string): Promise<{ unread: number; queued: number }> {
    return this.q.unreadCounts.get(peerId)!;
  }

  async unreadCountsOf(peerIds: readonly string[]): Promise<Map<string, { unread: number; queued: number }>> {
    const counts = new Map<string, { unread: number; queued: number }>();
    for (let i = 0; i < peerIds.length; i += 500) {
      const chunk = peerIds.slice(i, i + 500);
      const rows = this.db
        .query<{ to_id: string; unread: number; queued: number }, string[]>(
          `SELECT to_id, count(*) AS unread, coalesce(sum(state = 'queued'), 0) AS queued FROM messages
           WHERE to_id IN (${chunk.map(() => "?").join(",")}) AND ${UNREAD} GROUP BY to_id`,
        )
        .all(...chunk);
      for (const r of rows) counts.set(r.to_id, { unread: r.unread, queued: r.queued });
    }
    return counts;
  }

  async countWaiting(peerId: string): Promise<number> {
    return this.q.countWaiting.get({ id: peerId })!.n;
  }

  async countWaitingNamed(name: string): Promise<number> {
    return this.q.countWaitingNamed.get({ name })!.n;
  }

  async markDelivered(peerId: string, ids: readonly string[], now: number): Promise<string[]> {
    return this.writes.run(() => ids.filter((id) => this.q.markDelivered.get(now, peerId, id) !== null));
  }

  async markRead(peerId: string, ids: readonly string[], now: number): Promise<string[]> {
    return this.writes.run(() => ids.filter((id) => this.q.markRead.get(now, now, peerId, id) !== null));
  }

  async markAnswered(originalId: string, replier: { id: string; name: string }): Promise<boolean> {
    return this.writes.run(() => this.q.markAnswered.get(originalId, replier.id, replier.name) !== null);
  }

  async takeOverdue(now: SweepTime): Promise<MessageRow[]> {
    return this.writes.run(() => this.q.takeOverdue.all(sweepMs(now)));
  }

  async retract(fromId: string, id: string, now: number): Promise<MessageRow[]> {
    return this.writes.run(() => {
      const before = this.q.retractable.all({ from_id: fromId, id });
      for (const m of before) this.q.retract.run(now, m.id);
      return before;
    });
  }

  async recentSends(fromId: string, since: number): Promise<RecentSend[]> {
    return this.q.recentSends.all(fromId, since);
  }

  async pairActivity(q: PairQuery): Promise<PairActivity> {
    return this.pairActivityNow(q);
  }

  private pairActivityNow({ a, b, since, upTo }: PairQuery): PairActivity {
    // The start of the count first, so the count itself is an index range.
    const from = this.q.pairSince.get({ a, b, since })!.t;
    const times = (f: string, t: string) => this.q.pairTimes.all({ from: f, to: t, since: from, upTo }).map((r) => r.created_at).reverse();
    return { fromA: times(a, b), fromB: times(b, a), held: this.q.pairHeld.get({ a, b })!.held === 1 };
  }

  async releaseHeld(a: string, b: string, now: number, discard: boolean, expiresAt: number): Promise<MessageRow[]> {
    const rows = await this.writes.run(() => this.q.releaseHeld.all({ a, b, now, state: discard ? "discarded" : "queued", expires: expiresAt }));
    return rows.sort((x, y) => x.seq - y.seq);
  }

  async joinGroup(group: string, name: string, now: number, max: number): Promise<"joined" | "already" | "full"> {
    return this.db.transaction(() => {
      if (this.q.isMember.get(group, name)!.n > 0) return "already" as const;
      return this.q.joinGroup.run({ group, name, now, max }).changes > 0 ? ("joined" as const) : ("full" as const);
    })();
  }

  async leaveGroup(group: string, name: string): Promise<boolean> {
    return this.q.leaveGroup.run(group, name).changes > 0;
  }

  async memberships(names?: readonly string[]): Promise<Membership[]> {
    const all = this.q.allMemberships.all();
    if (!names) return all;
    const wanted = new Set(names);
    return all.filter((m) => wanted.has(m.peer_name));
  }

  async groupMembers(group: string): Promise<string[]> {
    return this.q.groupMembers.all(group).map((r) => r.peer_name);
  }

  async history(h: HistoryQuery): Promise<MessageRow[]> {
    return this.q.history.all({ limit: h.limit, peer: h.peer ?? null, group: h.group ?? null, text: h.text ?? null, before: h.beforeSeq ?? null });
  }

  async pause(name: string, now: number): Promise<boolean> {
    return (await this.writes.run(() => this.q.pause.run(name, now))).changes > 0;
  }

  async resume(name: string, now: number, expiresAt: number): Promise<MessageRow[] | null> {
    // One group-commit transaction: the pause ends and its mail is released together.
    return this.writes.run(() => {
      if (!this.q.unpause.get(name)) return null;
      return this.q.releasePauseHeld.all({ name, now, expires: expiresAt }).sort((x, y) => x.seq - y.seq);
    });
  }

  async releasePauseHeld(name: string, now: number, expiresAt: number): Promise<MessageRow[]> {
    const rows = await this.writes.run(() => this.q.releasePauseHeld.all({ name, now, expires: expiresAt }));
    return rows.sort((x, y) => x.seq - y.seq);
  }

  async paused(name?: string): Promise<Map<string, number>> {
    const rows = name === undefined ? this.q.allPaused.all() : this.q.onePaused.all(name);
    return new Map(rows.map((r) => [r.name, r.paused_at]));
  }

  async countByState(): Promise<Record<MessageState, number>> {
    const counts = zeroCounts();
    for (const { state, n } of this.q.countByState.all()) counts[state] = n;
    return counts;
  }

  async prune(l: PruneLimits): Promise<PruneResult> {
    const now = sweepMs(l.now);
    return this.db.transaction(() => {
      const expiredMessages = this.q.expire.all(now).sort((x, y) => x.seq - y.seq);
      const deletedMessages = this.q.deleteOld.run(now - l.keepReadMs).changes;
      let deletedPeers = 0;
      for (const { id } of this.q.oldPeers.all(now - l.keepPeersMs)) {
        if (l.liveIds.has(id)) continue;
        this.q.deletePeer.run(id);
        deletedPeers++;
      }
      if (deletedPeers > 0) this.q.deleteOrphanMemberships.run();
      return { expired: expiredMessages.length, expiredMessages, deletedMessages, deletedPeers };
    })();
  }

  atomically<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  afterCommit(fn: () => void): void {
    fn();
  }

  detached<T>(fn: () => T): T {
    return fn();
  }

  async close(): Promise<void> {
    this.writes.flush();
    this.db.close();
  }
}
