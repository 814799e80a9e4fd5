/**
 * An idle interactive Claude Code session, woken by a peer's message without channels: the real
 * Claude Code CLI (offline: API-key auth, a local fake model API, its own config dir) runs in a
 * tmux pane with the plugin installed from this repository. After its first turn it sits at the
 * prompt; a peer writes; the plugin wakes it (its monitor, which holds the session; the waiter,
 * asyncRewake, stands by for when no monitor does: tests/hook.test.ts hands over between them),
 * the model answers with send_message, and the answer reaches the peer. When Claude Code exits,
 * the waiter is gone too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { ListPeersResultSchema, StatusResultSchema } from "../shared/protocol.ts";
import { processPids, runningBroker } from "./helpers/broker.ts";
import { CLAUDE, FAKE_API_KEY as KEY, claudeCli, installPluginInteractive, type ClaudeCli } from "./helpers/claude-cli.ts";
import { startFakeAnthropic, type FakeAnthropic } from "./helpers/fake-anthropic.ts";
import { sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { openPane, TMUX, type TmuxPane } from "./helpers/tmux-pane.ts";
import { openWorld, type World } from "./helpers/world.ts";

const SESSION = `claude-peers-idle-${process.pid}`;
const SEND = "mcp__plugin_peers_claude-peers__send_message";

/** Pids of waiters (`cli.ts hook --wait`) started for this test's HOME. */
const waiterPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--wait"), [`HOME=${home}`]);

/** Pids of the session's Claude Code and its server (CLAUDE_PEERS_NAME=idle; not the asker, not the brokers). */
const sessionPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("/claude") || a.endsWith("server.ts")), [`HOME=${home}`, "CLAUDE_PEERS_NAME=idle"]);

(TMUX ? describe : describe.skip)("an idle Claude Code session woken by peer mail (no channels)", () => {
  let world: World;
  let pane: TmuxPane;
  let cli: ClaudeCli;
  let model: FakeAnthropic;
  let asker: TestServer;
  const askerText = "what is 2+2? answer with send_message";
  let question = "";

  beforeAll(async () => {
    world = openWorld();
    cli = claudeCli(world.t);
    asker = await world.start({ name: "asker" });
    await whoami(asker);
    await installPluginInteractive(cli, world.t.home);

    model = startFakeAnthropic(async (n) => {
      if (n === 1) return { text: "Ready." }; // the user's first prompt: a turn, then idle
      if (n === 2) return { tool: SEND, input: { to: "asker", message: "4", in_reply_to: question } }; // woken by the mail
      return { text: "Answered." };
    });
    const env = {
      ...cli.env,
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.baseUrl,
      CLAUDE_PEERS_NAME: "idle",
    };
    pane = openPane(SESSION, world.t.home, env, [CLAUDE, "--allowedTools", SEND]);
  });

  afterAll(async () => {
    pane?.close();
    // Claude Code and its server must be gone before the brokers are stopped: a server still
    // running would start a new broker, which nobody would stop.
    if (world) await waitFor(() => sessionPids(world.t.home).length === 0, "Claude Code and its server to exit", 15_000);
    model?.stop();
    await world?.close();
  });

  const screen = () => pane.screen();

  test("after its turn it idles; a peer's message wakes it, and its answer reaches the peer", async () => {
    const broker = await runningBroker(world.t);
    const idle = await waitFor(async () => {
      const { peers } = ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json());
      return peers.find((p) => p.name === "idle");
    }, "the session's server to register", 30_000);
    await waitFor(() => screen().includes("❯"), "Claude Code's prompt", 30_000);
    pane.type("hello");
    await waitFor(() => screen().includes("Ready."), "the first turn to end", 30_000);
    // The turn ended: the Stop hook started the waiter, and the broker holds it.
    await waitFor(async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).hooks_waiting.includes(idle.id), "the waiter", 30_000);
    expect(model.requests.length).toBe(1); // idle: nothing asks the model anything

    const sent = await asker.call("send_message", { to: "idle", message: askerText });
    question = sentMessageId(sent.text);
    const answer = await asker.waitForChannel((m) => m.meta.in_reply_to === question, "the idle session's answer", 45_000);
    expect(answer.content).toBe("4");
    expect(answer.meta.from_name).toBe("idle");
    // What woke the model: the message, in the request it answered (a monitor event: tests/monitor.test.ts).
    expect(model.requests[1]).toContain(askerText);
  });

  test("at rest again, one waiter holds the session; it is gone once Claude Code exits", async () => {
    const home = world.t.home;
    const broker = await runningBroker(world.t);
    const held = async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).hooks_waiting;
    await waitFor(() => screen().includes("Answered."), "the answering turn to end", 30_000);
    // Its Stop hook's waiter holds the idle session again. A waiter it replaced (each new one
    // replaces the last) may still be on its way out for a moment: at rest, one is left, and the
    // broker holds it. Two that stayed would time this out.
    await waitFor(async () => (await held()).length === 1 && waiterPids(home).length === 1, "one waiter at rest (one held by the broker, one process)", 30_000);
    pane.close(); // the terminal closes: Claude Code ends
    await waitFor(() => waiterPids(home).length === 0, "every waiter of this session to exit", 15_000);
  });
});
