/**
 * The pure parts of shell changes and stake files: `git status -z` entries to paths, what changed
 * between two snapshots, and a file's name as the agents' hook JSON spells it (or null: Bun decides).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EditFlags, MAX_STAKE_NAMES, stakeLists, stakeName } from "../../shared/broker/edit-flags.ts";
import { MAX_REPORTED, MAX_SCANNED, ShellChanges, changedSince, porcelainPaths } from "../../shared/broker/shell-changes.ts";

describe("porcelainPaths", () => {
  test.each([
    ["modified, added, deleted, untracked", " M src/a.ts\0A  src/b.ts\0 D src/c.ts\0?? new file.ts\0", ["src/a.ts", "src/b.ts", "src/c.ts", "new file.ts"]],
    ["nothing changed", "", []],
    ["a path with quotes and blanks (-z: as is)", '?? odd "name" .ts\0', ['odd "name" .ts']],
    ["a path with a newline, an escape or a C1 control is left out (it would reach notices and terminals)", '?? odd\n"name".ts\0 M esc\x1b[2J.ts\0 M c1\x85.ts\0 M ok.ts\0', ["ok.ts"]],
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

  test("a repository where a session on another host works: no list there (its edits reach this broker late), others unchanged", () => {
    expect(Object.fromEntries(stakeLists(sessions, [touch("api", "src/a.ts")], new Set(["r1"])))).toEqual({ "s-solo": [] });
  });

  test(`more than ${MAX_STAKE_NAMES} names: no list`, () => {
    const many = Array.from({ length: MAX_STAKE_NAMES + 1 }, (_, i) => touch("api", `f${i}.ts`));
    expect(stakeLists(sessions, many).has("s-web")).toBe(false);
  });
});

describe("ShellChanges on an injected clock and git", () => {
  const top = mkdtempSync(join(tmpdir(), "claude-peers-shell-changes-"));
  afterAll(() => rmSync(top, { recursive: true, force: true }));
  const WINDOW = 30 * 60_000;
  const T0 = Date.now();

  test("a previous look older than the window: files changed (mtime) before the window are a baseline, a fresh change still counts", async () => {
    let now = T0;
    let status = "";
    const changes = new ShellChanges(() => now, WINDOW, async () => ({ code: 0, out: status }));
    expect(await changes.scan("web", top)).toBeNull(); // the first look: the baseline
    // Hours pass while the session's hook skips (nobody else has a stake); an editor changes old.ts meanwhile.
    writeFileSync(join(top, "old.ts"), "edited in the IDE\n");
    utimesSync(join(top, "old.ts"), new Date(T0 + 60_000), new Date(T0 + 60_000));
    now = T0 + 3 * 3_600_000;
    writeFileSync(join(top, "new.ts"), "sed -i\n");
    utimesSync(join(top, "new.ts"), new Date(now - 1_000), new Date(now - 1_000));
    status = " M old.ts\0 M new.ts\0";
    expect(await changes.scan("web", top)).toEqual({ paths: ["new.ts"], since: now - WINDOW });
    // Looks within the window compare as before: old.ts changed again counts.
    now += 60_000;
    utimesSync(join(top, "old.ts"), new Date(now - 1_000), new Date(now - 1_000));
    expect(await changes.scan("web", top)).toEqual({ paths: ["old.ts"], since: now - 60_000 });
  });

  test("a failed first look is tried again only after a growing backoff; a success or forget clears it", async () => {
    let now = T0;
    let code = 128;
    let runs = 0;
    const changes = new ShellChanges(() => now, WINDOW, async () => (runs++, { code, out: "" }));
    expect(changes.due("web")).toBe(true);
    expect(await changes.scan("web", top)).toBeNull();
    expect(changes.due("web")).toBe(false);
    now += 5_000;
    expect(changes.due("web")).toBe(true);
    await changes.scan("web", top); // the second failure: 10 s now
    now += 9_999;
    expect(changes.due("web")).toBe(false);
    now += 1;
    expect(changes.due("web")).toBe(true);
    for (let i = 0; i < 20; i++) changes.failed("web");
    now += 10 * 60_000 - 1; // capped at 10 min
    expect(changes.due("web")).toBe(false);
    now += 1;
    expect(changes.due("web")).toBe(true);
    code = 0;
    expect(await changes.scan("web", top)).toBeNull(); // the baseline
    expect(changes.due("web")).toBe(false); // it has one
    expect(runs).toBe(3);
    changes.forget("web");
    expect(changes.due("web")).toBe(true);
  });
});

describe("EditFlags.set", () => {
  const dir = mkdtempSync(join(tmpdir(), "claude-peers-edit-flags-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("removes only its own files (stake files, its temp files), never another file in the folder; tightens the folder to 0700", () => {
    const flags = join(dir, "flags");
    mkdirSync(flags, { mode: 0o755 });
    chmodSync(flags, 0o755);
    for (const f of ["stakes-gone", ".stakes-gone.tmp", "notes.txt", ".hidden", "stakes"]) writeFileSync(join(flags, f), "x");
    new EditFlags(flags, () => {}).set(new Map([["s1", ["a.ts"]]]));
    expect(readdirSync(flags).sort()).toEqual([".hidden", "notes.txt", "stakes", "stakes-s1"]);
    expect(statSync(flags).mode & 0o777).toBe(0o700);
  });

  test("a folder that is a symlink is refused: nothing written or removed through it, and the log says why", () => {
    const real = join(dir, "elsewhere");
    mkdirSync(real);
    writeFileSync(join(real, "stakes-old"), "x");
    const link = join(dir, "link");
    symlinkSync(real, link);
    const log: string[] = [];
    const flags = new EditFlags(link, (line) => log.push(line));
    flags.set(new Map([["s1", []]]));
    flags.add(["old"], "b.ts");
    flags.remove(["old"]);
    expect(readdirSync(real)).toEqual(["stakes-old"]);
    expect(log.join("\n")).toContain("symbolic link");
  });
});
