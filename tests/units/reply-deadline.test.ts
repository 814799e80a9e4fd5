/** reply-deadline.ts: the leader sweeps for overdue replies when one falls due, with an injected clock. */
import { describe, expect, test } from "bun:test";
import { ReplyDeadline, type DeadlineClock } from "../../shared/broker/reply-deadline.ts";

/** A clock whose timers run only when the test moves time on. */
function fakeClock() {
  let now = 0;
  let next = 0;
  const timers = new Map<number, { at: number; run: () => void }>();
  const clock: DeadlineClock = {
    now: () => now,
    setTimeout(run, ms) {
      timers.set(++next, { at: now + ms, run });
      return next;
    },
    clearTimeout: (id) => void timers.delete(id as number),
  };
  return {
    clock,
    armed: () => [...timers.values()].map((t) => t.at).sort((a, b) => a - b),
    /** Moves time on by `ms`, running each timer due on the way at its own time. */
    advance(ms: number) {
      const until = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].run();
      }
      now = until;
    },
  };
}

describe("ReplyDeadline", () => {
  test("no deadline known: no sweep, however long it waits", () => {
    const c = fakeClock();
    let sweeps = 0;
    new ReplyDeadline(() => sweeps++, c.clock);
    c.advance(24 * 3600_000);
    expect(sweeps).toBe(0);
  });

  test("sweeps once at the deadline, not before; a deadline already past sweeps at once", () => {
    const c = fakeClock();
    const at: number[] = [];
    const d = new ReplyDeadline(() => at.push(c.clock.now()), c.clock);
    d.dueIn(5000);
    c.advance(4999);
    expect(at).toEqual([]);
    c.advance(1);
    expect(at).toEqual([5000]);
    c.advance(60_000);
    expect(at).toEqual([5000]);
    d.dueIn(-300); // a heartbeat reports a reply still due (a sweep failed): at once
    c.advance(0);
    expect(at).toEqual([5000, 65_000]);
  });

  test("keeps the earliest deadline: a later one (each heartbeat repeats it) does not put the sweep off, an earlier one brings it forward", () => {
    const c = fakeClock();
    const at: number[] = [];
    const d = new ReplyDeadline(() => at.push(c.clock.now()), c.clock);
    d.dueIn(10_000);
    d.dueIn(10_000);
    d.dueIn(30_000);
    expect(c.armed()).toEqual([10_000]);
    d.dueIn(2000); // a send here awaits a reply sooner
    expect(c.armed()).toEqual([2000]);
    c.advance(10_000);
    expect(at).toEqual([2000]); // the later reply is learned again from the next heartbeat
    d.dueIn(0);
    c.advance(0);
    expect(at).toEqual([2000, 10_000]);
  });

  test("stopped: nothing armed, and later deadlines are ignored", () => {
    const c = fakeClock();
    let sweeps = 0;
    const d = new ReplyDeadline(() => sweeps++, c.clock);
    d.dueIn(1000);
    d.stop();
    d.dueIn(500);
    expect(c.armed()).toEqual([]);
    c.advance(5000);
    expect(sweeps).toBe(0);
  });
});
