/** The files and lines of a Codex apply_patch patch: found as Codex applies it, before the edit (at stake) and after it (changed). */
import { describe, expect, test } from "bun:test";
import { patchEdits } from "../../shared/hook/patch-lines.ts";

const FILE = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
const patch = (...lines: string[]) => ["*** Begin Patch", ...lines, "*** End Patch"].join("\n");
/** `FILE` with the patch applied, for the after-edit side. */
const edited = (edit: (lines: string[]) => void) => {
  const lines = FILE.split("\n").slice(0, -1);
  edit(lines);
  return lines.join("\n") + "\n";
};
const readAs =
  (files: Record<string, string>) =>
  (path: string): string | null =>
    files[path] ?? null;

describe("patchEdits", () => {
  test.each([
    ["one changed line, with context", patch("*** Update File: a.ts", "@@", " line 4", "-line 5", "+line five", " line 6"), [[5, 5]]],
    ["the first hunk without its @@", patch("*** Update File: a.ts", " line 9", "-line 10", "+line ten"), [[10, 10]]],
    ["two hunks, the second sought after the first", patch("*** Update File: a.ts", "@@", "-line 2", "+two", "@@", "-line 18", "+eighteen"), [[2, 2], [18, 18]]],
    ["an @@ context line sought first", patch("*** Update File: a.ts", "@@ line 11", " line 12", "-line 13", "+thirteen"), [[13, 13]]],
    ["an added line lands before the next old line", patch("*** Update File: a.ts", "@@", " line 7", "+new", " line 8"), [[8, 8]]],
    ["a hunk with only added lines is appended at the end", patch("*** Update File: a.ts", "@@", "+tail"), [[21, 21]]],
    ["lines differing in trailing blanks still match", patch("*** Update File: a.ts", "@@", "-line 3   ", "+three"), [[3, 3]]],
  ])("before the edit: %s", (_, p, lines) => {
    expect(patchEdits(p, "pre", readAs({ "a.ts": FILE }))).toEqual([{ path: "a.ts", lines: lines as Array<[number, number]> }]);
  });

  test.each([
    ["one changed line", patch("*** Update File: a.ts", "@@", " line 4", "-line 5", "+line five", " line 6"), edited((l) => (l[4] = "line five")), [[5, 5]]],
    [
      "two lines added after line 7: their new numbers",
      patch("*** Update File: a.ts", "@@", " line 7", "+new a", "+new b", " line 8"),
      edited((l) => l.splice(7, 0, "new a", "new b")),
      [[8, 8], [9, 9]],
    ],
    ["a removed line: where it was", patch("*** Update File: a.ts", "@@", " line 9", "-line 10", " line 11"), edited((l) => l.splice(9, 1)), [[10, 10]]],
  ])("after the edit: %s", (_, p, after, lines) => {
    expect(patchEdits(p, "post", readAs({ "a.ts": after }))).toEqual([{ path: "a.ts", lines: lines as Array<[number, number]> }]);
  });

  test.each([
    ["an added file: whole", patch("*** Add File: b.ts", "+x"), [{ path: "b.ts", lines: "all" }]],
    ["a deleted file: whole", patch("*** Delete File: a.ts"), [{ path: "a.ts", lines: "all" }]],
    ["a moved file: both names, whole", patch("*** Update File: a.ts", "*** Move to: c.ts", "@@", "-line 1", "+one"), [{ path: "a.ts", lines: "all" }, { path: "c.ts", lines: "all" }]],
    ["a hunk that is not in the file: unknown", patch("*** Update File: a.ts", "@@", "-no such line", "+x"), [{ path: "a.ts", lines: null }]],
    ["an @@ context that is not in the file: unknown", patch("*** Update File: a.ts", "@@ nowhere", "-line 1", "+x"), [{ path: "a.ts", lines: null }]],
    ["a file that cannot be read: unknown", patch("*** Update File: gone.ts", "@@", "-a", "+b"), [{ path: "gone.ts", lines: null }]],
    ["not a patch", "rm -rf /", []],
  ])("%s", (_, p, expected) => {
    expect(patchEdits(p, "pre", readAs({ "a.ts": FILE }))).toEqual(expected as ReturnType<typeof patchEdits>);
  });

  test("an `*** End of File` hunk is sought at the file's end first, as Codex does, not at an earlier copy of its lines", () => {
    const file = "}\nfunction a() {\n}\n}\n"; // the last "}" closes the file; the first one is line 1
    const eof = patch("*** Update File: a.ts", "@@", "-}", "+} // end", "*** End of File");
    expect(patchEdits(eof, "pre", readAs({ "a.ts": file }))).toEqual([{ path: "a.ts", lines: [[4, 4]] }]);
    expect(patchEdits(eof, "post", readAs({ "a.ts": "}\nfunction a() {\n}\n} // end\n" }))).toEqual([{ path: "a.ts", lines: [[4, 4]] }]);
    // Without the marker the same hunk is sought from the top, as Codex would.
    expect(patchEdits(patch("*** Update File: a.ts", "@@", "-}", "+} // end"), "pre", readAs({ "a.ts": file }))).toEqual([{ path: "a.ts", lines: [[1, 1]] }]);
  });

  test("a patch too costly to place (each hunk a scan of a big file) leaves the lines unknown; a cheaper one of the same shape does not", () => {
    const big = "a \n".repeat(20_000); // every line with a trailing blank: an exact seek scans to the end before the lenient one matches
    const hunks = (n: number) => patch("*** Update File: big.ts", ...Array.from({ length: n }, () => ["@@", "-a", "+b"]).flat());
    expect(patchEdits(hunks(10), "pre", readAs({ "big.ts": big }))).toEqual([{ path: "big.ts", lines: Array.from({ length: 10 }, (_, i): [number, number] => [i + 1, i + 1]) }]);
    expect(patchEdits(hunks(200), "pre", readAs({ "big.ts": big }))).toEqual([{ path: "big.ts", lines: null }]);
  });

  test("a huge patch names at most 20 files", () => {
    const many = patch(...Array.from({ length: 50 }, (_, i) => [`*** Add File: f${i}.ts`, "+x"]).flat());
    expect(patchEdits(many, "pre", readAs({})).length).toBe(20);
  });
});
