/**
 * The pair rule, pure: whether two peers are answering each other in a loop. A loop needs both
 * directions: a one-way stream (an orchestrator handing a worker its tasks, a runner streaming
 * results) is never held by it, however long; the send pace and the duplicate rule bound that.
 *
 * The choice, over counting turns: each side must have sent a share of the limit. A pair is held
 * once, within the window (and since a person last wrote to either or released it), the two have
 * exchanged `limit` messages AND each of them sent at least half of the limit (rounded down, at
 * least 1). Two sessions bouncing messages back and forth are held at message limit + 1, as
 * before; a pair where one side answers only now and then (fewer than half the limit) is not. It
 * is decided from two counts, each an index range capped at the limit, so it costs the same on
 * one host as across hosts, where a turn count would need every message of the window in order.
 */

export interface PairLimits {
  /** Messages two peers may exchange within the window before the rest are held (0: off). */
  pairLimit: number;
  pairWindowMs: number;
}

/** When each side of a pair sent to the other (oldest first; only the newest `pairLimit` matter). */
export interface PairTimes {
  fromA: readonly number[];
  fromB: readonly number[];
}

/** How many messages each side must have sent for the pair to count as answering each other. */
export function sideShare(pairLimit: number): number {
  return Math.max(1, Math.floor(pairLimit / 2));
}

/** Whether the pair's next message is held: the limit reached with both directions active, within the window before `now`. */
export function pairOverLimit(times: PairTimes, now: number, limits: PairLimits): boolean {
  const { pairLimit, pairWindowMs } = limits;
  if (pairLimit <= 0 || pairWindowMs <= 0) return false;
  const since = now - pairWindowMs;
  const a = times.fromA.filter((t) => t > since).length;
  const b = times.fromB.filter((t) => t > since).length;
  const share = sideShare(pairLimit);
  return a + b >= pairLimit && a >= share && b >= share;
}
