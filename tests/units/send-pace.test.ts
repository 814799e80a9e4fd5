/** SendPace: the per-sender token buckets, on an injected clock. */
import { describe, expect, test } from "bun:test";
import { SendPace } from "../../shared/broker/send-pace.ts";

describe("SendPace", () => {
  // 10 a second (a token every 100 ms), a burst of 3, and a sender may borrow up to 250 ms ahead.
  const limiter = (clock: { now: number }) => new SendPace({ perSecond: 10, burst: 3, maxWaitMs: 250 }, () => clock.now);

  test.each([
    // [ms since start of each take, expected pace]
    ["a burst is granted at once, then calls wait their turn in order", [0, 0, 0, 0, 0], [0, 0, 0, 100, 200]],
    ["tokens come back at the sustained rate", [0, 0, 0, 100, 100], [0, 0, 0, 0, 100]],
    ["a quiet sender gets its whole burst back, never more", [0, 0, 0, 10_000, 10_000, 10_000, 10_000], [0, 0, 0, 0, 0, 0, 100]],
    ["past the longest wait a call is turned away, taking nothing", [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 100, 200, "retry 50", "retry 50"]],
    ["a turned-away sender that waits as told is taken again", [0, 0, 0, 0, 0, 0, 50], [0, 0, 0, 100, 200, "retry 50", 250]],
  ] as const)("%s", (_, times, paces) => {
    const clock = { now: 0 };
    const l = limiter(clock);
    const seen = times.map((t) => {
      clock.now = t;
      const pace = l.take("a");
      return "waitMs" in pace ? pace.waitMs : `retry ${pace.retryAfterMs}`;
    });
    expect(seen).toEqual([...paces]);
  });

  test("senders have separate buckets", () => {
    const l = limiter({ now: 0 });
    for (let i = 0; i < 3; i++) l.take("flooder");
    expect(l.take("flooder")).toEqual({ waitMs: 100 });
    expect(l.take("calm")).toEqual({ waitMs: 0 });
  });
});
