/**
 * The Claude Code plugin in this repository (plugin/: its manifest, hooks, skill and links to the code), checked
 * by the real Claude Code CLI (2.1.332, offline, its own config dir): `claude plugin validate`
 * passes with --strict, `plugin marketplace add` + `plugin install` give a session the MCP server
 * (Connected), the four hooks and the skill — from a local clone and from a git URL, copying and
 * installing what runs (under 70 MB) — and in a real `claude -p` session (API-key auth, so
 * no channels; a local fake model API) the hooks bring peer mail into the model's context.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PLUGIN_NAME } from "../shared/channel-flag.ts";
import { HOOK_EVENTS } from "../shared/hook-events.ts";
import { shellGatedCommand, stakeGatedCommand } from "../shared/cli/install/target.ts";
import { SERVER_NAME } from "../shared/instructions.ts";
import { ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { messageState, runningBroker } from "./helpers/broker.ts";
import { suiteClaudeCli } from "./helpers/claude-cli.ts";
import { ROOT } from "./helpers/env.ts";
import { startFakeAnthropic } from "./helpers/fake-anthropic.ts";
import { serveGit } from "./helpers/git-http.ts";
import { pidAlive, waitFor } from "./helpers/wait.ts";

const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));
const MARKETPLACE = readJson(".claude-plugin/marketplace.json").name as string;
const HOOK_COMMAND = 'bun "${CLAUDE_PLUGIN_ROOT}/cli.ts" hook';
const WAIT_COMMAND = 'bun "${CLAUDE_PLUGIN_ROOT}/cli.ts" hook --wait';
const FLAGGED_HOOK_COMMAND = `[ -n "$CLAUDE_CODE_SESSION_ID" ] && [ -d "$HOME/.claude-peers-mail" ] && [ ! -e "$HOME/.claude-peers-mail/$CLAUDE_CODE_SESSION_ID" ] && exit 0; exec ${HOOK_COMMAND}`;
/** The bun cache this repository's `bun install` filled: the plugin's pinned dependencies are in it. */
const BUN_CACHE = process.env.BUN_INSTALL_CACHE_DIR || join(homedir(), ".bun", "install", "cache");
/** A registry nobody answers on: proof that starting the server fetches nothing. */
const NO_REGISTRY = { BUN_CONFIG_REGISTRY: "http://127.0.0.1:9/", NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/" };

/** Bytes of the files under `dir` (symlinks not followed). */
function diskUsage(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskUsage(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

describe("Claude Code plugin", () => {
  const cli = suiteClaudeCli();
  const claude = (...args: string[]) => cli.run(...args);

  test("the manifests name what the code expects: plugin peers, server claude-peers, the hook's events", () => {
    const plugin = readJson("plugin/.claude-plugin/plugin.json");
    expect(plugin.name).toBe(PLUGIN_NAME);
    expect(plugin.version).toBe(readJson("package.json").version); // Claude Code caches installs by version
    // The plugin's own package.json: the same version (shared/version.ts reads it in an install) and the runtime dependencies only.
    const pluginPackage = readJson("plugin/package.json");
    expect(pluginPackage.version).toBe(readJson("package.json").version);
    expect(pluginPackage.dependencies).toEqual(readJson("package.json").dependencies);
    expect(pluginPackage.devDependencies).toBeUndefined();
    expect(plugin.mcpServers).toEqual({ [SERVER_NAME]: { command: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] } });
    // Claude Code 2.1.332's manifest schema takes channels: [{server, displayName?, userConfig?}].
    expect(plugin.channels).toEqual([{ server: SERVER_NAME, displayName: SERVER_NAME }]);
    expect(readJson(".claude-plugin/marketplace.json").plugins).toEqual([expect.objectContaining({ name: PLUGIN_NAME, source: "./plugin" })]);
    const all = readJson("plugin/hooks/hooks.json").hooks as Record<string, Array<{ matcher?: string; hooks: Array<{ type: string; command: string }> }>>;
    // The edit hook (edit collisions) on Claude Code's editing tools, before and after each edit; the mail hooks apart from it.
    const EDIT_HOOK = { matcher: "Edit|Write|MultiEdit|NotebookEdit", hooks: [{ type: "command", command: 'bun "${CLAUDE_PLUGIN_ROOT}/cli.ts" hook --edits', timeout: 5 }] };
    // Before an edit, the hook's input is grepped for the names in the session's stake file (what others have a stake in) in the shell first.
    const edit = EDIT_HOOK.hooks[0]!.command;
    expect(all.PreToolUse).toEqual([{ ...EDIT_HOOK, hooks: [{ ...EDIT_HOOK.hooks[0]!, command: stakeGatedCommand("CLAUDE_CODE_SESSION_ID", edit) }] }]);
    expect(all.PostToolUse!.filter((g) => g.matcher === EDIT_HOOK.matcher)).toEqual([EDIT_HOOK]);
    // After a shell command, the same hook finds what it changed, unless nobody else has a stake in the repository (an empty stake file).
    expect(all.PostToolUse!.filter((g) => g.matcher === "Bash")).toEqual([{ matcher: "Bash", hooks: [{ type: "command", command: shellGatedCommand("CLAUDE_CODE_SESSION_ID", edit), timeout: 5 }] }] as never);
    const hooks = Object.fromEntries(
      Object.entries(all)
        .map(([event, groups]) => [event, groups.filter((g) => g.matcher !== EDIT_HOOK.matcher && g.matcher !== "Bash")] as const)
        .filter(([, groups]) => groups.length > 0),
    );
    expect(Object.keys(hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    // Every event runs the hook; SessionStart and Stop also start the waiter in the background (asyncRewake), for idle sessions.
    const waiter = { type: "command", command: WAIT_COMMAND, asyncRewake: true, timeout: 86_400 };
    for (const [event, entries] of Object.entries(hooks)) {
      // The frequent events test the session's mail flag from the shell first. SessionStart always runs Bun (it ties a new
      // session id, after /clear, to its session), and so does UserPromptSubmit (it tells the broker a turn began).
      const command = event === "SessionStart" || event === "UserPromptSubmit" ? HOOK_COMMAND : FLAGGED_HOOK_COMMAND;
      const expected = [{ type: "command", command, timeout: 5 }, ...(event === "SessionStart" || event === "Stop" ? [waiter] : [])];
      expect(entries.flatMap((e) => e.hooks)).toEqual(expected as never);
    }
    // One skill text: the repository's SKILL.md is the plugin's skill.
    expect(realpathSync(join(ROOT, "SKILL.md"))).toBe(realpathSync(join(ROOT, "plugin", "skills", "claude-peers", "SKILL.md")));
    // What runs is linked from the plugin folder, so an install copies the code and nothing else.
    for (const entry of ["server.ts", "cli.ts", "broker.ts", "shared"]) expect(realpathSync(join(ROOT, "plugin", entry))).toBe(realpathSync(join(ROOT, entry)));
  });

  test("claude plugin validate --strict on the repository (its marketplace) passes: no errors, no warnings", async () => {
    const r = await claude("plugin", "validate", "--strict", "--json", ROOT);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ success: true, manifest: { type: "marketplace", errors: [], warnings: [] } });
  });

  test("claude plugin validate --strict on the plugin folder passes: no errors, no warnings; it sees the server, the hooks and the skill", async () => {
    const r = await claude("plugin", "validate", "--strict", "--json", join(ROOT, "plugin"));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.success).toBe(true);
    expect(report.manifest).toMatchObject({ type: "plugin", errors: [], warnings: [] });
    expect(report.provides.mcpServers).toEqual([{ name: SERVER_NAME, type: "stdio", target: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] }]);
    expect([...new Set(report.provides.hooks.map((h: { event: string }) => h.event))].sort()).toEqual([...HOOK_EVENTS, "PreToolUse"].sort());
    const edit = `${HOOK_COMMAND} --edits`;
    const commands = [HOOK_COMMAND, FLAGGED_HOOK_COMMAND, WAIT_COMMAND, edit, stakeGatedCommand("CLAUDE_CODE_SESSION_ID", edit), shellGatedCommand("CLAUDE_CODE_SESSION_ID", edit)];
    for (const hook of report.provides.hooks) expect(commands).toContain(hook.command);
    expect(report.provides.skills).toEqual([`${PLUGIN_NAME}:claude-peers`]);
  });

  test("from a git URL marketplace (a clone over smart HTTP): the cache holds what runs and only that, and the server starts from it offline", async () => {
    // A fresh clone of this repository's HEAD, served by git http-backend: what `marketplace add
    // https://github.com/…` fetches, with no network. Claude Code then installs the plugin folder's
    // dependencies in its cache; the bun cache the repository's own `bun install` filled serves them.
    const git = join(cli.t.dir, "git");
    mkdirSync(git);
    expect(Bun.spawnSync(["git", "clone", "-q", "--bare", ROOT, join(git, "claude-peers.git")]).exitCode).toBe(0);
    const server = serveGit(git);
    const config = join(cli.t.dir, "git-install");
    const env = { CLAUDE_CONFIG_DIR: config, BUN_INSTALL_CACHE_DIR: BUN_CACHE };
    try {
      expect((await cli.runWith(env, "plugin", "marketplace", "add", server.url("claude-peers.git"))).code).toBe(0);
      const install = await cli.runWith(env, "plugin", "install", `${PLUGIN_NAME}@${MARKETPLACE}`);
      expect(install.out).toContain(`Successfully installed plugin: ${PLUGIN_NAME}@${MARKETPLACE}`);
    } finally {
      server.stop();
    }
    const cache = join(config, "plugins", "cache", MARKETPLACE, PLUGIN_NAME, readJson("package.json").version);
    const copied = readdirSync(cache).filter((name) => name !== ".in_use"); // Claude Code's own marker
    expect(copied.sort()).toEqual([".claude-plugin", "broker.ts", "bun.lock", "cli.ts", "hooks", "node_modules", "package.json", "server.ts", "shared", "skills"]);
    expect(readdirSync(join(cache, "node_modules")).sort()).not.toEqual(expect.arrayContaining(["typescript", "fast-check", "@anthropic-ai"]));
    const mb = diskUsage(join(config, "plugins")) / 2 ** 20;
    console.log(`plugin install from a git URL: ${mb.toFixed(1)} MB in ${join(config, "plugins")} (cache ${(diskUsage(cache) / 2 ** 20).toFixed(1)} MB)`);
    expect(mb).toBeLessThan(70);
    // No registry reachable: a server that needed to fetch anything at start would fail here.
    const list = await cli.runWith({ CLAUDE_CONFIG_DIR: config, ...NO_REGISTRY }, "mcp", "list");
    expect(list.out).toContain(`plugin:${PLUGIN_NAME}:${SERVER_NAME}: bun ${cache}/server.ts - ✔ Connected`);
  });

  test("from a local clone, as README says: only the plugin folder is copied; the server is Connected, its hooks and skill are loaded", async () => {
    const add = await cli.runWith({ BUN_INSTALL_CACHE_DIR: BUN_CACHE }, "plugin", "marketplace", "add", ROOT);
    expect(add.out).toContain(`Successfully added marketplace: ${MARKETPLACE}`);
    expect(add.code).toBe(0);
    const install = await cli.runWith({ BUN_INSTALL_CACHE_DIR: BUN_CACHE }, "plugin", "install", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.out).toContain(`Successfully installed plugin: ${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.code).toBe(0);
    const plugins = join(cli.env.CLAUDE_CONFIG_DIR!, "plugins");
    const mb = diskUsage(plugins) / 2 ** 20;
    console.log(`plugin install from a local clone: ${mb.toFixed(1)} MB in ${plugins}`);
    expect(mb).toBeLessThan(70);

    // `claude mcp list` exits 0 even when a server fails: the verdict is in the text. A local
    // marketplace's plugin runs in place, from the clone's plugin folder.
    const list = await cli.runWith(NO_REGISTRY, "mcp", "list");
    expect(list.out).toContain(`plugin:${PLUGIN_NAME}:${SERVER_NAME}: bun ${join(ROOT, "plugin")}/server.ts - ✔ Connected`);
    expect(list.out).not.toMatch(/Failed/);

    const details = await claude("plugin", "details", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(details.code).toBe(0);
    expect(details.out).toMatch(/Hooks \(5\)\s+SessionStart, UserPromptSubmit, PreToolUse, PostToolUse, Stop/);
    expect(details.out).toMatch(/Skills \(1\)\s+claude-peers/);
    expect(details.out).toMatch(new RegExp(`MCP servers \\(1\\)\\s+${SERVER_NAME}`));
  });

  // Uses the plugin the test above installed (tests of a file run in order).
  test("a real session with the installed plugin (claude -p, a local fake model API): PostToolUse adds peer mail to the context, Stop blocks once with it", async () => {
    const name = "plugin-session";
    const tool = `mcp__plugin_${PLUGIN_NAME}_${SERVER_NAME}__whoami`;
    const sent: string[] = [];
    let serverPid: number | undefined;
    /** Sends as the operator once the session's server (the plugin's) has registered. */
    const sendWhenLive = async (text: string) => {
      const broker = await runningBroker(cli.t);
      const peer = await waitFor(async () => {
        const { peers } = ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json());
        return peers.find((p) => p.name === name);
      }, `the plugin's server to register as ${name}`, 30_000);
      serverPid = peer.pid;
      sent.push(SendResultSchema.parse(await (await broker.post("/send", { to: name, text })).json()).message.id);
    };
    // Turn 1: mail arrives while the model works, and the model calls a tool of the plugin's server.
    // Turn 2: more mail arrives, and the model ends its turn. Turn 3: after the Stop hook's block.
    const model = startFakeAnthropic(async (n) => {
      if (n === 1) await sendWhenLive("M1: the API moved to /v2");
      if (n === 2) await sendWhenLive("M2: please rebase on main");
      return n === 1 ? { tool } : { text: n === 2 ? "Checked." : "Done." };
    });
    try {
      const env = { ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: name };
      const run = await cli.runWith(env, "-p", "check in with your peers", "--allowedTools", tool);
      expect(run.out).not.toContain("fake model:");
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Done.");
      // What the model was sent after the tool call and after the stop (raw JSON: a newline is \n there).
      const [, afterTool = "", afterStop = ""] = model.requests;
      expect({
        requests: model.requests.length, // 3: one block, then stop_hook_active, so no loop
        toolContext: afterTool.includes(`PostToolUse:${tool} hook additional context: claude-peers: 1 message from other agent sessions`),
        toolMail: afterTool.includes("M1: the API moved to /v2"),
        stopFeedback: afterStop.includes("Stop hook feedback:\\nclaude-peers: 1 message from other agent sessions"),
        stopMail: afterStop.includes("M2: please rebase on main"),
      }).toEqual({ requests: 3, toolContext: true, toolMail: true, stopFeedback: true, stopMail: true });
      for (const id of sent) expect(await messageState(cli.t, id)).toBe("read");
    } finally {
      model.stop();
    }
    // Claude Code ended its MCP server as it exited.
    await waitFor(() => serverPid !== undefined && !pidAlive(serverPid), "the plugin's server.ts to exit");
  });
});
