/**
 * The real Gemini CLI (0.61.0, offline: GOOGLE_GEMINI_BASE_URL points it at a local fake Gemini
 * API, with an API key) with `bun cli.ts install gemini` in its settings: its session is a peer
 * that runs in gemini, calls list_peers and send_message, and the mail a real Claude Code session
 * sends it reaches Gemini's model through its AfterTool hook, once; mail that comes at the end of
 * the turn comes back through AfterAgent as a new prompt, and never twice.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HistoryResultSchema, ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { GEMINI, claudeSends, runAgent, type AgentRun } from "./helpers/agent-cli.ts";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeGemini } from "./helpers/fake-gemini.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const world = openWorld();
const { t } = world;
afterAll(() => world.close());

/** The user's own settings before install: API-key auth (the CLI takes the base URL from the environment) and telemetry off. */
const USER_SETTINGS = {
  security: { auth: { selectedType: "gemini-api-key" } },
  telemetry: { enabled: false },
  privacy: { usageStatisticsEnabled: false },
  general: { disableAutoUpdate: true, disableUpdateNag: true },
};

describe("a Gemini CLI session as a peer", () => {
  let broker: TestBroker;
  let run: AgentRun;
  let afterListPeers = "";
  let geminiAgent: string | undefined;
  const mailText = "M1: hello Gemini, this is Claude Code";
  const lateText = "M3: one more thing, Gemini";

  test("bun cli.ts install gemini keeps the user's settings, and gemini -p runs a session that talks with a Claude Code session", async () => {
    broker = await startBroker(t);
    const desk = await world.start({ name: "desk" });
    const live = async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers;
    const model = startFakeGemini(async (n, body) => {
      if (n === 1) {
        await waitFor(async () => (await live()).find((p) => p.name === "gemini-peer"), "Gemini's server to register", 20_000);
        await claudeSends(t, "cc-sender", "gemini-peer", mailText);
        return { tool: "list_peers" };
      }
      if (n === 2) {
        afterListPeers = JSON.stringify(body);
        geminiAgent = (await live()).find((p) => p.name === "gemini-peer")?.agent;
        return { tool: "send_message", input: { to: "desk", message: "M2: hi desk, Gemini here" } };
      }
      if (n === 3) {
        // The turn is about to end: mail sent now is for the AfterAgent hook.
        SendResultSchema.parse(await (await broker.post("/send", { to: "gemini-peer", text: lateText })).json());
      }
      return { text: "Done." };
    });
    try {
      mkdirSync(join(t.home, ".gemini"), { recursive: true });
      writeFileSync(join(t.home, ".gemini", "settings.json"), JSON.stringify(USER_SETTINGS, null, 2));
      const installed = await runCli(t, ["install", "gemini"]);
      expect(installed.stderr).toBe("");
      expect(installed.code).toBe(0);
      const settings = JSON.parse(readFileSync(join(t.home, ".gemini", "settings.json"), "utf8"));
      expect(settings).toMatchObject({ ...USER_SETTINGS, mcpServers: { "claude-peers": { env: { CLAUDE_PEERS_AGENT: "gemini" } } } });

      const env = {
        ...t.env,
        GEMINI_API_KEY: "fake-key",
        GOOGLE_GEMINI_BASE_URL: model.baseUrl,
        // The user trusts this folder (else Gemini CLI turns yolo back into asking, which -p cannot).
        GEMINI_CLI_TRUST_WORKSPACE: "true",
        CLAUDE_PEERS_NAME: "gemini-peer",
      };
      run = await runAgent(["node", GEMINI, "-p", "check in with your peers", "-m", "gemini-2.5-flash", "--approval-mode", "yolo"], env, t.home);
      expect(run.stderr).not.toContain("fake model:");
      expect(run.code).toBe(0);
    } finally {
      model.stop();
    }

    expect(geminiAgent).toBe("gemini");
    // The flag folder exists, so AfterTool's shell test was in force: the mail it delivered had its session's flag on.
    expect(existsSync(join(t.home, ".claude-peers-mail"))).toBe(true);
    expect(afterListPeers).toContain("desk (id p-");
    expect(afterListPeers).toContain("runs in claude-code");
    expect(afterListPeers).toContain("claude-peers: 1 message from other agent sessions");
    expect(afterListPeers).toContain(mailText);
    expect(afterListPeers).toContain(JSON.stringify('from="cc-sender"').slice(1, -1)); // the envelope's attribute, inside the JSON body
    const m2 = await desk.waitForChannel((m) => m.content === "M2: hi desk, Gemini here", "Gemini's message to desk");
    expect(m2.meta.from_name).toBe("gemini-peer");

    // AfterAgent blocked the stop once, with the late mail as the new prompt; the next AfterAgent (stop_hook_active) let it end.
    const prompts = model.requests.map((r) => JSON.stringify(r));
    expect(prompts.length).toBe(4);
    // No mail yet at SessionStart and BeforeAgent: those hooks said nothing.
    expect(prompts[0]).not.toContain("from other agent sessions");
    expect(prompts[3]).toContain(lateText);
    expect(prompts.filter((p) => p.includes(lateText)).length).toBe(1);
  });

  test("each message was handed over once and marked read", async () => {
    const { messages } = HistoryResultSchema.parse(await (await broker.post("/history", { limit: 10 })).json());
    for (const text of [mailText, lateText]) expect(messages.find((m) => m.text === text)).toMatchObject({ to_name: "gemini-peer", state: "read" });
    expect(messages.find((m) => m.from_name === "gemini-peer")).toMatchObject({ to_name: "desk", text: "M2: hi desk, Gemini here" });
  });
});
