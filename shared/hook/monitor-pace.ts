/**
 * The monitor's pace, kept below Claude Code's limit on a plugin monitor so that no line is ever
 * suppressed. In 2.1.332 (`hZt` with `W8e(B8e=10, j8e=2000)`) each batch of output (the lines that
 * came within 200 ms of its first, `Fos` with `ke=200`) takes a token from a bucket of 10 that
 * refills one every 2000 ms; a batch that finds none is dropped, only counted ("[plugin monitor
 * … suppressed N events — output rate exceeded]"), its text lost. So the monitor writes one batch
 * at a time, at least MIN_GAP_MS apart (rarely merged into one), and only while its own bucket,
 * smaller and slower than Claude Code's, has a token.
 */

/** Tokens at start and at most (Claude Code's bucket holds 10; it starts full when the monitor is armed). */
export const PACE_TOKENS = 8;
/** One token back this often (Claude Code: 2000 ms). */
export const PACE_REFILL_MS = 2500;
/**
 * Between two writes, so that Claude Code's 200 ms batching joins at most two of them (its timer
 * fired over a second late) into one batch, which MONITOR_BATCH_CHARS keeps below its cut.
 */
export const MIN_GAP_MS = 1500;

export class MonitorPace {
  private tokens = PACE_TOKENS;
  private refilledAt: number;
  private lastWrite = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  constructor(now: () => number) {
    this.now = now;
    this.refilledAt = now();
  }

  private refill(): void {
    const gained = Math.floor((this.now() - this.refilledAt) / PACE_REFILL_MS);
    if (gained <= 0) return;
    this.tokens = Math.min(PACE_TOKENS, this.tokens + gained);
    this.refilledAt = this.tokens === PACE_TOKENS ? this.now() : this.refilledAt + gained * PACE_REFILL_MS;
  }

  /** How long to wait before the next batch may be written: 0 when it may be now. */
  waitMs(): number {
    this.refill();
    const gap = Math.max(0, this.lastWrite + MIN_GAP_MS - this.now());
    const token = this.tokens > 0 ? 0 : this.refilledAt + PACE_REFILL_MS - this.now();
    return Math.max(gap, token);
  }

  /** Tokens left now: a batch written with the last one should say what more waits. */
  left(): number {
    this.refill();
    return this.tokens;
  }

  /** A batch was written. */
  spend(): void {
    this.refill();
    this.tokens = Math.max(0, this.tokens - 1);
    this.lastWrite = this.now();
  }
}
