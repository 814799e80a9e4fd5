/** list_peers scopes (machine, directory, repo across worktrees) and how peer names are derived. */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { listedPeers, whoami, type TestServer } from "./helpers/server.ts";
import { suiteWorld, type World } from "./helpers/world.ts";

const peersIn = (server: TestServer, scope: "machine" | "directory" | "repo") => listedPeers(server, scope);

describe("scopes and names", () => {
  const world = suiteWorld();
  let main: TestServer;
  let main2: TestServer;
  let sub: TestServer;
  let worktree: TestServer;
  let other: TestServer;
  let x: TestServer;
  let x2: TestServer;
  const names = new Map<TestServer, string>();

  /** Starts a server and waits for its registration, so the next one sees its name taken. */
  async function startRegistered(opts: Parameters<World["start"]>[0]): Promise<TestServer> {
    const server = await world.start(opts);
    names.set(server, (await whoami(server)).name);
    return server;
  }

  beforeAll(async () => {
    const repo = makeRepo(world.t.dir, "shop", { "README.md": "# shop\n", "src/app.ts": "export {};\n" });
    const featureDir = addWorktree(repo, join(world.t.dir, "shop-feature-checkout"), "feature");
    const notes = join(world.t.dir, "notes");
    mkdirSync(notes);
    main = await startRegistered({ cwd: repo });
    [main2, worktree, other, x] = await Promise.all([
      startRegistered({ cwd: repo }),
      startRegistered({ cwd: featureDir }),
      startRegistered({ cwd: notes }),
      startRegistered({ name: "x" }),
    ]);
    [sub, x2] = await Promise.all([startRegistered({ cwd: join(repo, "src") }), startRegistered({ name: "x" })]);
  });

  test("names come from the repository, the worktree's branch, the folder, or CLAUDE_PEERS_NAME with a suffix", () => {
    expect(names.get(main)).toBe("shop");
    expect([names.get(main2), names.get(sub)].sort()).toEqual(["shop-2", "shop-3"]);
    expect(names.get(worktree)).toBe("shop-feature");
    expect(names.get(other)).toBe("notes");
    expect(names.get(x)).toBe("x");
    expect(names.get(x2)).toBe("x-2");
  });

  test("machine scope lists every other live peer", async () => {
    const all = [...names.values()].sort();
    expect(await peersIn(main, "machine")).toEqual(all.filter((n) => n !== "shop"));
    expect(await peersIn(other, "machine")).toEqual(all.filter((n) => n !== "notes"));
  });

  test("directory scope lists only peers in the same folder", async () => {
    expect(await peersIn(main, "directory")).toEqual([names.get(main2)!]);
    expect(await peersIn(worktree, "directory")).toEqual([]);
    expect(await peersIn(other, "directory")).toEqual([]);
    expect(await peersIn(x, "directory")).toEqual(["x-2"]);
  });

  test("repo scope spans every worktree and subfolder of the repository, and nothing else", async () => {
    const repoPeers = ["shop", "shop-2", "shop-3", "shop-feature"];
    expect(await peersIn(main, "repo")).toEqual(repoPeers.filter((n) => n !== "shop"));
    expect(await peersIn(worktree, "repo")).toEqual(repoPeers.filter((n) => n !== "shop-feature"));
    expect(await peersIn(sub, "repo")).toEqual(repoPeers.filter((n) => n !== names.get(sub)));
    expect(await peersIn(other, "repo")).toEqual([]);
  });

  test("whoami and list_peers show the worktree's own root and branch", async () => {
    const me = await worktree.call("whoami");
    expect(me.text).toContain(`repo: ${join(world.t.dir, "shop-feature-checkout")} on branch feature`);
    const listed = await main.call("list_peers", { scope: "repo" });
    expect(listed.text).toMatch(/- shop-feature \(id p-\S+, host \S+\): shop on branch feature\n {2}\S+shop-feature-checkout, branch feature;/);
  });
});
