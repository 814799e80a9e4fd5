/** FileKeys: one name per file across worktrees (repo identity + path from the top); no key for what nobody collides over. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileKeys, isGenerated } from "../../shared/file-key.ts";
import { addWorktree, makeRepo } from "../helpers/git.ts";

let dir: string;
let repo: string;
let tree: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "claude-peers-units-"));
  repo = makeRepo(dir, "app", { "src/auth.ts": "export {}\n", ".gitignore": "secrets/\n*.log\n" });
  tree = addWorktree(repo, join(dir, "app-web"), "web");
  mkdirSync(join(dir, "plain"));
  writeFileSync(join(dir, "outside.ts"), "x\n");
  symlinkSync(join(dir, "outside.ts"), join(repo, "src", "link-out.ts"));
  symlinkSync(join(repo, "src", "auth.ts"), join(repo, "src", "link-in.ts"));
  symlinkSync(join(dir, "nowhere.ts"), join(repo, "src", "dangling-out.ts"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("FileKeys.of", () => {
  const keys = new FileKeys();
  const rootKey = () => Bun.spawnSync(["git", "rev-list", "--max-parents=0", "HEAD"], { cwd: repo }).stdout.toString().trim();

  test.each([
    ["a file in the main checkout", () => join(repo, "src/auth.ts"), "src/auth.ts"],
    ["the same file in a linked worktree", () => join(tree, "src/auth.ts"), "src/auth.ts"],
    ["a file not created yet, in a folder not created yet", () => join(tree, "src/new/deep.ts"), "src/new/deep.ts"],
    ["a path with .. inside the repository", () => join(repo, "src/../README.md"), "README.md"],
    ["a symlink inside the repository: its target", () => join(repo, "src/link-in.ts"), "src/auth.ts"],
  ])("%s is keyed by the root commit and its path from the top", async (_, path, expected) => {
    const result = await keys.of(path());
    expect(result).toMatchObject({ ok: true, key: { repo: `root:${rootKey()}`, path: expected } });
  });

  test.each([
    ["a relative path", () => "src/auth.ts", "not_absolute"],
    ["a folder that is not a repository", () => join(dir, "plain", "x.ts"), "not_repo"],
    ["a path outside the repository", () => join(repo, "..", "outside.ts"), "not_repo"],
    ["a symlink out of the repository", () => join(repo, "src/link-out.ts"), "symlink_out"],
    ["a dangling symlink out of the repository", () => join(repo, "src/dangling-out.ts"), "symlink_out"],
    ["git's own files", () => join(repo, ".git/config"), "git_internal"],
    ["an ignored folder", () => join(repo, "secrets/key.ts"), "ignored"],
    ["an ignored pattern", () => join(tree, "debug.log"), "ignored"],
    ["a lock file", () => join(repo, "bun.lock"), "generated"],
    ["build output", () => join(repo, "dist/index.js"), "generated"],
  ])("%s has no key (%s)", async (_, path, reason) => {
    expect(await keys.of(path())).toEqual({ ok: false, reason: reason as never });
  });

  test("the origin URL names the repository when there is one, the same in every worktree", async () => {
    Bun.spawnSync(["git", "remote", "add", "origin", "git@github.com:Acme/App.git"], { cwd: repo });
    const fresh = new FileKeys();
    for (const top of [repo, tree]) {
      expect(await fresh.of(join(top, "src/auth.ts"))).toMatchObject({ ok: true, key: { repo: "github.com/acme/app", path: "src/auth.ts" } });
    }
    Bun.spawnSync(["git", "remote", "remove", "origin"], { cwd: repo });
  });

  test("what git said is remembered per folder until it is a minute old", async () => {
    let now = 0;
    let calls = 0;
    const counted = new FileKeys(
      () => now,
      async (cwd, args) => {
        calls++;
        const p = Bun.spawnSync(["git", ...args], { cwd });
        return { code: p.exitCode, out: p.stdout.toString().trim() };
      },
    );
    await counted.of(join(repo, "src/auth.ts"));
    await counted.of(join(repo, "src/auth.ts"));
    expect(calls).toBe(1); // check-ignore once; the folder's top and identity once too (readGitInfo)
    now += 61_000;
    await counted.of(join(repo, "src/auth.ts"));
    expect(calls).toBe(2);
  });
});

describe("isGenerated", () => {
  test.each([
    ["package-lock.json", true],
    ["web/yarn.lock", true],
    ["Cargo.lock", true],
    ["node_modules/x/index.js", true],
    ["app/dist/a.js", true],
    ["static/app.min.js", true],
    ["api/types.generated.ts", true],
    ["src/auth.ts", false],
    ["docs/build.md", false],
    ["src/distance.ts", false],
  ])("%s → %p", (path, generated) => {
    expect(isGenerated(path)).toBe(generated);
  });
});
