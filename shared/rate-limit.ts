/** Per-sender token buckets: a flood from one sender is refused without slowing anyone else. */

export interface BucketLimits {
  /** Tokens added per second: the sustained rate a sender may keep up forever. */
  perSecond: number;
  /** Bucket size: how many a sender may send at once after being quiet. */
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Above this many senders, buckets that are full again (idle senders) are forgotten. */
const FORGET_ABOVE = 1000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: BucketLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; returns 0 if granted, else the milliseconds until one is free. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.refill(this.buckets.get(key), now);
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      if (this.buckets.size > FORGET_ABOVE) this.forgetIdle(now);
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.limits.perSecond) * 1000);
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
