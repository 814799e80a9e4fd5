/**
 * Paused names (the operator console's pause): a paused name's inbound mail is stored held until
 * a person resumes it. On one host the broker answers from memory, loaded from the store at start;
 * with a shared PostgreSQL another host's broker may pause or resume, so each send asks the store.
 */
import type { Store } from "../store/store.ts";

export class Pauses {
  /** Name → paused since (ms); the memory of a single-host broker. */
  private local: Promise<Map<string, number>> | undefined;

  constructor(
    private readonly store: Store,
    /** false with a shared database: the store is the only truth. */
    private readonly alone: boolean,
  ) {}

  /** Every paused name and since when. */
  async all(): Promise<Map<string, number>> {
    return this.alone ? new Map(await this.memory()) : this.store.paused();
  }

  async has(name: string): Promise<boolean> {
    return (this.alone ? await this.memory() : await this.store.paused(name)).has(name);
  }

  /** false when it was paused already. */
  async pause(name: string, now: number): Promise<boolean> {
    const changed = await this.store.pause(name, now);
    if (this.alone && changed) (await this.memory()).set(name, now);
    return changed;
  }

  /** The mail the pause held, queued again; null when the name was not paused. */
  async resume(name: string, now: number, expiresAt: number) {
    const rows = await this.store.resume(name, now, expiresAt);
    if (this.alone) (await this.memory()).delete(name);
    return rows;
  }

  /** Loaded once; a failed load is tried again by the next call, not kept. */
  private memory(): Promise<Map<string, number>> {
    if (!this.local) {
      const loading = this.store.paused();
      this.local = loading;
      loading.catch(() => {
        if (this.local === loading) this.local = undefined;
      });
    }
    return this.local;
  }
}
