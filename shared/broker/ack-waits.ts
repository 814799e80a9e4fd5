/** Senders waiting for their message's ack, so that send can answer "delivered" when it comes in time. */
export class AckWaits {
  private readonly waiters = new Map<string, () => void>();

  constructor(private readonly timeoutMs: number) {}

  /** Resolves when the message is acknowledged (end), or after the timeout. */
  wait(messageId: string): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, this.timeoutMs);
    this.waiters.set(messageId, () => {
      clearTimeout(timer);
      resolve();
    });
    return promise.finally(() => this.waiters.delete(messageId));
  }

  /** Waits in progress, for tests that check nothing is kept. */
  get size(): number {
    return this.waiters.size;
  }

  /** Ends the waits for these messages; returns the ids no one here waited for. */
  end(ids: readonly string[]): string[] {
    const unwaited: string[] = [];
    for (const id of ids) {
      const resolve = this.waiters.get(id);
      if (resolve) resolve();
      else unwaited.push(id);
    }
    return unwaited;
  }
}
