/**
 * The plugin's monitor (`cli.ts hook --monitor`) in the real Claude Code CLI: offline (API-key
 * auth, a local fake model API, its own config dir), in a tmux pane, the plugin installed from
 * this repository, started with README's channel alias: with API-key auth Claude Code drops
 * every channel push, so the flag must not silence the monitor. Peer mail reaches the model as
 * monitor events: an idle session is woken and answers with send_message; mail that comes mid-turn joins the turn; a
 * burst of 100 arrives whole, each message once; mail sent while the broker was killed arrives
 * once after. The hooks and the waiter stand down while the monitor holds the session, and the
 * monitor ends with its Claude Code.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { ListPeersResultSchema, StatusResultSchema } from "../shared/protocol.ts";
import { brokerPids, messageState, processPids, runningBroker, storedMessage } from "./helpers/broker.ts";
import { CLAUDE, FAKE_API_KEY as KEY, claudeCli, installPluginInteractive, type ClaudeCli } from "./helpers/claude-cli.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeAnthropic, type FakeAnthropic, type FakeTurn } from "./helpers/fake-anthropic.ts";
import { sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { openPane, TMUX, type TmuxPane } from "./helpers/tmux-pane.ts";
import { openWorld, type World } from "./helpers/world.ts";

const SESSION = `claude-peers-monitor-${process.pid}`;
const SEND = "mcp__plugin_peers_claude-peers__send_message";
const LIST = "mcp__plugin_peers_claude-peers__list_peers";

/** Pids of monitors (`cli.ts hook --monitor`) started for this test's HOME. */
const monitorPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--monitor"), [`HOME=${home}`]);
const sessionPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("/claude") || a.endsWith("server.ts")), [`HOME=${home}`, "CLAUDE_PEERS_NAME=watched"]);

/** How often `needle` occurs in `haystack`. */
const occurrences = (haystack: string, needle: string) => haystack.split(needle).length - 1;

(TMUX ? describe : describe.skip)("the plugin's monitor in an interactive Claude Code session (API key, started with README's channel alias)", () => {
  let world: World;
  let pane: TmuxPane;
  let cli: ClaudeCli;
  let model: FakeAnthropic;
  let asker: TestServer;
  /** What the model answers next; a test sets it before it makes the session work. */
  let script: (n: number, body: string) => Promise<FakeTurn> = async () => ({ text: "Noted." });

  beforeAll(async () => {
    // The burst is one sender's 100 messages: loop damping (30 per pair) would hold most of them.
    world = openWorld();
    cli = claudeCli(world.t);
    asker = await world.start({ name: "asker" });
    await whoami(asker);
    await installPluginInteractive(cli, world.t.home);
    model = startFakeAnthropic(async (n) => script(n, model.requests[n - 1]!));
    const env = { ...cli.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: "watched" };
    // README's alias, with API-key auth: Claude Code drops every channel push, so the monitor must deliver.
    pane = openPane(SESSION, world.t.home, env, [CLAUDE, "--dangerously-load-development-channels", "plugin:peers@claude-peers", "--allowedTools", SEND, LIST]);
  });

  afterAll(async () => {
    pane?.close();
    if (world) await waitFor(() => sessionPids(world.t.home).length === 0, "Claude Code and its server to exit", 15_000);
    model?.stop();
    await world?.close();
  });

  const screen = () => pane.screen();
  const status = async () => StatusResultSchema.parse(await (await (await runningBroker(world.t)).post("/status", {})).json());
  const watchedId = async () =>
    waitFor(async () => {
      const { peers } = ListPeersResultSchema.parse(await (await (await runningBroker(world.t)).post("/peers", {})).json());
      return peers.find((p) => p.name === "watched")?.id;
    }, "the session's server to register", 30_000);

  test("idle, it is woken by a peer's message as a monitor event, and answers with send_message", async () => {
    const id = await watchedId();
    await waitFor(() => screen().includes("❯"), "Claude Code's prompt", 30_000);
    // Claude Code's notice that it drops channels with this login ("1 more notice hidden"): the flag is in force, yet shows nothing.
    // The monitor runs without any flag and holds the session's mail path at the broker.
    await waitFor(async () => monitorPids(world.t.home).length === 1 && (await status()).monitors.includes(id), "the monitor to hold the session", 30_000);
    expect(model.requests.length).toBe(0);
    // list_peers and doctor say how the session gets its mail: the flag is given, but the channel is not its path.
    expect((await asker.call("list_peers", { scope: "machine" })).text).toMatch(/- watched \(id [^)]*\)[^\n]*\n[^\n]*reachable by push by monitor/);
    const doctor = (await runCli(world.t, ["doctor"])).stdout;
    expect(doctor).toContain("1 pushed by the plugin's monitor");
    expect(doctor).toContain("watched: push by monitor");

    let question = "";
    script = async (n) => (n === 1 ? { tool: SEND, input: { to: "asker", message: "4", in_reply_to: question } } : { text: "Answered." });
    const text = "what is 2+2?\nanswer with send_message";
    const sent = await asker.call("send_message", { to: "watched", message: text });
    // Claude Code drops channel push with this login: its server takes none, so the message is not "delivered" while no model saw it.
    expect(sent.text).toMatch(/^Message m-\S+ queued for watched/);
    question = sentMessageId(sent.text);
    const answer = await asker.waitForChannel((m) => m.meta.in_reply_to === question, "the idle session's answer", 45_000);
    expect(answer.content).toBe("4");
    // It went from queued to read once the monitor wrote it: never "delivered" before (delivered_at is the read time).
    const stored = (await storedMessage(world.t, question))!;
    expect([stored.state, stored.delivered_at]).toEqual(["read", stored.read_at]);
    const woke = model.requests[0]!;
    // A monitor event, its line naming the message; not the waiter's "Stop hook" framing.
    expect(woke).toContain("Monitor event");
    expect(woke).toContain(`message ${question} from session`);
    expect(woke).toMatch(/from session \\"asker\\" \(p-[a-z0-9]+, claude-code on [\w.?-]+\)/); // who: name, id, agent, host
    expect(woke).toContain(JSON.stringify(JSON.stringify(text).slice(1, -1)).slice(1, -1)); // the line break escaped in the line
    expect(woke).not.toContain("Stop hook");
    await waitFor(() => screen().includes("Answered."), "the answering turn to end", 30_000);
  });

  test("a message that comes mid-turn joins the turn once, not through a hook", async () => {
    const start = model.requests.length;
    let midId = "";
    const { promise: sentMid, resolve: markSent } = Promise.withResolvers<void>();
    script = async (n) => {
      if (n === start + 1) {
        // The turn's first model request: a peer writes while it runs; the monitor shows it at once.
        midId = sentMessageId((await asker.call("send_message", { to: "watched", message: "mid-turn note" })).text);
        markSent();
        await waitFor(async () => (await messageState(world.t, midId)) === "read", "the monitor to show it", 30_000);
        return { tool: LIST, input: {} };
      }
      return { text: "Turn done." };
    };
    pane.type("work on something");
    await sentMid;
    const last = await waitFor(() => model.requests.slice(start).some((r) => r.includes(`message ${midId} from session`)) && model.requests.at(-1), "the message in a model request", 30_000);
    await waitFor(() => screen().includes("Turn done."), "the turn to end", 45_000);
    expect(occurrences(last, `message ${midId} from session`)).toBe(1);
    // No hook printed it (PostToolUse or Stop would name claude-peers' hook framing).
    expect(last).not.toContain("from other agent sessions");
  });

  test("a burst of 100 reaches the model whole, each message once", async () => {
    const start = model.requests.length;
    script = async () => ({ text: "Noted." });
    const burster = await world.start({ name: "burster" });
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(sentMessageId((await burster.call("send_message", { to: "watched", message: `burst ${i}` })).text));
    // Every one is shown in the end, by monitor lines: the latest request carries the whole conversation.
    const last = await waitFor(() => {
      const latest = model.requests.length > start ? model.requests.at(-1)! : "";
      return ids.every((id) => latest.includes(`message ${id} from session`)) ? latest : null;
    }, "all 100 messages in one model request", 50_000);
    for (const id of ids) expect(occurrences(last, `message ${id} from session`)).toBe(1);
    // Claude Code never had to drop a batch for its rate limit.
    expect(last).not.toContain("output rate exceeded");
  });

  test("mail sent while the broker was killed arrives once, after the monitor reconnects", async () => {
    const id = await watchedId();
    const [old] = brokerPids(world.t);
    expect((await runCli(world.t, ["kill-broker"])).code).toBe(0);
    await waitFor(() => !brokerPids(world.t).includes(old!), "the old broker to exit", 15_000);
    script = async () => ({ text: "Got it." });
    const start = model.requests.length;
    // The sender's server brings up a new broker; the watched session's server re-registers.
    const late = await world.start({ name: "late" });
    const sent = sentMessageId((await late.call("send_message", { to: "watched", message: "after the restart" })).text);
    await waitFor(async () => (await status()).monitors.includes(id), "the monitor to hold the session again", 30_000);
    await waitFor(() => model.requests.slice(start).some((r) => r.includes(`message ${sent} from session`)), "the message in a model request", 45_000);
    await waitFor(() => screen().includes("Got it."), "the turn to end", 30_000);
    expect(occurrences(model.requests.at(-1)!, `message ${sent} from session`)).toBe(1);
  });

  test("the monitor ends with its Claude Code", async () => {
    expect(monitorPids(world.t.home).length).toBe(1);
    pane.close();
    await waitFor(() => monitorPids(world.t.home).length === 0, "the monitor to exit", 15_000);
  });
});
