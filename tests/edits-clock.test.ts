/**
 * Edit collisions on an injected clock, in process: the broker's services (composeServices) over an
 * in-memory store, with real repositories for the file keys. The window, claim expiry and renewal,
 * the refusal's retry time, and sessions that leave.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RETRY_MS } from "../shared/broker/collisions.ts";
import { readGitInfo } from "../shared/git.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { inProcessServices, registration, type InProcessServices } from "./helpers/in-process.ts";

let dir: string;
let repo: string;
let tree: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "claude-peers-edits-clock-"));
  repo = makeRepo(dir, "app", { "src/a.ts": "a\n" });
  tree = addWorktree(repo, join(dir, "tree"), "tree");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WINDOW_MS = 10 * 60_000;

/** Two sessions, each its own Claude Code (parent pid), live on push sockets whatever the clock says. */
async function sessions(s: InProcessServices) {
  const out = [];
  for (const [i, [name, cwd]] of ([["api", repo], ["web", tree]] as const).entries()) {
    const repo_key = (await readGitInfo(cwd))!.repoKey; // what its server registers with
    const reg = await s.registry.register(registration(name, { parent_pid: 500 + i, cwd, git_root: cwd, repo_key, session_id: `session-${name}` }));
    await s.registry.attach(reg.peer_id, { send: () => {}, close: () => {} });
    const row = (await s.registry.authenticate(reg.secret))!;
    const touch = (file: string, phase: "pre" | "post", lines: Array<[number, number]> | "all" | null = null) =>
      s.edits.touch({ ancestors: [500 + i], path: join(cwd, file), phase, lines, mode: "deny", tell: true });
    out.push({ row, touch });
  }
  return out as [(typeof out)[0], (typeof out)[0]];
}

describe("stake files: each session's list of the files others have a stake in, which its hooks grep before starting Bun", () => {
  test("written for each session, a name added at once when another edits, taken away by a claim, back once the window has passed", async () => {
    const flagDir = join(dir, "flags");
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS, editFlagDir: flagDir });
    const files = () => Object.fromEntries(readdirSync(flagDir).sort().map((f) => [f, readFileSync(join(flagDir, f), "utf8")]));
    const [api, web] = await sessions(s);
    await s.edits.refreshFlags();
    expect(files()).toEqual({ "stakes-session-api": "", "stakes-session-web": "" }); // nobody else has a stake
    await api.touch("src/a.ts", "post", [[1, 1]]);
    expect(files()).toEqual({ "stakes-session-api": "", "stakes-session-web": "a.ts\n" }); // at once, before any refresh
    await s.edits.refreshFlags();
    expect(files()).toEqual({ "stakes-session-api": "", "stakes-session-web": "a.ts\n" });
    await web.touch("src/deep/b.ts", "pre", [[1, 1]]); // a pre-edit counts: the edit is about to land
    await web.touch('src/we\\ird "q".ts', "post", [[1, 1]]);
    expect(files()).toEqual({ "stakes-session-api": 'b.ts\nwe\\\\ird \\"q\\".ts\n', "stakes-session-web": "a.ts\n" }); // as JSON spells it
    await web.touch("src/caf\u00e9.ts", "post", [[1, 1]]); // a name the shell could not be sure to match: no file, Bun decides
    expect(Object.keys(files())).toEqual(["stakes-session-web"]);
    s.clock.advance(WINDOW_MS + 1);
    await s.edits.refreshFlags();
    expect(files()).toEqual({ "stakes-session-api": "", "stakes-session-web": "" });
    await s.edits.claim(web.row, { paths: ["src/x.ts"], release: false }); // a claim (maybe a folder): no name to grep for
    expect(Object.keys(files())).toEqual(["stakes-session-web"]);
    await s.edits.refreshFlags();
    expect(Object.keys(files())).toEqual(["stakes-session-web"]);
  });

  test("with no live session in a repository here, a refresh asks the store nothing (an idle broker's refresh is free) and leaves no stake file", async () => {
    const flagDir = join(dir, "flags-idle");
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS, editFlagDir: flagDir });
    // Every call of the edits' store, recorded.
    const asked: string[] = [];
    const edits = s.edits as unknown as { store: object };
    const real = edits.store;
    edits.store = new Proxy(real, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          asked.push(String(key));
          return value.apply(target, args);
        };
      },
    });
    const [api, web] = await sessions(s);
    await s.edits.refreshFlags();
    expect(readdirSync(flagDir).sort()).toEqual(["stakes-session-api", "stakes-session-web"]);
    for (const p of [api, web]) await s.registry.unregister(p.row);
    const other = await s.registry.register(registration("notes", { parent_pid: 700, session_id: "session-notes" })); // not in a repository
    await s.registry.attach(other.peer_id, { send: () => {}, close: () => {} });
    asked.length = 0;
    await s.edits.refreshFlags();
    expect(asked).toEqual([]);
    expect(readdirSync(flagDir)).toEqual([]);
  });

  test("an edit while a refresh reads the store: the refresh writes nothing, so the name added at once stays", async () => {
    const flagDir = join(dir, "flags-race");
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS, editFlagDir: flagDir });
    const [api] = await sessions(s);
    await s.edits.refreshFlags();
    const refresh = s.edits.refreshFlags(); // reads the store before the edit below is stored
    await api.touch("src/a.ts", "post", [[1, 1]]);
    await refresh;
    expect(readFileSync(join(flagDir, "stakes-session-web"), "utf8")).toBe("a.ts\n");
  });
});

describe("first snapshots of the sessions' worktrees (shell changes)", () => {
  test("a refresh writes the stake files and takes at most a few first looks; the next refresh takes the rest", async () => {
    const flagDir = join(dir, "flags-looks");
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS, editFlagDir: flagDir });
    const repo_key = (await readGitInfo(repo))!.repoKey;
    for (let i = 0; i < 6; i++) {
      const reg = await s.registry.register(registration(`looker${i}`, { parent_pid: 700 + i, cwd: repo, git_root: repo, repo_key, session_id: `session-looker${i}` }));
      await s.registry.attach(reg.peer_id, { send: () => {}, close: () => {} });
    }
    await s.edits.refreshFlags();
    expect(readdirSync(flagDir)).toHaveLength(6);
    expect(s.edits.sizes().shellSnapshots).toBe(4); // each a `git status` of up to 3 s, one after another: a few per refresh
    await s.edits.refreshFlags();
    expect(s.edits.sizes().shellSnapshots).toBe(6);
  });
});

describe("edit collisions on the clock", () => {
  test("another session's edit counts for the window, then no longer", async () => {
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS });
    const [api, web] = await sessions(s);
    await api.touch("src/a.ts", "post", [[1, 2]]);
    s.clock.advance(WINDOW_MS - 1);
    expect((await web.touch("src/a.ts", "pre", [[5, 6]])).decision).toBe("warn");
    s.clock.advance(WINDOW_MS); // web's own edit stays; api's is older than the window
    expect(await api.touch("src/b.ts", "pre")).toEqual({ decision: "none", text: null });
    s.clock.advance(WINDOW_MS + 1);
    expect(await web.touch("src/a.ts", "pre", [[1, 2]])).toEqual({ decision: "none", text: null });
  });

  test("refused once; the retry within five minutes goes through; after that, refused again", async () => {
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS });
    const [api, web] = await sessions(s);
    await api.touch("src/a.ts", "post", [[1, 2]]);
    expect((await web.touch("src/a.ts", "pre", [[2, 3]])).decision).toBe("deny");
    s.clock.advance(RETRY_MS - 1);
    expect(await web.touch("src/a.ts", "pre", [[2, 3]])).toEqual({ decision: "none", text: null }); // goes through, already told
    await api.touch("src/a.ts", "post", [[2, 2]]); // api edits those lines again
    s.clock.advance(RETRY_MS + 1);
    expect((await web.touch("src/a.ts", "pre", [[2, 3]])).decision).toBe("deny");
  });

  test("a claim holds until it expires; the claimant's edits renew it; it ends with its session", async () => {
    await using s = inProcessServices({ collisionWindowMs: WINDOW_MS });
    const [api, web] = await sessions(s);
    await s.edits.claim(api.row, { paths: ["src/pay/**"], ttl_s: 600, release: false });
    s.clock.advance(599_000);
    await api.touch("src/pay/x.ts", "post", [[1, 1]]); // renews: 600 s from now
    s.clock.advance(599_000);
    expect((await web.touch("src/pay/y.ts", "pre", [[1, 1]])).decision).toBe("deny");
    s.clock.advance(2_000);
    expect(await web.touch("src/pay/z.ts", "pre", [[1, 1]])).toEqual({ decision: "none", text: null });
    await s.edits.claim(api.row, { paths: ["src/other/**"], release: false });
    await s.registry.unregister(api.row);
    expect(await web.touch("src/other/q.ts", "pre", [[1, 1]])).toEqual({ decision: "none", text: null });
  });
});

