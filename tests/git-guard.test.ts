/**
 * The git guard: `bun cli.ts install git-guard` in a repository, then commits made as a session's
 * tool call (a shell under its stand-in Claude Code): a commit staging a file another live session
 * edited (and this one did not) warns, or is refused with CLAUDE_PEERS_GIT_GUARD=block; the
 * session's own files pass quietly; uninstall removes exactly the hook.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession, type HookSession } from "./helpers/hook-session.ts";
import { openWorld } from "./helpers/world.ts";

const postEdit = (file: string) => ({
  hook_event_name: "PostToolUse",
  tool_name: "Edit",
  tool_input: { file_path: file },
  tool_response: { structuredPatch: [{ oldStart: 1, oldLines: 1, newStart: 1, newLines: 1, lines: ["-a", "+b"] }] },
});
const GIT = "git -c user.name=test -c user.email=test@example.com";

describe("git guard", () => {
  const world = openWorld();
  let repo: string;
  let tree: string;
  let api: HookSession;
  let web: HookSession;
  let hookPath: string;

  beforeAll(async () => {
    repo = makeRepo(world.t.dir, "app", { "src/auth.ts": "a\n", "src/web.ts": "a\n" });
    tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
    api = await openHookSession(world, "api", repo);
    web = await openHookSession(world, "web", tree);
    hookPath = join(repo, ".git", "hooks", "pre-commit");
  });
  afterAll(() => world.close());

  test("install git-guard writes an executable pre-commit hook where git looks (shared by the worktrees); again changes nothing", async () => {
    const r = await runCli(world.t, ["install", "git-guard"], tree);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toContain(`created ${hookPath}`);
    expect(readFileSync(hookPath, "utf8")).toContain("cli.ts hook --git-guard");
    expect(statSync(hookPath).mode & 0o111).toBe(0o111);
    expect((await runCli(world.t, ["install", "git-guard"], repo)).stdout).toContain("already installed");
  });

  test("a commit staging a file another live session edited, and this one did not, warns; the commit goes through", async () => {
    await api.hook(postEdit(join(repo, "src/auth.ts")));
    writeFileSync(join(tree, "src/auth.ts"), "changed in the worktree\n");
    const r = await web.hook({}, `cd '${tree}' && git add -A && ${GIT} commit -q -m sweep`);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/claude-peers: this commit stages a file another live session edited and this one did not:\n  src\/auth\.ts: api \(claude-code, branch main, host [^)]+\) just now\n/);
    expect(r.stderr).toContain("git restore --staged");
  });

  test("the session's own edits pass quietly", async () => {
    await web.hook(postEdit(join(tree, "src/web.ts")));
    writeFileSync(join(tree, "src/web.ts"), "mine\n");
    const r = await web.hook({}, `cd '${tree}' && git add -A && ${GIT} commit -q -m mine`);
    expect(r).toMatchObject({ code: 0, stderr: "" });
  });

  test("CLAUDE_PEERS_GIT_GUARD=block refuses such a commit", async () => {
    writeFileSync(join(tree, "src/auth.ts"), "changed again\n");
    const r = await web.hook({}, `cd '${tree}' && git add -A && CLAUDE_PEERS_GIT_GUARD=block ${GIT} commit -q -m sweep2`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Commit refused (CLAUDE_PEERS_GIT_GUARD=block)");
    expect(Bun.spawnSync(["git", "log", "-1", "--format=%s"], { cwd: tree }).stdout.toString().trim()).toBe("mine");
  });

  test("a pre-commit hook of someone else's is never overwritten; uninstall removes exactly ours", async () => {
    expect((await runCli(world.t, ["uninstall", "git-guard"], repo)).stdout).toContain(`removed ${hookPath}`);
    expect(existsSync(hookPath)).toBe(false);
    writeFileSync(hookPath, "#!/bin/sh\nexec lint-staged\n", { mode: 0o755 });
    const refused = await runCli(world.t, ["install", "git-guard"], repo);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("already exists and is not claude-peers'");
    expect((await runCli(world.t, ["uninstall", "git-guard"], repo)).stdout).toContain("nothing changed");
    expect(readFileSync(hookPath, "utf8")).toBe("#!/bin/sh\nexec lint-staged\n");
    const outside = await runCli(world.t, ["install", "git-guard"], world.t.dir);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toContain("is not in a git repository");
  });
});
