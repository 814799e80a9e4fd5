/**
 * The Claude Code plugin in this repository (.claude-plugin/, hooks/hooks.json, skills/), checked
 * by the real Claude Code CLI (2.1.332, offline, its own config dir): `claude plugin validate`
 * passes with --strict, `plugin marketplace add` + `plugin install` give a session the MCP server
 * (Connected), the four hooks and the skill, and in a real `claude -p` session (API-key auth, so
 * no channels; a local fake model API) the hooks bring peer mail into the model's context.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { PLUGIN_NAME } from "../shared/channel-flag.ts";
import { HOOK_EVENTS } from "../shared/hook/run.ts";
import { SERVER_NAME } from "../shared/instructions.ts";
import { ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { messageState, runningBroker } from "./helpers/broker.ts";
import { suiteClaudeCli } from "./helpers/claude-cli.ts";
import { ROOT } from "./helpers/env.ts";
import { startFakeAnthropic } from "./helpers/fake-anthropic.ts";
import { pidAlive, waitFor } from "./helpers/wait.ts";

const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));
const MARKETPLACE = readJson(".claude-plugin/marketplace.json").name as string;
const HOOK_COMMAND = 'bun "${CLAUDE_PLUGIN_ROOT}/cli.ts" hook';

describe("Claude Code plugin", () => {
  const cli = suiteClaudeCli();
  const claude = (...args: string[]) => cli.run(...args);

  test("the manifests name what the code expects: plugin peers, server claude-peers, the hook's events", () => {
    const plugin = readJson(".claude-plugin/plugin.json");
    expect(plugin.name).toBe(PLUGIN_NAME);
    expect(plugin.version).toBe(readJson("package.json").version); // Claude Code caches installs by version
    expect(plugin.mcpServers).toEqual({ [SERVER_NAME]: { command: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] } });
    expect(readJson(".claude-plugin/marketplace.json").plugins).toEqual([expect.objectContaining({ name: PLUGIN_NAME, source: "./" })]);
    const hooks = readJson("hooks/hooks.json").hooks as Record<string, Array<{ hooks: Array<{ type: string; command: string }> }>>;
    expect(Object.keys(hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    for (const entries of Object.values(hooks)) expect(entries.flatMap((e) => e.hooks)).toEqual([{ type: "command", command: HOOK_COMMAND, timeout: 5 }] as never);
    // One skill text: the repository's SKILL.md is the plugin's skill.
    expect(realpathSync(join(ROOT, "SKILL.md"))).toBe(realpathSync(join(ROOT, "skills", "claude-peers", "SKILL.md")));
  });

  test.each([
    ["the repository (its marketplace)", "", "marketplace"],
    ["the plugin manifest", ".claude-plugin/plugin.json", "plugin"],
  ])("claude plugin validate --strict on %s passes: no errors, no warnings; it sees the server, the hooks and the skill", async (_, path, type) => {
    const r = await claude("plugin", "validate", "--strict", "--json", join(ROOT, path));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.success).toBe(true);
    expect(report.manifest).toMatchObject({ type, errors: [], warnings: [] });
    expect(report.provides.mcpServers).toEqual([{ name: SERVER_NAME, type: "stdio", target: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] }]);
    expect(report.provides.hooks.map((h: { event: string }) => h.event).sort()).toEqual([...HOOK_EVENTS].sort());
    for (const hook of report.provides.hooks) expect(hook).toMatchObject({ type: "command", command: HOOK_COMMAND });
    expect(report.provides.skills).toEqual([`${PLUGIN_NAME}:claude-peers`]);
  });

  test("marketplace add + install, as README says: the plugin's server is Connected, its hooks and skill are loaded", async () => {
    // The marketplace folder holds the manifests as they are and links the code: a local plugin
    // is read in place, but install also copies its folder, and a checkout's node_modules is
    // ~470 MB (the Claude Code binary among it) that this test need not copy each run.
    const market = join(cli.t.dir, "marketplace");
    mkdirSync(market);
    for (const dir of [".claude-plugin", "hooks", "skills"]) cpSync(join(ROOT, dir), join(market, dir), { recursive: true, dereference: true });
    for (const entry of ["server.ts", "cli.ts", "shared", "package.json", "node_modules"]) symlinkSync(join(ROOT, entry), join(market, entry));

    const add = await claude("plugin", "marketplace", "add", market);
    expect(add.out).toContain(`Successfully added marketplace: ${MARKETPLACE}`);
    expect(add.code).toBe(0);
    const install = await claude("plugin", "install", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.out).toContain(`Successfully installed plugin: ${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.code).toBe(0);

    // `claude mcp list` exits 0 even when a server fails: the verdict is in the text.
    const list = await claude("mcp", "list");
    expect(list.out).toContain(`plugin:${PLUGIN_NAME}:${SERVER_NAME}: bun ${market}/server.ts - ✔ Connected`);
    expect(list.out).not.toMatch(/Failed/);

    const details = await claude("plugin", "details", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(details.code).toBe(0);
    expect(details.out).toMatch(/Hooks \(4\)\s+SessionStart, UserPromptSubmit, PostToolUse, Stop/);
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
        toolContext: afterTool.includes(`PostToolUse:${tool} hook additional context: claude-peers: 1 message from other Claude Code sessions`),
        toolMail: afterTool.includes("M1: the API moved to /v2"),
        stopFeedback: afterStop.includes("Stop hook feedback:\\nclaude-peers: 1 message from other Claude Code sessions"),
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
