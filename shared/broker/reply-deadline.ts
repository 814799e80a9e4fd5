/**
 * When the leader sweeps for overdue replies on a shared database: at the earliest deadline it knows
 * of, not every second. It learns deadlines from its heartbeat (the earliest awaited reply, on the
 * database's clock: one made on another host is known within a heartbeat) and from sends on its own
 * host (at once). An idle network with no reply awaited then costs the database no sweep at all.
 * A sweep that misses (a failure, a clock a little off) is retried when the next heartbeat reports the
 * deadline still pending.
 */

/** The timers it uses: the real ones, or a test's. */
export interface DeadlineClock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

/** setTimeout's longest delay; a later deadline is looked at again then (or at a heartbeat before). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const REAL_CLOCK: DeadlineClock = {
  now: () => performance.now(),
  setTimeout: (run, ms) => {
    const timer = setTimeout(run, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (timer) => clearTimeout(timer as Timer),
};

export class ReplyDeadline {
  private timer: unknown;
  /** When (this clock) the armed sweep runs; undefined while none is armed. */
  private at: number | undefined;
  private stopped = false;

  constructor(
    /** The sweep: takes what is due (each once, in one statement) and sends the notices. */
    private readonly sweep: () => void,
    private readonly clock: DeadlineClock = REAL_CLOCK,
  ) {}

  /** A reply falls due in `ms` (0 or less: already): the sweep runs then, unless one runs sooner. */
  dueIn(ms: number): void {
    if (this.stopped || !Number.isFinite(ms)) return;
    const at = this.clock.now() + Math.min(Math.max(0, ms), MAX_TIMER_MS);
    if (this.at !== undefined && this.at <= at) return;
    if (this.at !== undefined) this.clock.clearTimeout(this.timer);
    this.at = at;
    this.timer = this.clock.setTimeout(() => {
      this.at = undefined;
      this.timer = undefined;
      this.sweep();
    }, at - this.clock.now());
  }

  stop(): void {
    this.stopped = true;
    if (this.at !== undefined) this.clock.clearTimeout(this.timer);
    this.at = undefined;
  }
}
