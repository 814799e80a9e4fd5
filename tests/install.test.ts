/**
 * `bun cli.ts install|uninstall <agent>` on real files in a temp HOME: it merges into what is there,
 * backs up, is idempotent, previews with --dry-run, refuses bad or conflicting configs untouched,
 * and uninstall takes out only what install put in. Claude Code's result is checked by the real
 * `claude mcp list`; Codex's and Gemini CLI's by codex.test.ts and gemini.test.ts, which run them.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { claudeCli } from "./helpers/claude-cli.ts";
import { runCli } from "./helpers/cli.ts";
import { makeTestEnv, ROOT, type TestEnv } from "./helpers/env.ts";
import { otherAgentChecks } from "../shared/cli/install/check.ts";
import { codexHookHash } from "../shared/cli/install/codex-trust.ts";
import { flaggedHookCommand, shellGatedCommand, shellGatedInputCommand, stakeGatedCommand, stakeGatedInputCommand } from "../shared/cli/install/target.ts";
import { openWorld } from "./helpers/world.ts";

let t: TestEnv;
beforeEach(() => (t = makeTestEnv()));
afterEach(() => t.cleanup());

const install = (...args: string[]) => runCli(t, ["install", ...args]);
const uninstall = (...args: string[]) => runCli(t, ["uninstall", ...args]);
const put = (path: string, text: string) => (mkdirSync(dirname(path), { recursive: true }), writeFileSync(path, text));
const read = (path: string) => readFileSync(path, "utf8");
const backups = (dir: string) => readdirSync(dir).filter((f) => f.includes(".bak-"));

describe("install codex", () => {
  const dir = () => join(t.home, ".codex");
  const configPath = () => join(dir(), "config.toml");
  const USER_CONFIG =
    '# my settings, with a comment to keep\nmodel = "o3"\n\n[mcp_servers.other]\ncommand = "other-server" # inline comment\n\n[features]\nweb_search = true\n';
  const USER_HOOKS = { hooks: { Stop: [{ hooks: [{ type: "command", command: "notify-send done" }] }] }, note: "kept" };

  test("merges into config.toml and hooks.json, keeps every line and hook of the user's, backs both up; a second run changes nothing", async () => {
    put(configPath(), USER_CONFIG);
    put(join(dir(), "hooks.json"), JSON.stringify(USER_HOOKS));
    const first = await install("codex");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`updated ${configPath()} (the old one is ${configPath()}.bak-`);
    const config = read(configPath());
    expect(config.startsWith(USER_CONFIG)).toBe(true);
    const parsed = Bun.TOML.parse(config) as Record<string, any>;
    expect(parsed.model).toBe("o3");
    expect(parsed.mcp_servers.other.command).toBe("other-server");
    expect(parsed.mcp_servers["claude-peers"]).toEqual({
      command: process.execPath,
      args: [join(ROOT, "server.ts")],
      env: { CLAUDE_PEERS_AGENT: "codex" },
      env_vars: ["CLAUDE_PEERS_PORT", "CLAUDE_PEERS_DB", "CLAUDE_PEERS_NAME", "CLAUDE_PEERS_HOST", "CLAUDE_PEERS_GROUPS", "CLAUDE_PEERS_PUSH"],
    });
    // The user has a [features] table: hooks (on by default in Codex 0.171) is not added beside it.
    expect(parsed.features).toEqual({ web_search: true });
    const hooks = JSON.parse(read(join(dir(), "hooks.json")));
    expect(hooks.note).toBe("kept");
    expect(hooks.hooks.Stop[0]).toEqual(USER_HOOKS.hooks.Stop[0]);
    expect(hooks.hooks.Stop[1].hooks[0].command).toBe(`${process.execPath} ${join(ROOT, "cli.ts")} hook`);
    expect(Object.keys(hooks.hooks).sort()).toEqual(["PostToolUse", "PreToolUse", "SessionStart", "Stop", "UserPromptSubmit"]);
    // The edit hook (edit collisions) before and after apply_patch, a matcher group of its own; before an
    // edit and after a shell command (Bash in Codex's hooks) behind the shell's stake-file test, which
    // reads the session id from the hook's input.
    const editCommand = `${process.execPath} ${join(ROOT, "cli.ts")} hook --edits`;
    const editGroup = (matcher: string, command: string) => ({ matcher, hooks: [{ type: "command", command, timeout: 5 }] });
    expect(hooks.hooks.PreToolUse).toEqual([editGroup("^(apply_patch|Edit|Write)$", stakeGatedInputCommand(editCommand))]);
    expect(hooks.hooks.PostToolUse.slice(1)).toEqual([editGroup("^(apply_patch|Edit|Write)$", editCommand), editGroup("^Bash$", shellGatedInputCommand(editCommand))]);
    // Each added hook is trusted under its own place and its own command: the Stop one is the second group, the post-edit ones PostToolUse's second and third.
    expect(Object.keys(parsed.hooks.state).sort()).toEqual(
      ["post_tool_use:0:0", "post_tool_use:1:0", "post_tool_use:2:0", "pre_tool_use:0:0", "session_start:0:0", "stop:1:0", "user_prompt_submit:0:0"].map((k) => `${join(dir(), "hooks.json")}:${k}`).sort(),
    );
    expect(parsed.hooks.state[`${join(dir(), "hooks.json")}:pre_tool_use:0:0`].trusted_hash).toBe(codexHookHash("PreToolUse", stakeGatedInputCommand(editCommand), 5, "^(apply_patch|Edit|Write)$"));
    expect(parsed.hooks.state[`${join(dir(), "hooks.json")}:post_tool_use:2:0`].trusted_hash).toBe(codexHookHash("PostToolUse", shellGatedInputCommand(editCommand), 5, "^Bash$"));
    expect(backups(dir())).toHaveLength(2);

    const before = [read(configPath()), read(join(dir(), "hooks.json"))];
    const second = await install("codex");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("claude-peers is already installed for Codex CLI");
    expect([read(configPath()), read(join(dir(), "hooks.json"))]).toEqual(before);
    expect(backups(dir())).toHaveLength(2);
  });

  test("uninstall gives back the user's config.toml byte for byte and keeps their hooks", async () => {
    put(configPath(), USER_CONFIG);
    put(join(dir(), "hooks.json"), JSON.stringify(USER_HOOKS));
    expect((await install("codex")).code).toBe(0);
    const removed = await uninstall("codex");
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain("The claude-peers broker keeps running until you stop it: bun cli.ts kill-broker");
    expect(read(configPath())).toBe(USER_CONFIG);
    expect(JSON.parse(read(join(dir(), "hooks.json")))).toEqual(USER_HOOKS);
    expect((await uninstall("codex")).stdout).toContain("claude-peers is not installed for Codex CLI");
  });

  test("an install of the earlier edit hooks (Bun before every patch, no shell test) is upgraded in place: its hooks replaced, their trust with them", async () => {
    put(configPath(), USER_CONFIG);
    put(join(dir(), "hooks.json"), JSON.stringify(USER_HOOKS));
    expect((await install("codex")).code).toBe(0);
    const now = { config: read(configPath()), hooks: read(join(dir(), "hooks.json")) };
    // What the earlier install wrote: the plain edit command before and after, with Bash in the post matcher.
    const editCommand = `${process.execPath} ${join(ROOT, "cli.ts")} hook --edits`;
    const old = JSON.parse(now.hooks);
    old.hooks.PreToolUse = [{ matcher: "^(apply_patch|Edit|Write)$", hooks: [{ type: "command", command: editCommand, timeout: 5 }] }];
    old.hooks.PostToolUse = [old.hooks.PostToolUse[0], { matcher: "^(apply_patch|Edit|Write|Bash)$", hooks: [{ type: "command", command: editCommand, timeout: 5 }] }];
    // ...and trusted them as such: the pre-edit hook's hash of that command, no third PostToolUse group.
    const stanza = (k: string) => `[hooks.state.${JSON.stringify(`${join(dir(), "hooks.json")}:${k}`)}]\ntrusted_hash = `;
    const hashOf = (k: string) => now.config.split(stanza(k))[1]!.split("\n")[0]!;
    const oldConfig = now.config
      .replace(`\n${stanza("post_tool_use:2:0")}${hashOf("post_tool_use:2:0")}\n`, "\n")
      .replace(`${stanza("pre_tool_use:0:0")}${hashOf("pre_tool_use:0:0")}`, `${stanza("pre_tool_use:0:0")}${JSON.stringify(codexHookHash("PreToolUse", editCommand, 5, "^(apply_patch|Edit|Write)$"))}`);
    expect(oldConfig).not.toContain("post_tool_use:2:0");
    put(configPath(), oldConfig);
    put(join(dir(), "hooks.json"), JSON.stringify(old, null, 2));
    // doctor says so, and what to run.
    const check = otherAgentChecks({ home: t.home, env: t.env, bun: process.execPath, root: ROOT }).find((c) => c.name === "codex");
    expect(check).toMatchObject({ status: "warn", fix: "bun cli.ts install codex" });
    expect(check!.detail).toContain("claude-peers is installed, but not as this checkout writes it now");
    const again = await install("codex");
    expect(again.code).toBe(0);
    expect(read(configPath())).toBe(now.config);
    expect(JSON.parse(read(join(dir(), "hooks.json")))).toEqual(JSON.parse(now.hooks));
    // And uninstall takes the new ones away as it took the old ones.
    expect((await uninstall("codex")).code).toBe(0);
    expect(JSON.parse(read(join(dir(), "hooks.json")))).toEqual(USER_HOOKS);
  });

  test("with no config yet it creates both files, turns hooks on, and honours CODEX_HOME", async () => {
    const home = join(t.dir, "elsewhere");
    const r = await runCli({ ...t, env: { ...t.env, CODEX_HOME: home } }, ["install", "codex"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`created ${join(home, "config.toml")}`);
    expect((Bun.TOML.parse(read(join(home, "config.toml"))) as any).features).toEqual({ hooks: true });
    expect(existsSync(dir())).toBe(false);
  });

  test("--dry-run prints the change as a diff and writes nothing", async () => {
    put(configPath(), USER_CONFIG);
    const r = await install("codex", "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`--- ${configPath()}\n+++ ${configPath()}\n`);
    expect(r.stdout).toContain("+ [mcp_servers.claude-peers]");
    expect(r.stdout).toContain(`--- ${join(dir(), "hooks.json")} (new file)`);
    expect(r.stdout).toContain("dry run: 2 files would change; nothing was written");
    expect(read(configPath())).toBe(USER_CONFIG);
    expect(readdirSync(dir())).toEqual(["config.toml"]);
  });

  test.each([
    ["TOML that does not parse", 'model = "o3\n', "is not valid TOML"],
    [
      "a claude-peers entry of the user's own",
      '[mcp_servers.claude-peers]\ncommand = "mine"\n',
      "already has [mcp_servers.claude-peers], not written by `bun cli.ts install codex`",
    ],
    ["hooks turned off", "[features]\nhooks = false\n", "turns Codex's hooks off (features.hooks = false)"],
    ["a hooks table the block cannot extend", 'hooks = { state = "x" }\n', "could not be merged automatically"],
  ])("%s: a clear error, exit 1, and the file untouched", async (_, text, message) => {
    put(configPath(), text);
    const r = await install("codex");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("nothing was changed");
    expect(read(configPath())).toBe(text);
    expect(readdirSync(dir())).toEqual(["config.toml"]);
  });

  test("a hooks.json that is not JSON is refused, and neither file changes", async () => {
    put(configPath(), USER_CONFIG);
    put(join(dir(), "hooks.json"), "{ nope");
    const r = await install("codex");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir(), "hooks.json")} is not valid JSON`);
    expect(read(configPath())).toBe(USER_CONFIG);
    expect(read(join(dir(), "hooks.json"))).toBe("{ nope");
  });
});

describe("install gemini", () => {
  const path = () => join(t.home, ".gemini", "settings.json");
  const USER = {
    theme: "Dracula",
    mcpServers: { other: { command: "other-server" } },
    hooks: { AfterTool: [{ matcher: "write_file", hooks: [{ type: "command", command: "prettier --write" }] }] },
  };

  test("merges mcpServers and the four hooks into settings.json, keeps the rest; idempotent; uninstall gives the user's settings back", async () => {
    put(path(), JSON.stringify(USER, null, 2));
    expect((await install("gemini")).code).toBe(0);
    const s = JSON.parse(read(path()));
    expect(s.theme).toBe("Dracula");
    expect(s.mcpServers.other).toEqual(USER.mcpServers.other);
    expect(s.mcpServers["claude-peers"]).toEqual({ command: process.execPath, args: [join(ROOT, "server.ts")], env: { CLAUDE_PEERS_AGENT: "gemini" } });
    expect(Object.keys(s.hooks).sort()).toEqual(["AfterAgent", "AfterTool", "BeforeAgent", "BeforeTool", "SessionStart"]);
    expect(s.hooks.AfterTool[0]).toEqual(USER.hooks.AfterTool[0]);
    // The edit hook (edit collisions) before and after Gemini's file-writing tools.
    const editCommand = `${process.execPath} ${join(ROOT, "cli.ts")} hook --edits`;
    const editHook = { matcher: "^(write_file|replace)$", hooks: [{ type: "command", name: "claude-peers-edits", command: editCommand, timeout: 5000 }] };
    // Before an edit, Bun only when the edit names a file in the session's stake file; after a shell command, only when others have a stake.
    expect(s.hooks.BeforeTool).toEqual([{ ...editHook, hooks: [{ ...editHook.hooks[0], command: stakeGatedCommand("GEMINI_SESSION_ID", editCommand) }] }]);
    expect(s.hooks.AfterTool[2]).toEqual(editHook);
    expect(s.hooks.AfterTool[3]).toEqual({ matcher: "^run_shell_command$", hooks: [{ ...editHook.hooks[0], command: shellGatedCommand("GEMINI_SESSION_ID", editCommand) }] });
    const hook = `${process.execPath} ${join(ROOT, "cli.ts")} hook`;
    expect(s.hooks.SessionStart[0].hooks[0]).toEqual({ type: "command", name: "claude-peers", command: hook, timeout: 5000 });
    // The frequent ones test the session's mail flag in the shell first, as the plugin's do.
    expect(s.hooks.AfterTool[1].hooks[0]).toEqual({
      type: "command",
      name: "claude-peers",
      command: `[ -n "$GEMINI_SESSION_ID" ] && [ -d "$HOME/.claude-peers-mail" ] && [ ! -e "$HOME/.claude-peers-mail/$GEMINI_SESSION_ID" ] && exit 0; exec ${hook}`,
      timeout: 5000,
    });
    const text = read(path());
    expect((await install("gemini")).stdout).toContain("already installed for Gemini CLI");
    expect(read(path())).toBe(text);
    expect(backups(dirname(path()))).toHaveLength(1);

    expect((await uninstall("gemini")).code).toBe(0);
    expect(JSON.parse(read(path()))).toEqual(USER);
  });

  test.each([
    ["comments (Gemini CLI allows them; claude-peers will not rewrite them)", '{\n  // my theme\n  "theme": "Dracula"\n}\n', "is not valid JSON"],
    ["a claude-peers server of the user's own", JSON.stringify({ mcpServers: { "claude-peers": { command: "mine" } } }), "already has mcpServers.claude-peers"],
    ["hooks turned off", JSON.stringify({ hooksConfig: { enabled: false } }), "turns Gemini CLI's hooks off"],
    ["hooks that are not an object of events", JSON.stringify({ hooks: [] }), '"hooks" is not an object of hook events'],
  ])("settings.json with %s: refused, untouched", async (_, text, message) => {
    put(path(), text);
    const r = await install("gemini");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(read(path())).toBe(text);
  });
});

test("the mail-flag test starts Bun only with a flag for the session, or without the id or the folder (it fails open)", () => {
  const command = flaggedHookCommand({ home: t.home, env: {}, bun: "/nonexistent/bun", root: ROOT }, "GEMINI_SESSION_ID");
  const sh = (env: Record<string, string>) => Bun.spawnSync(["/bin/sh", "-c", command], { env: { HOME: t.home, PATH: "/usr/bin:/bin", ...env } }).exitCode;
  expect(sh({ GEMINI_SESSION_ID: "s-1" })).toBe(127); // no flag folder yet: exec bun (here a missing one: 127)
  mkdirSync(join(t.home, ".claude-peers-mail"));
  expect(sh({ GEMINI_SESSION_ID: "s-1" })).toBe(0); // no flag: no mail, Bun is not started
  expect(sh({})).toBe(127); // no session id
  writeFileSync(join(t.home, ".claude-peers-mail", "s-1"), "");
  expect(sh({ GEMINI_SESSION_ID: "s-1" })).toBe(127); // mail may wait
});

describe("the edit hooks' stake-file tests in the shell: Bun only for a file in the list, or in any doubt (they fail open)", () => {
  const stakes = () => join(t.home, ".claude-peers-edits", "stakes-s-1");
  /** The command with a stand-in for Bun that prints what it read: exit 3 when it ran. */
  const run = (command: (idVar: string, cmd: string) => string, input: string, env: Record<string, string>) => {
    const r = Bun.spawnSync(["/bin/sh", "-c", command("GEMINI_SESSION_ID", "cat")], { stdin: new TextEncoder().encode(input), env: { HOME: t.home, PATH: "/usr/bin:/bin", ...env } });
    return r.stdout.toString() === input ? "bun" : r.exitCode === 0 && r.stdout.length === 0 ? "skipped" : `exit ${r.exitCode}: ${r.stdout}`;
  };
  const edit = (path: string) => JSON.stringify({ session_id: "s-1", tool_name: "write_file", tool_input: { file_path: path, content: "x" } });
  const id = { GEMINI_SESSION_ID: "s-1" };

  test("before an edit", () => {
    rmSync(join(t.home, ".claude-peers-edits"), { recursive: true, force: true });
    expect(run(stakeGatedCommand, edit("/r/src/a.ts"), id)).toBe("bun"); // no stake file (a new session, no broker): Bun
    mkdirSync(join(t.home, ".claude-peers-edits"));
    writeFileSync(stakes(), "");
    expect(run(stakeGatedCommand, edit("/r/src/a.ts"), id)).toBe("skipped"); // nobody else has a stake
    expect(run(stakeGatedCommand, edit("/r/src/a.ts"), {})).toBe("bun"); // no session id
    writeFileSync(stakes(), 'b.ts\nwe\\\\ird \\"q\\".ts\n');
    expect(run(stakeGatedCommand, edit("/r/src/a.ts"), id)).toBe("skipped");
    expect(run(stakeGatedCommand, edit("/r/src/b.ts"), id)).toBe("bun"); // another session edited a b.ts: the input, whole, goes to Bun
    expect(run(stakeGatedCommand, edit("src/b.ts"), id)).toBe("bun"); // relative (Gemini's, Codex's patches)
    const big = (path: string) => JSON.stringify({ session_id: "s-1", tool_name: "write_file", tool_input: { file_path: path, content: "x".repeat(20_000) } });
    expect(run(stakeGatedCommand, big("/r/src/a.ts"), id)).toBe("skipped"); // a large input: grep -F
    expect(run(stakeGatedCommand, big("/r/src/b.ts"), id)).toBe("bun");
    expect(run(stakeGatedCommand, edit('/r/we\\ird "q".ts'), id)).toBe("bun"); // matched as JSON spells it
    chmodSync(stakes(), 0o000);
    if (process.getuid?.() !== 0) expect(run(stakeGatedCommand, edit("/r/src/a.ts"), id)).toBe("bun"); // it cannot be read
    chmodSync(stakes(), 0o600);
  });

  test("after a shell command", () => {
    const shell = JSON.stringify({ session_id: "s-1", tool_name: "run_shell_command", tool_input: { command: "sed -i s/a/b/ a.ts" } });
    rmSync(join(t.home, ".claude-peers-edits"), { recursive: true, force: true });
    expect(run(shellGatedCommand, shell, id)).toBe("bun"); // no stake file
    mkdirSync(join(t.home, ".claude-peers-edits"));
    writeFileSync(stakes(), "");
    expect(run(shellGatedCommand, shell, id)).toBe("skipped"); // nobody else has a stake in the repository
    expect(run(shellGatedCommand, shell, {})).toBe("bun");
    writeFileSync(stakes(), "b.ts\n");
    expect(run(shellGatedCommand, shell, id)).toBe("bun");
  });

  test("with the session id read from the input (Codex), only an id that is safe in a path", () => {
    const pre = (_: string, cmd: string) => stakeGatedInputCommand(cmd);
    const post = (_: string, cmd: string) => shellGatedInputCommand(cmd);
    const patch = (sessionId: unknown, file: string) =>
      JSON.stringify({ session_id: sessionId, hook_event_name: "PreToolUse", tool_name: "apply_patch", tool_input: { command: `*** Begin Patch\n*** Update File: ${file}\n@@\n-a\n+b\n*** End Patch\n` } });
    const shell = (sessionId: unknown) => JSON.stringify({ session_id: sessionId, tool_name: "Bash", tool_input: { command: "sed -i s/a/b/ a.ts" } });
    rmSync(join(t.home, ".claude-peers-edits"), { recursive: true, force: true });
    expect([run(pre, patch("s-1", "src/a.ts"), {}), run(post, shell("s-1"), {})]).toEqual(["bun", "bun"]); // no stake file
    mkdirSync(join(t.home, ".claude-peers-edits"));
    writeFileSync(stakes(), "");
    expect([run(pre, patch("s-1", "src/a.ts"), {}), run(post, shell("s-1"), {})]).toEqual(["skipped", "skipped"]);
    // Pretty-printed input (a space after the colon) reads the same.
    expect(run(pre, JSON.stringify({ session_id: "s-1", tool_input: { command: "x" } }, null, 1), {})).toBe("skipped");
    // No id, an id that is not a string, one that would leave the folder, one with a shell's specials: Bun.
    writeFileSync(join(t.home, "stakes-x"), "");
    for (const bad of [undefined, 7, null, "../stakes-x", "s-1/../../stakes-x", "s-1 *", "$(id)", ""]) {
      expect([run(pre, patch(bad, "src/a.ts"), {}), run(post, shell(bad), {})]).toEqual(["bun", "bun"]);
    }
    // The id is the input's own, not one a patch's text spells (JSON escapes its quotes).
    expect(run(pre, patch("s-2", 'x "session_id":"s-1"'), {})).toBe("bun");
    writeFileSync(stakes(), "b.ts\n");
    expect(run(pre, patch("s-1", "src/a.ts"), {})).toBe("skipped");
    expect(run(pre, patch("s-1", "src/b.ts"), {})).toBe("bun");
    expect(run(post, shell("s-1"), {})).toBe("bun");
  });
});

describe("install claude", () => {
  test("the real claude mcp list reports the installed server Connected; its settings get the plugin's hooks; uninstall removes both", async () => {
    const world = openWorld(); // the server starts a broker: the world stops it
    try {
      const cli = claudeCli(world.t);
      const settingsPath = join(cli.env.CLAUDE_CONFIG_DIR!, "settings.json");
      put(settingsPath, JSON.stringify({ model: "opus" }));
      const r = await runCli({ ...world.t, env: cli.env }, ["install", "claude"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("The Agent Skill (SKILL.md) is not installed by this");
      const list = await cli.run("mcp", "list");
      expect(list.out).toMatch(/claude-peers: .*server\.ts - \S* ?Connected/);
      const settings = JSON.parse(read(settingsPath));
      expect(settings.model).toBe("opus");
      expect(Object.keys(settings.hooks).sort()).toEqual(["PostToolUse", "PreToolUse", "SessionStart", "Stop", "UserPromptSubmit"]);
      const commands = JSON.stringify(settings.hooks);
      expect(commands).not.toContain("CLAUDE_PLUGIN_ROOT");
      expect(commands).toContain(`${join(ROOT, "cli.ts")} hook --wait`);
      // The edit hook on Claude Code's editing tools, before and after each edit.
      for (const event of ["PreToolUse", "PostToolUse"]) {
        const edits = settings.hooks[event].find((g: { matcher?: string }) => g.matcher === "Edit|Write|MultiEdit|NotebookEdit");
        expect(edits.hooks[0].command).toEndWith(`${join(ROOT, "cli.ts")} hook --edits`);
      }

      expect((await runCli({ ...world.t, env: cli.env }, ["uninstall", "claude"])).code).toBe(0);
      expect(JSON.parse(read(settingsPath))).toEqual({ model: "opus" });
      expect((await cli.run("mcp", "list")).out).not.toContain("claude-peers");
    } finally {
      await world.close();
    }
  });

  test("a user's own `claude mcp add` entry is refused, never taken over; uninstall leaves it as it was", async () => {
    const env = { ...t.env, CLAUDE_CONFIG_DIR: join(t.dir, "claude-own-entry") };
    const mcpPath = join(env.CLAUDE_CONFIG_DIR, ".claude.json");
    // What `claude mcp add --scope user --transport stdio claude-peers -- bun /path/to/server.ts` writes.
    const own = JSON.stringify({ mcpServers: { "claude-peers": { type: "stdio", command: "bun", args: [join(ROOT, "server.ts")], env: {} } } });
    put(mcpPath, own);
    const r = await runCli({ ...t, env }, ["install", "claude"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("of your own (`claude mcp add`), which install will not take over");
    expect(read(mcpPath)).toBe(own);
    expect((await runCli({ ...t, env }, ["uninstall", "claude"])).code).toBe(0);
    expect(read(mcpPath)).toBe(own);
  });

  test("refused while the claude-peers plugin is enabled: sessions would run two servers", async () => {
    const settings = JSON.stringify({ enabledPlugins: { "peers@claude-peers": true } });
    const env = { ...t.env, CLAUDE_CONFIG_DIR: join(t.dir, "claude-config") };
    put(join(env.CLAUDE_CONFIG_DIR, "settings.json"), settings);
    const r = await runCli({ ...t, env }, ["install", "claude"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the claude-peers plugin is enabled");
    expect(read(join(env.CLAUDE_CONFIG_DIR, "settings.json"))).toBe(settings);
    expect(existsSync(join(env.CLAUDE_CONFIG_DIR, ".claude.json"))).toBe(false);
  });
});

test.each([[[]], [["cursor"]], [["codex", "gemini"]]])("install %j is a usage error naming the agents", async (args) => {
  const r = await install(...args);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("install needs one agent: claude, codex, gemini");
});

describe("doctor on other agents", () => {
  const doctorLine = async (agent: string) => {
    const r = await runCli(t, ["doctor", "--json"]);
    return (JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks.find((c) => c.name === agent);
  };

  test("says nothing of an agent with no config folder; not installed, installed, or installed but stale (a hook moved: Codex trusts by place)", async () => {
    expect(await doctorLine("codex")).toBeUndefined();
    mkdirSync(join(t.home, ".codex"));
    expect(await doctorLine("codex")).toMatchObject({ status: "info", detail: "Codex CLI: claude-peers not installed (`bun cli.ts install codex` adds it)" });
    expect((await install("codex")).code).toBe(0);
    expect(await doctorLine("codex")).toMatchObject({ status: "ok" });
    // The user puts a hook of their own before claude-peers' PostToolUse one: its trust no longer matches its place.
    const hooksPath = join(t.home, ".codex", "hooks.json");
    const hooks = JSON.parse(read(hooksPath));
    hooks.hooks.PostToolUse.unshift({ hooks: [{ type: "command", command: "true" }] });
    put(hooksPath, JSON.stringify(hooks));
    expect(await doctorLine("codex")).toMatchObject({ status: "warn", fix: "bun cli.ts install codex" });
    expect((await install("codex")).code).toBe(0);
    expect(await doctorLine("codex")).toMatchObject({ status: "ok" });
    expect(JSON.parse(read(hooksPath)).hooks.PostToolUse[0].hooks[0].command).toBe("true"); // the user's hook stays first
  });
});
