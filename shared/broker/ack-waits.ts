/** Senders waiting for their message's ack, so that send can answer "delivered" when it comes in time. */

/** What the ack did, when its sender says: the message's state and when (ms). */
export interface AckOutcome {
  state: "delivered" | "read";
  at: number;
}

export class AckWaits {
  private readonly waiters = new Map<string, (outcome: AckOutcome | undefined) => void>();

  constructor(private readonly timeoutMs: number) {}

  /** Resolves when the message is acknowledged (end: with what the ack did, if told), or undefined after the timeout. */
  wait(messageId: string): Promise<AckOutcome | undefined> {
    const { promise, resolve } = Promise.withResolvers<AckOutcome | undefined>();
    const timer = setTimeout(() => resolve(undefined), this.timeoutMs);
    this.waiters.set(messageId, (outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
    return promise.finally(() => this.waiters.delete(messageId));
  }

  /** Waits in progress, for tests that check nothing is kept. */
  get size(): number {
    return this.waiters.size;
  }

  /** Whether a sender here waits for this message's ack. */
  waiting(messageId: string): boolean {
    return this.waiters.has(messageId);
  }

  /** Ends the waits for these messages; returns the ids no one here waited for. */
  end(ids: readonly string[], outcome?: AckOutcome): string[] {
    const unwaited: string[] = [];
    for (const id of ids) {
      const resolve = this.waiters.get(id);
      if (resolve) resolve(outcome);
      else unwaited.push(id);
    }
    return unwaited;
  }
}
