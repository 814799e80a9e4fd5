/**
 * A broker's one PostgreSQL connection for queries (postgres.ts keeps its pool at 1; LISTEN holds
 * the second): its work waits its turn here instead of in the driver's queue, so the heartbeat can
 * go to the front. Behind a backlog of sends, a heartbeat at the back of a FIFO could wait past the
 * host timeout, and every session of a loaded host would look offline to the others and register
 * again, which is more work still. Here it waits for at most the one unit of work in flight.
 */
export class ConnectionGate {
  private busy = false;
  private readonly urgent: Array<() => void> = [];
  private readonly normal: Array<() => void> = [];

  /** Runs `work` alone on the connection, after the urgent work waiting and then (unless urgent) the rest, in order. */
  async run<T>(work: () => PromiseLike<T>, urgent = false): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => (urgent ? this.urgent : this.normal).push(resolve));
    this.busy = true;
    try {
      return await work();
    } finally {
      const next = this.urgent.shift() ?? this.normal.shift();
      if (next) next(); // handed over directly: busy stays true, so no newcomer slips in between
      else this.busy = false;
    }
  }

  /** Units of work waiting, for tests. */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }
}
