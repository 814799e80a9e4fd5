/** The pair rule on an injected clock: a pair is held only when both directions are active. */
import { describe, expect, test } from "bun:test";
import { pairOverLimit, sideShare } from "../../shared/broker/pair-rule.ts";

const MIN = 60_000;
const DEFAULTS = { pairLimit: 30, pairWindowMs: 10 * MIN };

/** Sends one a second, in the order `dirs` gives ("a": a → b, "b": b → a); then whether the next one is held. */
function heldAfter(dirs: string, limits = DEFAULTS, nowAfterMs = 0): boolean {
  const fromA: number[] = [];
  const fromB: number[] = [];
  [...dirs].forEach((d, i) => (d === "a" ? fromA : fromB).push(i * 1000));
  return pairOverLimit({ fromA, fromB }, dirs.length * 1000 + nowAfterMs, limits);
}

/** The first message (1-based) of a stream in the order `pattern` repeats that is held, or null. */
function firstHeld(pattern: string, count: number, limits = DEFAULTS): number | null {
  const dirs = pattern.repeat(Math.ceil(count / pattern.length)).slice(0, count);
  for (let n = 0; n < count; n++) if (heldAfter(dirs.slice(0, n), limits)) return n + 1;
  return null;
}

describe("pairOverLimit", () => {
  test.each([
    ["a one-way stream is never held, however long", "a", 1000, DEFAULTS, null],
    ["nor the other way round", "b", 1000, DEFAULTS, null],
    ["two sessions bouncing messages back and forth: held at message 31, as before", "ab", 40, DEFAULTS, 31],
    ["the same, the other side first", "ba", 40, DEFAULTS, 31],
    ["a worker answering 1 in 3 is held once it has sent half the limit (15 answers, 30 tasks)", "aab", 60, DEFAULTS, 46],
    ["a worker answering 1 in 50 never sends half the limit within the window (a send a second)", `${"a".repeat(49)}b`, 2000, DEFAULTS, null],
    ["a small limit: back and forth held at limit + 1", "ab", 10, { pairLimit: 4, pairWindowMs: MIN }, 5],
    ["an odd limit: back and forth still held at limit + 1", "ab", 10, { pairLimit: 3, pairWindowMs: MIN }, 4],
    ["a limit of 1 still needs both directions", "a", 10, { pairLimit: 1, pairWindowMs: MIN }, null],
    ["a limit of 0 is off", "ab", 100, { pairLimit: 0, pairWindowMs: MIN }, null],
    ["a window of 0 is off", "ab", 100, { pairLimit: 4, pairWindowMs: 0 }, null],
  ] as const)("%s", (_, pattern, count, limits, expected) => {
    expect(firstHeld(pattern, count, limits)).toBe(expected);
  });

  test("messages older than the window do not count", () => {
    const back_and_forth = "ab".repeat(15);
    expect(heldAfter(back_and_forth)).toBe(true);
    // The clock moves on: the first messages leave the window (a send a second, a 10 min window).
    expect(heldAfter(back_and_forth, DEFAULTS, 10 * MIN - 30_001)).toBe(true);
    expect(heldAfter(back_and_forth, DEFAULTS, 10 * MIN - 30_000)).toBe(false); // the first one just left it
  });

  test.each([
    [1, 1],
    [2, 1],
    [3, 1],
    [4, 2],
    [30, 15],
    [31, 15],
  ])("with a limit of %d each side must send %d", (limit, share) => {
    expect(sideShare(limit)).toBe(share);
  });
});
