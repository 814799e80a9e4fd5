/**
 * Group commit for bun:sqlite: the writes asked for during one turn of the event loop run in one
 * transaction, and each caller hears back only after that transaction has committed.
 *
 * Why: every commit in WAL mode writes each page it touched (the messages table and its six
 * indexes) to the log, and every thousand pages a checkpoint fsyncs. One commit per send and one
 * per ack cost ~200 µs of a ~400 µs broker message on a 2-core machine; under load, many sends and
 * acks arrive in the same turn, and one commit for all of them costs ~30 µs per message.
 * When idle, a write waits one turn (microseconds) longer than it did.
 */
import type { Database } from "bun:sqlite";

interface PendingWrite {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;

  constructor(private readonly db: Database) {}

  /** Runs `op` inside the next group's transaction; resolves with its result once committed. */
  run<T>(op: () => T): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.pending.push({ op, resolve: resolve as (value: unknown) => void, reject });
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate, not a microtask: the requests already waiting on the socket get their turn first.
      setImmediate(() => this.flush());
    }
    return promise;
  }

  /** Commits what is pending now (also called before the database closes). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const settle: Array<() => void> = [];
    try {
      this.db.transaction(() => {
        for (const w of batch) {
          // Each write is all or nothing on its own (a savepoint): one that fails leaves the others.
          try {
            const value = this.db.transaction(w.op)();
            settle.push(() => w.resolve(value));
          } catch (err) {
            settle.push(() => w.reject(err));
          }
        }
      })();
    } catch (err) {
      for (const w of batch) w.reject(err); // the commit failed: nothing in it was stored
      return;
    }
    for (const s of settle) s();
  }
}
