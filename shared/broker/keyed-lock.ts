/**
 * A keyed async lock: callers that share a key run one after another, in the order they asked;
 * callers with no key in common do not wait for each other. Why: a send checks a rule against
 * what is stored and then stores, with awaits in between; two sends in flight for the same pair
 * (or the same text from the same sender) would both pass a check that only one of them may.
 */
export class KeyedLock {
  /** Key → the release of its last holder or waiter (the next one in line waits for it). */
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Waits until no earlier caller holds any of `keys`, then holds them all; call the returned
   * function (once) to let the next in line go. Every key is queued for at once, before any wait,
   * so two callers can never each hold a key the other waits for: no deadlock, whatever the order.
   */
  async lock(keys: Iterable<string>): Promise<() => void> {
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const unique = [...new Set(keys)];
    const before = unique.map((key) => {
      const prev = this.tails.get(key);
      this.tails.set(key, released);
      return prev;
    });
    await Promise.all(before);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      // Nobody queued after this holder: the key is forgotten, so the map holds only keys in use.
      for (const key of unique) if (this.tails.get(key) === released) this.tails.delete(key);
    };
  }

  /** How many keys are held or waited for (tests: nothing is left behind). */
  get size(): number {
    return this.tails.size;
  }
}
