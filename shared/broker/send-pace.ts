/**
 * Per-sender token buckets that pace instead of refusing: a sender over its burst borrows tokens
 * from the near future and waits for them, so a burst is carried at the sustained rate; only a
 * sender already that far ahead is turned away, with the time after which it may try again.
 */

export interface PaceLimits {
  /** Tokens added per second: the sustained rate a sender may keep up forever. */
  perSecond: number;
  /** Bucket size: how many a sender may send at once after being quiet. */
  burst: number;
  /** How far ahead a sender may borrow: the longest one call is made to wait. */
  maxWaitMs: number;
}

/** A token taken (use it after `waitMs`), or none (the sender is too far ahead; try after `retryAfterMs`). */
export type Pace = { waitMs: number } | { retryAfterMs: number };

interface Bucket {
  /** Below zero while the sender is borrowing: each waiting call holds one token it does not have yet. */
  tokens: number;
  at: number;
}

/**
 * Sends per sender (a peer id; the operator's CLI shares one bucket): a burst of 1,000, then 2,000 a
 * second, a sender ahead of that waiting up to 1 s for its turn. A script's or a fan-out's burst is
 * carried at about what one sender can drive through the broker (bench/throughput.ts, burst), while
 * a runaway loop is slowed to a rate that leaves the broker to everyone else.
 */
export const SEND_RATE: PaceLimits = { perSecond: 2000, burst: 1000, maxWaitMs: 1000 };

/** Above this many senders, buckets that are full again (idle senders) are forgotten. */
const FORGET_ABOVE = 1000;

export class SendPace {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: PaceLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes `n` tokens for `key` (a group send takes one a copy). Calls are served in the order they take: each waits behind the earlier ones. */
  take(key: string, n = 1): Pace {
    const now = this.now();
    const bucket = this.refill(this.buckets.get(key), now);
    this.buckets.set(key, bucket);
    const waitMs = bucket.tokens >= n ? 0 : Math.ceil(((n - bucket.tokens) / this.limits.perSecond) * 1000);
    if (waitMs > this.limits.maxWaitMs) return { retryAfterMs: waitMs - this.limits.maxWaitMs };
    bucket.tokens -= n;
    if (this.buckets.size > FORGET_ABOVE) this.forgetIdle(now);
    return { waitMs };
  }

  /**
   * The sender left: its bucket goes. A leaver that sends again starts with a full bucket, as a new
   * session does; holding the token is what lets anyone make sessions.
   */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Senders remembered, for tests that check nothing is kept. */
  get size(): number {
    return this.buckets.size;
  }

  private refill(bucket: Bucket | undefined, now: number): Bucket {
    if (!bucket) return { tokens: this.limits.burst, at: now };
    const tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limits.perSecond);
    return { tokens, at: now };
  }

  /** Peer ids are never reused, so without this the map would grow with every session ever seen. */
  private forgetIdle(now: number): void {
    for (const [key, bucket] of this.buckets) if (this.refill(bucket, now).tokens >= this.limits.burst) this.buckets.delete(key);
  }
}
