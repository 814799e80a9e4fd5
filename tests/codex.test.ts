/**
 * The real Codex CLI (0.171.0, offline: a `[model_providers]` entry points it at a local fake
 * Responses API) with `bun cli.ts install codex` in its config: its session is a peer that runs in
 * codex, calls list_peers and send_message, and the mail a real Claude Code session sends it reaches
 * Codex's model through its PostToolUse hook, once; mail that comes at the end of the turn comes back
 * through its Stop hook, which keeps Codex working once, and never twice.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { HistoryResultSchema, ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { CODEX, claudeSends, runAgent, type AgentRun } from "./helpers/agent-cli.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeResponses } from "./helpers/fake-openai-responses.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const world = openWorld();
const { t } = world;
afterAll(() => world.close());

/** The user's own Codex config before install: the fake model provider, and a comment install must keep. */
function writeUserConfig(baseUrl: string): string {
  mkdirSync(join(t.home, ".codex"), { recursive: true });
  const text = [
    "# my Codex settings",
    'model = "fake-model"',
    'model_provider = "fake"',
    "",
    "[model_providers.fake]",
    'name = "fake"',
    `base_url = "${baseUrl}"`,
    'env_key = "FAKE_OPENAI_KEY"',
    'wire_api = "responses"',
    "",
  ].join("\n");
  writeFileSync(join(t.home, ".codex", "config.toml"), text);
  // A hook of the user's own comes first: claude-peers' PostToolUse hook is the second, and trusted as such.
  const userHook = { hooks: { PostToolUse: [{ matcher: "^Bash$", hooks: [{ type: "command", command: "true", timeout: 3 }] }] } };
  writeFileSync(join(t.home, ".codex", "hooks.json"), JSON.stringify(userHook, null, 2));
  return text;
}

describe("a Codex CLI session as a peer", () => {
  let broker: TestBroker;
  let afterListPeers = "";
  let codexAgent: string | undefined;
  let run: AgentRun;
  const mailText = "M1: hello Codex, this is Claude Code";
  const lateText = "M3: one more thing, Codex";

  test("bun cli.ts install codex keeps the user's config, and codex exec runs a session that talks with a Claude Code session", async () => {
    broker = await startBroker(t);
    const desk = await world.start({ name: "desk" }); // a live session Codex writes to
    const model = startFakeResponses(async (n, body) => {
      if (n === 1) {
        // Codex's server is up (its tools are offered): a real Claude Code session writes to it.
        await waitFor(
          async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers.find((p) => p.name === "codex-peer"),
          "Codex's server to register",
          20_000,
        );
        await claudeSends(t, "cc-sender", "codex-peer", mailText);
        return { tool: "list_peers" };
      }
      if (n === 2) {
        afterListPeers = JSON.stringify(body);
        codexAgent = ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers.find((p) => p.name === "codex-peer")?.agent;
        return { tool: "send_message", input: { to: "desk", message: "M2: hi desk, Codex here" } };
      }
      if (n === 3) {
        // The turn is about to end: mail sent now is for the Stop hook.
        SendResultSchema.parse(await (await broker.post("/send", { to: "codex-peer", text: lateText })).json());
      }
      return { text: "Done." };
    });
    try {
      const userConfig = writeUserConfig(model.baseUrl);
      const installed = await runCli(t, ["install", "codex"]);
      expect(installed.stderr).toBe("");
      expect(installed.code).toBe(0);
      const config = readFileSync(join(t.home, ".codex", "config.toml"), "utf8");
      expect(config.startsWith(userConfig.trimEnd())).toBe(true);
      expect(config).toContain(`hooks.json:post_tool_use:1:0"]`);
      expect(Bun.TOML.parse(config)).toMatchObject({ model_provider: "fake", mcp_servers: { "claude-peers": { env: { CLAUDE_PEERS_AGENT: "codex" } } } });

      const env = { ...t.env, FAKE_OPENAI_KEY: "sk-fake", CLAUDE_PEERS_NAME: "codex-peer" };
      // No --dangerously-bypass-hook-trust: the hooks run because install trusted them.
      run = await runAgent([CODEX, "exec", "--skip-git-repo-check", "-s", "read-only", "check in with your peers"], env, t.home);
      expect(run.stderr).not.toContain("fake model:");
      expect(run.code).toBe(0);
      // The Stop hook blocked once, with the late mail as what Codex is told; the next Stop (stop_hook_active) let it end.
      const prompts = model.requests.map((r) => JSON.stringify(r));
      expect(prompts.length).toBe(4);
      // No mail yet at SessionStart and the prompt: those hooks said nothing.
      expect(prompts[0]).not.toContain("from other agent sessions");
      expect(prompts[3]).toContain(lateText);
      expect(prompts.slice(0, 3).some((p) => p.includes(lateText))).toBe(false);
    } finally {
      model.stop();
    }

    // list_peers reached the model, naming the agents; the hook added the Claude Code session's mail.
    expect(afterListPeers).toContain("desk (id p-");
    expect(afterListPeers).toContain("runs in claude-code");
    expect(afterListPeers).toContain("claude-peers: 1 message from other agent sessions");
    expect(afterListPeers).toContain(mailText);
    expect(afterListPeers).toContain(JSON.stringify('from="cc-sender"').slice(1, -1)); // the envelope's attribute, inside the JSON body
    expect(codexAgent).toBe("codex");
    // Codex's send_message reached desk.
    const m2 = await desk.waitForChannel((m) => m.content === "M2: hi desk, Codex here", "Codex's message to desk");
    expect(m2.meta.from_name).toBe("codex-peer");
  });

  test("each message was handed over once and marked read", async () => {
    const { messages } = HistoryResultSchema.parse(await (await broker.post("/history", { limit: 10 })).json());
    expect(messages.find((m) => m.text === mailText)).toMatchObject({ from_name: "cc-sender", to_name: "codex-peer", state: "read" });
    expect(messages.find((m) => m.text === lateText)).toMatchObject({ to_name: "codex-peer", state: "read" });
    expect(messages.find((m) => m.from_name === "codex-peer")).toMatchObject({ to_name: "desk", text: "M2: hi desk, Codex here" });
  });
});
