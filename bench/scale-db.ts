/**
 * What bench/scale.ts reads from its private PostgreSQL, always from the admin database so its own
 * queries are not counted: a database's transactions, write transactions (WAL flushes), statements
 * and the cluster's WAL position and CPU; the floors of the same server (round trip, durable
 * commit, commits per second with and without NOTIFY).
 *
 * Transactions come from pg_stat_database, which PostgreSQL 15 fills lazily: a backend flushes its
 * counts when a statement ends at least 1 s after its last flush, or after 10 s idle. `settled`
 * waits for that by condition. A LISTEN connection's own reads of the notice queue are transactions
 * too (read-only, no WAL), but it flushes them only when it closes, so they are not in the count;
 * writes (assigned transaction ids) and statements (pg_stat_statements) count at once.
 */
import { SQL } from "bun";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, timeCalls, type Distribution } from "./lib.ts";

/** How long a settle may take before the bench goes on with a note: a heartbeat (5 s) plus PostgreSQL's 10 s idle flush, with room. */
const SETTLE_TIMEOUT_MS = 30_000;
const SETTLE_POLL_MS = 250;

/** Counters of one database (and the cluster's WAL and CPU) at one moment. */
export interface Counters {
  /** When (database clock, ms since the epoch) the immediate counters were read. */
  at: number;
  /** Commits and rollbacks (pg_stat_database), read once they had settled for `at`. */
  transactions: number;
  /** Transaction ids assigned in the cluster: every write transaction, each a WAL flush at commit. */
  writes: number;
  /** Statements run in this database (pg_stat_statements calls, utility statements included). */
  statements: number;
  /** The cluster's WAL position, in bytes. */
  wal: number;
  /** CPU seconds of the postmaster and every process it started (backends, WAL writer, checkpointer). */
  databaseCpu: number;
}

export class DatabaseCounters {
  private constructor(
    private readonly admin: SQL,
    private readonly dataDir: string,
  ) {}

  /** pg_stat_statements must be in shared_preload_libraries (tests/helpers/postgres.ts durable settings). */
  static async open(adminUrl: string, dataDir: string): Promise<DatabaseCounters> {
    const admin = new SQL({ url: adminUrl, max: 1 });
    await admin`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
    return new DatabaseCounters(admin, dataDir);
  }

  close(): Promise<void> {
    return this.admin.close();
  }

  /** Reads every counter of `database` now; transactions once they settled for this moment. */
  async read(database: string): Promise<Counters> {
    const [row] = await this.admin<Array<{ at: number; writes: string; wal: string; statements: string }>>`
      SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS at,
        pg_snapshot_xmax(pg_current_snapshot())::text AS writes,
        pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal,
        (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ${database})::text AS statements`;
    const databaseCpu = this.databaseCpu();
    await this.settled(database, Number(row!.at));
    return { at: Number(row!.at), transactions: await this.transactions(database), writes: Number(row!.writes), statements: Number(row!.statements), wal: Number(row!.wal), databaseCpu };
  }

  /** Calls per statement in `database` so far, by its normalized text. */
  async statementCalls(database: string): Promise<Map<string, number>> {
    const rows = await this.admin<Array<{ query: string; calls: string }>>`
      SELECT s.query, sum(s.calls)::text AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = ${database} GROUP BY s.query`;
    return new Map(rows.map((r) => [r.query, Number(r.calls)]));
  }

  /** Milliseconds of execution per statement in `database` so far, by its normalized text. */
  async statementTimes(database: string): Promise<Map<string, number>> {
    const rows = await this.admin<Array<{ query: string; ms: number }>>`
      SELECT s.query, sum(s.total_exec_time)::float8 AS ms FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = ${database} GROUP BY s.query`;
    return new Map(rows.map((r) => [r.query, Number(r.ms)]));
  }

  /** The connections each host's broker holds now (by the application name "claude-peers <host>"). */
  async connectionsPerHost(database: string): Promise<Map<string, number>> {
    const rows = await this.admin<Array<{ app: string; n: number }>>`
      SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
      WHERE datname = ${database} AND application_name LIKE 'claude-peers %' GROUP BY application_name`;
    return new Map(rows.map((r) => [r.app.replace("claude-peers ", ""), r.n]));
  }

  private async transactions(database: string): Promise<number> {
    const [row] = await this.admin<Array<{ n: string }>>`SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = ${database}`;
    return Number(row?.n ?? 0);
  }

  /**
   * Waits until every query connection of `database` has flushed its counts since `at`: a statement
   * of it ended more than 1 s after `at` (it flushes then, or did within the second before), or it
   * has been idle 10 s (PostgreSQL's idle flush). LISTEN connections are left out (see the top).
   */
  private async settled(database: string, at: number): Promise<void> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const [row] = await this.admin<Array<{ pending: number }>>`
        SELECT count(*)::int AS pending FROM pg_stat_activity
        WHERE datname = ${database} AND backend_type = 'client backend' AND query !~* '^\\s*listen\\s'
          AND NOT (state_change > to_timestamp(${at / 1000}) + interval '1.1 s'
            OR (state = 'idle' AND clock_timestamp() > state_change + interval '10.5 s'))`;
      if (row!.pending === 0) return;
      if (Date.now() > deadline) {
        console.log(`note: ${row!.pending} connection(s) had not flushed their statistics ${SETTLE_TIMEOUT_MS / 1000} s later; transactions may be undercounted`);
        return;
      }
      await Bun.sleep(SETTLE_POLL_MS);
    }
  }

  /** utime + stime of the postmaster and its children, from /proc (a backend that exited took its share with it). */
  databaseCpu(): number {
    const postmaster = Number(readFileSync(join(this.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    let total = cpuSeconds(postmaster);
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster) total += cpuSeconds(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return total;
  }
}

export interface Floors {
  roundTrip: Distribution;
  commit: Distribution;
  /** Durable commits per second from `parallel` connections at once (group commit shares flushes). */
  commitsPerSecond: number;
  /** The same, each commit with a NOTIFY: PostgreSQL takes one cluster-wide lock from the NOTIFY's queueing until the commit is flushed. */
  notifyCommitsPerSecond: number;
  parallel: number;
}

/**
 * This server's floors, on a fresh database: one round trip and one durable commit from one
 * connection, then `parallel` connections committing as fast as they can for `seconds`, without
 * and with a NOTIFY in each commit (a listener subscribed, as a broker is).
 */
export async function measureFloors(url: string, parallel = 8, seconds = 3): Promise<Floors> {
  const one = new SQL({ url, max: 1 });
  const many = new SQL({ url, max: parallel });
  const listener = new SQL({ url, max: 1 });
  try {
    await one`CREATE TABLE floor (x int)`;
    const roundTrip = await timeCalls(500, () => one`SELECT 1`);
    const commit = await timeCalls(500, () => one`INSERT INTO floor VALUES (1)`);
    await listener.listen("floor_channel", () => {});
    const payload = JSON.stringify({ kind: "message", broker: "b-0123456789ab", peer: "p-0123456789", message: "m-0123456789ab", from: "b-ba9876543210" });
    const rate = async (commitOnce: () => Promise<unknown>) => {
      const until = performance.now() + seconds * 1000;
      let done = 0;
      await Promise.all(Array.from({ length: parallel }, async () => {
        while (performance.now() < until) {
          await commitOnce();
          done++;
        }
      }));
      return done / seconds;
    };
    const commitsPerSecond = await rate(() => many`INSERT INTO floor VALUES (1)`);
    // One statement each, so the two differ only by the NOTIFY.
    const notifyCommitsPerSecond = await rate(() => many`WITH i AS (INSERT INTO floor VALUES (2)) SELECT pg_notify('floor_channel', ${payload})`);
    return { roundTrip, commit, commitsPerSecond, notifyCommitsPerSecond, parallel };
  } finally {
    await Promise.all([one.close(), many.close(), listener.close()]);
  }
}
