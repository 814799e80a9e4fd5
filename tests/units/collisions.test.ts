/** The pure rules of edit collisions: line ranges, when to refuse once, claims, and once per window. */
import { describe, expect, test } from "bun:test";
import { Once, RETRY_MS, claimCovers, decide, describeLines, formatLines, linesOverlap, mergeRanges, normalizeClaim, parseLines, type Stake } from "../../shared/broker/collisions.ts";

describe("line ranges", () => {
  test.each([
    ["sorted and merged, adjacent ones too", [[50, 51], [10, 42], [40, 45], [46, 46]], [[10, 46], [50, 51]]],
    ["bad ranges dropped", [[0, 3], [5, 4], [7, 7]], [[7, 7]]],
    ["a huge patch merged down to 20 spans, closest gaps first", Array.from({ length: 5000 }, (_, i) => [i * 10 + 1, i * 10 + 2]), null],
  ] as const)("mergeRanges: %s", (_, input, expected) => {
    const merged = mergeRanges(input as never);
    if (expected) expect(merged).toEqual(expected as never);
    else {
      expect(merged).toHaveLength(20);
      expect(merged[0]![0]).toBe(1);
      expect(merged.at(-1)![1]).toBe(49_992);
    }
  });

  test.each([
    ["10-42,50", [[10, 42], [50, 50]], "lines 10–42, 50"],
    ["all", "all", "the whole file"],
    [null, null, ""],
    ["7", [[7, 7]], "line 7"],
  ] as const)("%p parses to %p and reads %p", (text, lines, words) => {
    expect(parseLines(text)).toEqual(lines as never);
    expect(formatLines(lines as never)).toBe(text);
    expect(describeLines(lines as never)).toBe(words);
  });

  test.each([
    [[[10, 20]], [[20, 30]], true],
    [[[10, 20]], [[21, 30]], false],
    ["all", [[1, 1]], true],
    [null, "all", false],
    [[[1, 5]], null, false],
  ] as const)("%p and %p overlap: %p", (a, b, overlap) => {
    expect(linesOverlap(a as never, b as never)).toBe(overlap);
  });
});

describe("decide", () => {
  const touch: Stake = { peerId: "p-other", touchedAt: 0, lines: [[10, 42]], claim: null };
  const claim: Stake = { peerId: "p-other", touchedAt: null, lines: null, claim: { pattern: "src/**", expiresAt: 1 } };
  test.each([
    ["nobody else: nothing", [], [[10, 12]], "deny", undefined, "none"],
    ["other lines: a warning", [touch], [[50, 60]], "deny", undefined, "warn"],
    ["unknown lines: a warning", [touch], null, "deny", undefined, "warn"],
    ["the same lines: refused once", [touch], [[40, 50]], "deny", undefined, "deny"],
    ["a whole-file write over an edit: refused once", [touch], "all", "deny", undefined, "deny"],
    ["a claimed file: refused once", [claim], [[1, 1]], "deny", undefined, "deny"],
    ["the retry within a few minutes goes through, warned", [touch], [[40, 50]], "deny", 1_000_000 - RETRY_MS + 1, "warn"],
    ["a retry after that is refused again", [touch], [[40, 50]], "deny", 1_000_000 - RETRY_MS, "deny"],
    ["warn mode never refuses", [touch, claim], "all", "warn", undefined, "warn"],
    ["off says nothing", [touch, claim], "all", "off", undefined, "none"],
  ] as const)("%s", (_, stakes, lines, mode, refusedAt, decision) => {
    expect(decide({ stakes: stakes as never, lines: lines as never, mode, now: 1_000_000, refusedAt })).toBe(decision);
  });
});

describe("claims", () => {
  test.each([
    ["src/auth.ts", "", "src/auth.ts"],
    ["auth.ts", "src", "src/auth.ts"],
    ["../lib/*.ts", "src", "lib/*.ts"],
    ["./web/", "", "web"],
  ])("normalizeClaim(%p) from %p → %p", (raw, prefix, pattern) => {
    expect(normalizeClaim(raw, prefix)).toEqual({ pattern });
  });

  test.each([
    ["**", "", /whole repository/],
    ["*", "", /whole repository/],
    ["./**/*", "", /whole repository/],
    ["..", "src", /whole repository/],
    ["../../x", "src", /leaves the repository/],
    ["/etc/passwd", "", /not absolute/],
    ["", "", /empty/],
    ["x".repeat(201), "", /longer than 200/],
    [".git/config", "", /inside .git/],
  ])("normalizeClaim(%p) from %p is refused", (raw, prefix, error) => {
    const result = normalizeClaim(raw, prefix);
    expect("error" in result && result.error).toMatch(error);
  });

  test.each([
    ["src/auth.ts", "src/auth.ts", true],
    ["src", "src/auth.ts", true],
    ["src/**", "src/a/b.ts", true],
    ["src/*.ts", "src/a/b.ts", false],
    ["**/*.sql", "db/m/1.sql", true],
    ["src/auth", "src/authz.ts", false],
  ])("claim %p covers %p: %p", (pattern, path, covers) => {
    expect(claimCovers(pattern, path)).toBe(covers);
  });
});

describe("Once: each side told once per pair and file per window", () => {
  test("again only after the window, or when the other side edited since", () => {
    const once = new Once(() => 1000);
    expect(once.take("k", 0, 0)).toBe(true);
    expect(once.take("k", 500, 0)).toBe(false);
    expect(once.take("k", 600, 550)).toBe(true); // a newer edit
    expect(once.take("k", 1599, 0)).toBe(false);
    expect(once.take("k", 1600, 0)).toBe(true);
    expect(once.take("other", 1600, 0)).toBe(true);
  });
});
