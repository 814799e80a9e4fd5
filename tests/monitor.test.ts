/**
 * The plugin's monitor (`cli.ts hook --monitor`) in the real Claude Code CLI: offline (API-key
 * auth, a local fake model API, its own config dir), in a tmux pane, the plugin installed from
 * this repository, started with README's channel alias: with API-key auth Claude Code drops
 * every channel push, so the flag must not silence the monitor. Peer mail reaches the model as
 * monitor events: an idle session is woken and answers with send_message; mail that comes mid-turn joins the turn; a
 * burst of 100 arrives whole, each message once; mail sent while the broker was killed arrives
 * once after; a session suspended (every process of it stopped) past every timeout while a peer
 * keeps writing shows each message once when it wakes. The hooks and the waiter stand down while
 * the monitor holds the session, and the monitor ends with its Claude Code.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { MONITOR_GRACE_MS } from "../shared/broker/delivery-paths.ts";
import { HOOK_LEASE_MS } from "../shared/broker/hook-mail.ts";
import { ListPeersResultSchema, StatusResultSchema } from "../shared/protocol.ts";
import { brokerPids, messageState, processPids, runningBroker, storedMessage } from "./helpers/broker.ts";
import { CLAUDE, FAKE_API_KEY as KEY, claudeCli, installPluginInteractive, type ClaudeCli } from "./helpers/claude-cli.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeAnthropic, type FakeAnthropic, type FakeTurn } from "./helpers/fake-anthropic.ts";
import { sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { resume, suspend } from "./helpers/suspend.ts";
import { waitFor } from "./helpers/wait.ts";
import { openPane, TMUX, type TmuxPane } from "./helpers/tmux-pane.ts";
import { openWorld, type World } from "./helpers/world.ts";

const SESSION = `claude-peers-monitor-${process.pid}`;
const SEND = "mcp__plugin_peers_claude-peers__send_message";
const LIST = "mcp__plugin_peers_claude-peers__list_peers";

/** Pids of monitors (`cli.ts hook --monitor`) started for this test's HOME. */
const monitorPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--monitor"), [`HOME=${home}`]);
const sessionPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("/claude") || a.endsWith("server.ts")), [`HOME=${home}`, "CLAUDE_PEERS_NAME=watched"]);

/** Pids of waiters (`cli.ts hook --wait`) started for this test's HOME. */
const waiterPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--wait"), [`HOME=${home}`]);
/** While the session is suspended, the peer writes this often, */
const SEND_EVERY_MS = 4000;
/**
 * for this long: past the monitor's grace and the hooks' lease, within the broker's 60 s idle
 * timeout on the server's push socket (no push goes to a server whose Claude Code drops channel
 * pushes, so nothing keeps that socket busy; past the timeout the broker drops the silent session,
 * the next test's case); SUSPENDED_MS shortens it for a quick try.
 */
const SUSPENDED_MS = Number(process.env.SUSPENDED_MS ?? Math.max(MONITOR_GRACE_MS, HOOK_LEASE_MS) + 10_000);

/** Every process of the watched session: Claude Code and whatever it runs (they inherit its environment). */
const sessionProcesses = (home: string) => processPids(() => true, [`HOME=${home}`, "CLAUDE_PEERS_NAME=watched"]);

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
    // Run from a shell, as in a terminal: tmux continues a pane's own process when it stops (its
    // SIGCHLD handler), and a laptop's lid does not; with a shell between, a stopped Claude Code stays stopped.
    const claude = [CLAUDE, "--dangerously-load-development-channels", "plugin:peers@claude-peers", "--allowedTools", SEND, LIST];
    pane = openPane(SESSION, world.t.home, env, ["sh", "-c", `'${claude.join(" ")}; exit'`]);
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

  /** The idle session at rest: its monitor holds it and its Stop hook's waiter waits, standing down. */
  const atRest = (id: string) =>
    waitFor(async () => {
      const s = await status();
      return s.monitors.includes(id) && s.hooks_waiting.includes(id) && waiterPids(world.t.home).length === 1 && monitorPids(world.t.home).length === 1;
    }, "the monitor and one waiter at rest", 30_000);

  /** Every process of the session stopped; the broker goes on, as a broker on another host would; the terminal's shell too. */
  const suspendSession = () => suspend(() => sessionProcesses(world.t.home), [...brokerPids(world.t), pane.pid()]);

  /** A peer's note while the session sleeps: its text and id. */
  const note = async (sent: { texts: string[]; ids: string[] }) => {
    const text = `suspended note ${sent.texts.length} ${Math.random().toString(36).slice(2, 10)}`;
    sent.texts.push(text);
    sent.ids.push(sentMessageId((await asker.call("send_message", { to: "watched", message: text })).text));
  };

  /** Awake: the same session, registered once, its monitor holding it again; each note read and in the model's request once. */
  async function wokeOnce(id: string, sent: { texts: string[]; ids: string[] }, answered: number): Promise<void> {
    await waitFor(async () => (await status()).monitors.includes(id), "the monitor to hold the session again", 30_000);
    const { peers } = ListPeersResultSchema.parse(await (await (await runningBroker(world.t)).post("/peers", {})).json());
    expect(peers.filter((p) => p.name.startsWith("watched")).map((p) => p.id)).toEqual([id]);
    // Every message read, in a model request, and the session at rest again (its turns over, one waiter back).
    await waitFor(async () => (await Promise.all(sent.ids.map((m) => messageState(world.t, m)))).every((s) => s === "read"), "every message read", 60_000);
    const last = await waitFor(async () => {
      const n = model.requests.length;
      const latest = n > answered ? model.requests[n - 1]! : "";
      if (!sent.texts.every((t) => latest.includes(t)) || !screen().includes(`Noted ${n}.`)) return null;
      const s = await status();
      return s.hooks_waiting.includes(id) && waiterPids(world.t.home).length === 1 && model.requests.length === n ? latest : null;
    }, "every message in a model request and the session at rest", 60_000).catch(async (err) => {
      // What was missing: the notes in no request, the turn's end, the waiter.
      const latest = model.requests.at(-1) ?? "";
      const s = await status();
      const state = { requests: model.requests.length - answered, missing: sent.texts.filter((t) => !latest.includes(t)), waiting: s.hooks_waiting.includes(id), waiters: waiterPids(world.t.home).length, screen: screen().split("\n").slice(-12).join("\n") };
      throw new Error(`${(err as Error).message}: ${JSON.stringify(state, null, 1)}`);
    });
    for (const text of sent.texts) expect(occurrences(last, text)).toBe(1);
  }

  test("a suspended laptop: the session stopped past the monitor's grace and the hooks' lease while a peer keeps writing; resumed, each message reaches the model once", async () => {
    const id = await watchedId();
    const answered = model.requests.length;
    script = async (n) => ({ text: `Noted ${n}.` });
    await atRest(id);
    const stopped = await suspendSession();
    const sent = { texts: [] as string[], ids: [] as string[] };
    try {
      // The peer keeps writing while the session sleeps, past every timeout that could end the
      // session's hold on its mail: the monitor's grace, the hooks' lease.
      // The broker answers the stopped monitor's open request with the first message at once.
      const until = Date.now() + SUSPENDED_MS;
      await note(sent);
      while (Date.now() < until) {
        await Bun.sleep(SEND_EVERY_MS); // the sender's pace (the workload), not a wait for a condition
        await note(sent);
      }
      // Still the stopped monitor's session, and still the same registration: no other path took its mail.
      const asleep = await status();
      expect(asleep.monitors).toContain(id);
      expect(asleep.hooks_waiting).toContain(id);
    } finally {
      resume(stopped);
    }
    await wokeOnce(id, sent, answered);
  }, 240_000);

  test("a session suspended in silence until the broker drops it: awake, it registers again under its id, once, and the mail that waited reaches the model once", async () => {
    const id = await watchedId();
    const answered = model.requests.length;
    script = async (n) => ({ text: `Noted ${n}.` });
    await atRest(id);
    const stopped = await suspendSession();
    const sent = { texts: [] as string[], ids: [] as string[] };
    try {
      await note(sent); // the broker answers the stopped monitor with it at once
      // Then silence: the broker takes the push socket that answers no ping for dead, and the session leaves.
      const listed = async () => ListPeersResultSchema.parse(await (await (await runningBroker(world.t)).post("/peers", {})).json()).peers;
      await waitFor(async () => !(await listed()).some((p) => p.id === id), "the broker to drop the silent session", 150_000);
      await note(sent); // for the name's mailbox
    } finally {
      resume(stopped);
    }
    await wokeOnce(id, sent, answered);
  }, 300_000);

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
