/**
 * The edit hooks' cheap paths and shell changes, end to end: a real broker, real servers, and the
 * plugin's own hook commands (plugin/hooks/hooks.json) run by a stand-in Claude Code, with `bun` on
 * PATH a wrapper that counts its starts. Before an edit, Bun starts only when the file is in the
 * session's stake file (another session has a stake in a file of that name); after a shell command,
 * only when another session has a stake in the repository, and then the broker records what the
 * command changed in the worktree (git status since the session's last snapshot) as its touches.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EditsResultSchema } from "../shared/protocol.ts";
import { runCli } from "./helpers/cli.ts";
import { ROOT } from "./helpers/env.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession, type HookRun, type HookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const SOURCE = Array.from({ length: 20 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";
const hooks = JSON.parse(readFileSync(join(ROOT, "plugin", "hooks", "hooks.json"), "utf8")).hooks;
const plugin = (command: string) => command.replaceAll("${CLAUDE_PLUGIN_ROOT}", join(ROOT, "plugin"));
/** The plugin's pre-edit command, and its post-shell one (PostToolUse on Bash). */
const PRE_EDIT = plugin(hooks.PreToolUse[0].hooks[0].command);
const POST_SHELL = plugin(hooks.PostToolUse.find((g: { matcher?: string }) => g.matcher === "Bash").hooks[0].command);

const preEdit = (file: string) => ({ hook_event_name: "PreToolUse", tool_name: "Edit", tool_input: { file_path: file, old_string: "line1 ", new_string: "line1 " } });
const postEdit = (file: string) => ({
  hook_event_name: "PostToolUse",
  tool_name: "Edit",
  tool_input: { file_path: file, old_string: "x", new_string: "y" },
  tool_response: { structuredPatch: [{ oldStart: 2, oldLines: 1, newStart: 2, newLines: 1, lines: [] }] },
});
const bash = (command: string) => ({ hook_event_name: "PostToolUse", tool_name: "Bash", tool_input: { command }, tool_response: { stdout: "", stderr: "" } });

function output(run: HookRun): any {
  expect(run).toMatchObject({ code: 0, stderr: "" });
  return run.stdout === "" ? null : JSON.parse(run.stdout);
}

describe("the edit hooks' cheap paths and shell changes", () => {
  const world = openWorld();
  const starts = join(world.t.dir, "bun-starts");
  const flagDir = join(world.t.home, ".claude-peers-edits");
  let repo: string;
  let tree: string;
  let api: HookSession;
  let web: HookSession;
  let solo: HookSession;
  /** Runs a hook command in `s`'s stand-in Claude Code; answers its output and whether it started Bun. */
  const run = async (s: HookSession, input: Record<string, unknown>, command: string) => {
    const before = existsSync(starts) ? readFileSync(starts, "utf8").length : 0;
    const out = output(await s.hook(input, command));
    return { out, bun: (existsSync(starts) ? readFileSync(starts, "utf8").length : 0) > before };
  };

  beforeAll(async () => {
    // `bun` on the hooks' PATH: the real one, after a line in bun-starts.
    const bin = join(world.t.dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "bun"), `#!/bin/sh\necho x >> "${starts}"\nexec "${process.execPath}" "$@"\n`);
    chmodSync(join(bin, "bun"), 0o755);
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    repo = makeRepo(world.t.dir, "app", { "src/a.ts": SOURCE, "src/b.ts": SOURCE, "src/c.ts": SOURCE, "src/d.ts": SOURCE, "src/e.ts": SOURCE, ".gitignore": "*.log\n", ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`src/many/m${i}.ts`, SOURCE])) });
    tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
    const elsewhere = makeRepo(world.t.dir, "other", { "src/a.ts": SOURCE });
    [api, web, solo] = await Promise.all([openHookSession(world, "api", repo, env), openHookSession(world, "web", tree, env), openHookSession(world, "solo", elsewhere, env)]);
    // The broker writes each session's stake file (after its first snapshot of the worktree) within seconds.
    await waitFor(() => ["api", "web", "solo"].every((n) => existsSync(join(flagDir, `stakes-session-${n}`))), "the sessions' stake files", 20_000);
  });
  afterAll(() => world.close());

  test("before an edit of a file nobody else touched, Bun is not started, though another session edits another file of the repository", async () => {
    expect((await run(api, postEdit(join(repo, "src/a.ts")), PRE_EDIT.replace(/.*exec /, "exec "))).out).toBeNull(); // api edits src/a.ts (the post hook runs Bun)
    expect(readFileSync(join(flagDir, "stakes-session-web"), "utf8")).toBe("a.ts\n"); // at once
    expect(await run(web, preEdit(join(tree, "src/b.ts")), PRE_EDIT)).toEqual({ out: null, bun: false });
    expect(await run(solo, preEdit(join(solo.cwd, "src/b.ts")), PRE_EDIT)).toEqual({ out: null, bun: false });
  });

  test("before an edit of a file another session edited, Bun runs with the input whole, and the warning is given", async () => {
    const { out, bun } = await run(web, preEdit(join(tree, "src/a.ts")), PRE_EDIT);
    expect(bun).toBe(true);
    expect(out.hookSpecificOutput.additionalContext).toMatch(/^claude-peers: api \(claude-code, branch main, host [^)]+\) edited src\/a\.ts just now \(line 2\)\./);
  });

  test("after a shell command, alone in its repository: Bun is not started", async () => {
    writeFileSync(join(solo.cwd, "src/a.ts"), "changed by sed\n");
    expect(await run(solo, bash("sed -i s/x/y/ src/a.ts"), POST_SHELL)).toEqual({ out: null, bun: false });
  });

  test("after a shell command, with others in the repository: what it changed (since the session's last look) becomes the session's touches", async () => {
    writeFileSync(join(tree, "src/c.ts"), SOURCE.replace("line3 = 3", "line3 = 33")); // sed -i
    writeFileSync(join(tree, "src/new.ts"), "export {};\n"); // a generator's new file
    writeFileSync(join(tree, "debug.log"), "ignored\n");
    const after = await run(web, bash("sed -i s/3/33/ src/c.ts && gen > src/new.ts"), POST_SHELL);
    expect(after).toEqual({ out: null, bun: true }); // nobody else had a stake in those: nothing to say
    const edits = EditsResultSchema.parse(JSON.parse((await runCli(world.t, ["edits", "--json"])).stdout));
    expect(edits.files.filter((f) => f.name === "web" && f.lines === null).map((f) => f.path).sort()).toEqual(["src/c.ts", "src/new.ts"]); // not the ignored file
    // api, about to edit src/c.ts in its own worktree, is warned (Bun runs: web's edit put c.ts in api's stake file at once).
    const warned = await run(api, preEdit(join(repo, "src/c.ts")), PRE_EDIT);
    expect(warned.bun).toBe(true);
    expect(warned.out.hookSpecificOutput.additionalContext).toMatch(/web \(claude-code, branch web, host [^)]+\) edited src\/c\.ts just now\./);
    // The next shell command that changes nothing records nothing new; a file changed again (already dirty) counts again.
    expect((await run(web, bash("ls"), POST_SHELL)).out).toBeNull();
    writeFileSync(join(tree, "src/c.ts"), SOURCE.replace("line3 = 3", "line3 = 333"));
    expect((await run(web, bash("sed -i s/33/333/ src/c.ts"), POST_SHELL)).out.hookSpecificOutput.additionalContext).toContain('your shell command changed "src/c.ts"');
  });

  test("a shell command that changes a file another session edited: its model is told after it, the other session gets a notice", async () => {
    expect((await run(api, postEdit(join(repo, "src/e.ts")), PRE_EDIT.replace(/.*exec /, "exec "))).out).toBeNull();
    writeFileSync(join(tree, "src/e.ts"), SOURCE.replace("line9 = 9", "line9 = 99"));
    const { out, bun } = await run(web, bash("sed -i s/9/99/ src/e.ts"), POST_SHELL);
    expect(bun).toBe(true);
    expect(out.hookSpecificOutput.hookEventName).toBe("PostToolUse");
    expect(out.hookSpecificOutput.additionalContext).toMatch(/^claude-peers: your shell command changed "src\/e\.ts"\. api \(claude-code, branch main, host [^)]+\) edited "src\/e\.ts" just now \(line 2\)\./);
    const notice = await api.server.waitForChannel((m) => m.content.includes('changed "src/e.ts" with a shell command'), "api's notice");
    expect(notice.content).toMatch(/^web \(claude-code, branch web, host [^)]+\) changed "src\/e\.ts" with a shell command, which you edited just now \(line 2\)/);
  });

  test("a shell command over many files others edited: a few warnings in full, then a count (within Claude Code's cap)", async () => {
    for (let i = 0; i < 10; i++) expect((await run(api, postEdit(join(repo, `src/many/m${i}.ts`)), PRE_EDIT.replace(/.*exec /, "exec "))).out).toBeNull();
    for (let i = 0; i < 10; i++) writeFileSync(join(tree, `src/many/m${i}.ts`), "rewritten by a formatter\n");
    const { out } = await run(web, bash("prettier --write src/many"), POST_SHELL);
    const text: string = out.hookSpecificOutput.additionalContext;
    expect(text.match(/claude-peers: your shell command changed "src/g)).toHaveLength(8);
    expect(text).toContain("and 2 more files your shell command changed that other sessions have a stake in");
    expect(text.length).toBeLessThan(8000);
  });

  test("Codex's and Gemini CLI's shell tools take the same path", async () => {
    writeFileSync(join(tree, "src/d.ts"), "codex was here\n");
    const codex = { hook_event_name: "PostToolUse", tool_name: "Bash", tool_input: { command: "echo > src/d.ts" }, tool_response: "" };
    expect((await run(web, codex, POST_SHELL)).out).toBeNull();
    writeFileSync(join(tree, "src/a.ts"), "gemini was here\n");
    const gemini = { hook_event_name: "AfterTool", tool_name: "run_shell_command", tool_input: { command: "echo > src/a.ts" }, tool_response: {} };
    const out = output(await web.hook(gemini)); // the hook itself, as install gemini writes it behind its gate
    expect(out).toBeNull(); // web already heard of api's stake in src/a.ts: told once
    const edits = EditsResultSchema.parse(JSON.parse((await runCli(world.t, ["edits", "--json"])).stdout));
    expect(edits.files.some((f) => f.name === "web" && f.path === "src/d.ts")).toBe(true);
  });
});
