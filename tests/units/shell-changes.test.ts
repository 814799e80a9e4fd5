/**
 * The pure parts of shell changes and stake files: `git status -z` entries to paths, what changed
 * between two snapshots, and a file's name as the agents' hook JSON spells it (or null: Bun decides).
 */
import { describe, expect, test } from "bun:test";
import { MAX_STAKE_NAMES, stakeLists, stakeName } from "../../shared/broker/edit-flags.ts";
import { MAX_REPORTED, MAX_SCANNED, changedSince, porcelainPaths } from "../../shared/broker/shell-changes.ts";

describe("porcelainPaths", () => {
  test.each([
    ["modified, added, deleted, untracked", " M src/a.ts\0A  src/b.ts\0 D src/c.ts\0?? new file.ts\0", ["src/a.ts", "src/b.ts", "src/c.ts", "new file.ts"]],
    ["nothing changed", "", []],
    ["a path with a newline and quotes (-z: as is)", '?? odd\n"name".ts\0', ['odd\n"name".ts']],
    ["a malformed entry is skipped", "XX\0 M ok.ts\0", ["ok.ts"]],
  ])("%s", (_, out, paths) => expect(porcelainPaths(out)).toEqual(paths));

  test(`at most ${MAX_SCANNED} entries`, () => {
    expect(porcelainPaths(Array.from({ length: MAX_SCANNED + 10 }, (_, i) => `?? f${i}`).join("\0"))).toHaveLength(MAX_SCANNED);
  });
});

describe("changedSince", () => {
  const snap = (entries: Record<string, string>) => new Map(Object.entries(entries));
  test.each([
    ["a new file in the set", { a: "1:10" }, { a: "1:10", b: "2:5" }, ["b"]],
    ["a file already changed, changed again (mtime)", { a: "1:10" }, { a: "3:10" }, ["a"]],
    ["the same mtime, another size", { a: "1:10" }, { a: "1:11" }, ["a"]],
    ["deleted since", { a: "1:10" }, { a: "gone" }, ["a"]],
    ["nothing since", { a: "1:10" }, { a: "1:10" }, []],
    ["a file that left the set (reverted, committed) is not a change of this session's", { a: "1:10" }, {}, []],
  ])("%s", (_, before, after, changed) => expect(changedSince(snap(before), snap(after))).toEqual(changed));

  test(`at most ${MAX_REPORTED} files, sorted`, () => {
    const after = snap(Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${String(i).padStart(2, "0")}`, "1:1"])));
    const changed = changedSince(new Map(), after);
    expect(changed).toHaveLength(MAX_REPORTED);
    expect(changed[0]).toBe("f00");
  });
});

describe("stakeName", () => {
  test.each([
    ["src/auth.ts", "auth.ts"],
    ["a/b/README.md", "README.md"],
    ['src/we\\ird "q".ts', 'we\\\\ird \\"q\\".ts'], // as JSON.stringify (and serde_json) write it
    ["src/café.ts", null], // beyond printable ASCII: some writer may escape or normalize it
    ["src/tab\there.ts", null],
    ["", null],
  ])("%p → %p", (path, name) => expect(stakeName(path)).toBe(name));
});

describe("stakeLists", () => {
  const sessions = [
    { id: "api", repo: "r1", sessionIds: ["s-api"] },
    { id: "web", repo: "r1", sessionIds: ["s-web", "s-web-after-clear"] },
    { id: "solo", repo: "r2", sessionIds: ["s-solo"] },
    { id: "nobody", repo: "r3", sessionIds: [] },
  ];
  const touch = (peer: string, path: string, repo = "r1") => ({ repo, peer, path });
  test.each([
    ["nobody has a stake: every session an empty list", [], { "s-api": [], "s-web": [], "s-web-after-clear": [], "s-solo": [] }],
    ["another's edits, never its own; never another repository's", [touch("api", "src/a.ts"), touch("web", "lib/b.ts"), touch("solo", "x/c.ts", "r2")], { "s-api": ["b.ts"], "s-web": ["a.ts"], "s-web-after-clear": ["a.ts"], "s-solo": [] }],
    ["a claim by another: no list (Bun decides)", [{ repo: "r1", peer: "api", path: null }], { "s-api": [], "s-solo": [] }],
    ["a name the shell could not match: no list", [touch("api", "src/caf\u00e9.ts")], { "s-api": [], "s-solo": [] }],
  ])("%s", (_, stakes, lists) => expect(Object.fromEntries(stakeLists(sessions, stakes))).toEqual(lists));

  test(`more than ${MAX_STAKE_NAMES} names: no list`, () => {
    const many = Array.from({ length: MAX_STAKE_NAMES + 1 }, (_, i) => touch("api", `f${i}.ts`));
    expect(stakeLists(sessions, many).has("s-web")).toBe(false);
  });
});
