/**
 * A broker's one query connection to PostgreSQL, shared by the store and the network tables: each
 * query waits its turn at the gate (the heartbeat first), unless it belongs to an open unit of work.
 *
 * A unit of work (`atomically`) is one transaction holding the connection: every query made inside
 * it, by any module and through any number of awaits, runs in that transaction. A send's checks,
 * its insert and the NOTIFY that wakes the recipient's broker then cost one commit (one WAL flush)
 * instead of one each, and the NOTIFY goes out only if the message was stored (PostgreSQL delivers
 * it at commit). Inside a unit, work must not wait for anything that needs the connection from
 * outside the unit (it holds the gate): a unit is short, and waits (pace, acks) come before or after it.
 *
 * Bun carries the unit into callbacks scheduled inside it (setImmediate, setTimeout, a promise
 * left running): their queries would land in the unit's transaction, or in none once it ended.
 * What a unit tells the rest of the broker (watch events, a local sender's ack) therefore goes
 * through afterCommit, which runs it once the transaction committed and outside the unit; work
 * that must never join a unit is started through detached. A statement that fails inside a unit
 * fails the unit (PostgreSQL aborts the whole transaction, caught or not): callers let it throw.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { SQL } from "bun";
import { ConnectionGate } from "./connection-gate.ts";

interface Unit {
  tx: SQL;
  /** False once the unit's work returned: work it left behind (a timer, a callback) uses the gate again. */
  open: boolean;
  /** What runs once the transaction committed (afterCommit), in order. */
  after: Array<() => void>;
  /** Given up on (it outlasted UNIT_TIMEOUT_MS and was rolled back): its work's further queries fail. */
  abandoned: boolean;
}

/**
 * How long a unit may hold the connection: one that hangs (a bug, a wait that should have come
 * before it) is rolled back after this, so the heartbeat and every other query get the connection back.
 */
export const UNIT_TIMEOUT_MS = 10_000;

export class PgConnection {
  readonly gate = new ConnectionGate();
  private readonly units = new AsyncLocalStorage<Unit>();

  constructor(
    readonly sql: SQL,
    private readonly unitTimeoutMs = UNIT_TIMEOUT_MS,
  ) {}

  /** Runs `query` in the open unit's transaction, else alone on the connection (urgent: ahead of the work waiting). */
  run<T>(query: (sql: SQL) => PromiseLike<T>, urgent = false): Promise<T> {
    const unit = this.units.getStore();
    if (unit?.abandoned) return Promise.reject(new Error(`a unit of work outlasted ${this.unitTimeoutMs} ms and was rolled back; this query of it does not run`));
    if (unit?.open) return Promise.resolve(query(unit.tx));
    return this.gate.run(() => query(this.sql), urgent);
  }

  /** Whether the caller is inside an open unit of work. */
  get inUnit(): boolean {
    return this.units.getStore()?.open === true;
  }

  /** Runs `work` as one transaction (all or nothing); inside a unit already, as part of it. */
  async atomically<T>(work: () => Promise<T>): Promise<T> {
    if (this.inUnit) return work();
    const unit: Unit = { tx: this.sql, open: false, after: [], abandoned: false };
    const result = await this.gate.run(() =>
      this.sql.begin(async (tx) => {
        unit.tx = tx as unknown as SQL;
        unit.open = true;
        let timer: Timer | undefined;
        const timedOut = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            unit.abandoned = true;
            reject(new Error(`a unit of work held the database connection over ${this.unitTimeoutMs} ms; rolled back`));
          }, this.unitTimeoutMs);
        });
        try {
          return await Promise.race([this.units.run(unit, work), timedOut]);
        } finally {
          clearTimeout(timer);
          unit.open = false;
        }
      }),
    );
    // Committed: what the unit had to tell others goes out now, outside it.
    this.units.exit(() => {
      for (const fn of unit.after) fn();
    });
    return result;
  }

  /** Runs `fn` once the open unit committed (never if it rolls back), outside it; outside a unit, now. */
  afterCommit(fn: () => void): void {
    const unit = this.units.getStore();
    if (unit?.open) unit.after.push(fn);
    else this.units.exit(fn);
  }

  /** Runs `fn` outside any unit: what it starts (a timer, a callback, a query) waits at the gate like any other work. */
  detached<T>(fn: () => T): T {
    return this.units.exit(fn);
  }
}
