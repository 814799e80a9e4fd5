#!/usr/bin/env bun
/**
 * How soon a peer's message reaches the model, with the real Claude Code CLI: send → the model
 * request that carries it (the local fake model API stamps each request's arrival; the request is
 * found by the message's id). One world per run (one broker), two paths in the same session:
 * - the plugin's monitor: an interactive Claude Code in a tmux pane (API-key auth, the plugin
 *   installed from this repository), idle at its prompt, woken by the monitor's line; beside it,
 *   the monitor's own part: send → its line on stdout, with this process as its Claude Code (the
 *   real one reads the monitor through a pipe, batches 200 ms, then starts the turn);
 * - the waiter (asyncRewake): the same session once its monitor is killed, so the hooks and the
 *   waiter take over; woken by the waiter's exit 2.
 * Channel push cannot reach a model offline with API-key auth (Claude Code drops every push), so
 * it is measured as far as it honestly goes: the same send → the notifications/claude/channel a
 * session's server.ts writes, read by an MCP SDK client in this process.
 * Floors in the same run: a bare broker send → push (a raw peer's WebSocket, no MCP), and the fake
 * API's own round trip (a POST of the session's last request, answered as it answers Claude Code).
 * Rounds are spaced by the session's turn ending and the monitor's own pace (PACE_REFILL_MS), so
 * each message is a fresh one, not a queue.
 */
import { dirname, join } from "node:path";
import { PACE_REFILL_MS } from "../shared/hook/monitor-pace.ts";
import { SendResultSchema, StatusResultSchema } from "../shared/protocol.ts";
import { processPids, runningBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { CLAUDE, FAKE_API_KEY, claudeCli, installPluginInteractive } from "../tests/helpers/claude-cli.ts";
import { startFakeAnthropic, type FakeAnthropic } from "../tests/helpers/fake-anthropic.ts";
import { whoami } from "../tests/helpers/server.ts";
import { openPane, TMUX, type TmuxPane } from "../tests/helpers/tmux-pane.ts";
import { killAndConfirm, waitFor } from "../tests/helpers/wait.ts";
import type { World } from "../tests/helpers/world.ts";
import { ROOT } from "../tests/helpers/env.ts";
import { connectRawPeer } from "./raw-peer.ts";
import { channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, timeCalls, type Distribution } from "./lib.ts";

const ROUNDS = 20;
const FLOOR_ROUNDS = 50;
const SESSION = `claude-peers-bench-monitor-${process.pid}`;

interface MonitorRun {
  /** Send → the monitor's line on its stdout, this process standing in for Claude Code. */
  line: Distribution;
  monitor: Distribution;
  waiter: Distribution;
  channel: Distribution;
  barePush: Distribution;
  fakeApi: Distribution;
}

const monitorPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--monitor"), [`HOME=${home}`]);
const waiterPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--wait"), [`HOME=${home}`]);
const sessionPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("/claude") || a.endsWith("server.ts")), [`HOME=${home}`, "CLAUDE_PEERS_NAME=watched"]);

/** The session and how to reach it. */
interface Session {
  world: World;
  broker: TestBroker;
  model: FakeAnthropic;
  pane: TmuxPane;
  id: string;
}

/** Resolves at the first moment a line containing `text` is read from the monitor's stdout. */
function lineListener(stdout: ReadableStream<Uint8Array>): (text: string) => Promise<number> {
  const waiters = new Map<string, (at: number) => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stdout) {
      const at = performance.now();
      const text = decoder.decode(chunk);
      for (const [needle, resolve] of waiters) if (text.includes(needle)) (waiters.delete(needle), resolve(at));
    }
  })();
  return (text) => new Promise((resolve) => waiters.set(text, resolve));
}

/**
 * The monitor's own part: a session's server.ts and its monitor as children of this process (as
 * of Claude Code), ROUNDS sends → the line on the monitor's stdout, spaced by its pace.
 */
async function measureLine(world: World): Promise<Distribution> {
  const env = { CLAUDE_CODE_SESSION_ID: "bench-monitor" };
  // A session whose Claude Code drops channel pushes (one path per session): the monitor holds its mail.
  const session = await world.start({ name: "stand-in", env, channels: false });
  const { id } = await whoami(session);
  const broker = await runningBroker(world.t);
  const monitor = Bun.spawn([process.execPath, join(ROOT, "cli.ts"), "hook", "--monitor"], { env: { ...world.t.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  try {
    const lined = lineListener(monitor.stdout);
    await waitFor(async () => (await status(broker)).monitors.includes(id), "the stand-in's monitor to hold its session");
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const onLine = lined(`stand-in round ${i} `);
      const t0 = performance.now();
      await broker.post("/send", { to: "stand-in", text: `stand-in round ${i} ` });
      times.push((await onLine) - t0);
      await Bun.sleep(PACE_REFILL_MS); // the monitor's pace: each round's message is written as it comes
    }
    return distribution(times);
  } finally {
    monitor.kill("SIGKILL");
    await monitor.exited;
  }
}

const status = async (broker: TestBroker) => StatusResultSchema.parse(await (await broker.post("/status", {})).json());

/** Sends `text` to the session as the person at the terminal; returns the send's start and the message id. */
async function send(broker: TestBroker, text: string): Promise<{ t0: number; id: string }> {
  const t0 = performance.now();
  const res = await broker.post("/send", { to: "watched", text });
  return { t0, id: SendResultSchema.parse(await res.json()).message.id };
}

/**
 * ROUNDS rounds: the session at rest (`atRest`), one message, the time until the first model
 * request carrying its id arrives; then the turn's end (the fake answers "Noted N.").
 */
async function rounds(s: Session, label: string, atRest: () => Promise<boolean>, gapMs: number): Promise<Distribution> {
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await waitFor(atRest, `${label}: the session at rest`, 60_000);
    const from = s.model.requests.length;
    const { t0, id } = await send(s.broker, `${label} round ${i}`);
    const n = await waitFor(() => {
      const k = s.model.requests.findIndex((r, j) => j >= from && r.includes(id));
      return k >= 0 ? k + 1 : null;
    }, `${label}: round ${i}'s model request`, 60_000);
    times.push(s.model.arrivals[n - 1]! - t0);
    await waitFor(() => s.pane.screen().includes(`Noted ${s.model.requests.length}.`), `${label}: round ${i}'s turn to end`, 60_000);
    if (gapMs > 0) await Bun.sleep(gapMs); // the monitor's pace: the next round's line is written at once
  }
  return distribution(times);
}

async function measure(): Promise<MonitorRun> {
  return inWorld(async (world) => {
    const cli = claudeCli(world.t);
    await installPluginInteractive(cli, world.t.home);
    // The channel path's session, a server.ts under an MCP SDK client: it also brings up the broker.
    const pushed = await world.start({ name: "pushed" });
    await whoami(pushed);
    const broker = await runningBroker(world.t);
    const model = startFakeAnthropic(async (n) => ({ text: `Noted ${n}.` }));
    const env = { ...cli.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ANTHROPIC_API_KEY: FAKE_API_KEY, ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: "watched" };
    const pane = openPane(SESSION, world.t.home, env, [CLAUDE]);
    try {
      const id = await waitFor(async () => {
        const peers = (await (await broker.post("/peers", {})).json()) as { peers: { id: string; name: string }[] };
        return peers.peers.find((p) => p.name === "watched")?.id;
      }, "the session's server to register", 60_000);
      await waitFor(() => pane.screen().includes("❯"), "Claude Code's prompt", 60_000);
      const s: Session = { world, broker, model, pane, id };

      // The monitor: it holds the session; its line wakes the idle session.
      const monitorAtRest = async () => (await status(broker)).monitors.includes(id) && monitorPids(world.t.home).length === 1;
      const monitor = await rounds(s, "monitor", monitorAtRest, PACE_REFILL_MS);

      // The waiter: the monitor gone (its hold ends with its process), the Stop hook's waiter wakes the session.
      for (const pid of monitorPids(world.t.home)) await killAndConfirm(pid, "SIGKILL");
      const waiterAtRest = async () => {
        const st = await status(broker);
        return !st.monitors.includes(id) && st.hooks_waiting.includes(id) && waiterPids(world.t.home).length === 1;
      };
      const waiter = await rounds(s, "waiter", waiterAtRest, 0);

      // Channel push, as far as it goes offline: the session's server writes the notification to its MCP client.
      const onChannel = channelListener(pushed);
      const channelTimes: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const text = `channel round ${i}`;
        const arrived = onChannel((m) => m.content === text, 10_000);
        const t0 = performance.now();
        await broker.post("/send", { to: "pushed", text });
        channelTimes.push((await arrived) - t0);
      }

      // Floors: the broker's bare send → push, and the fake model API's own round trip.
      const token = (await Bun.file(world.t.tokenPath).text()).trim();
      let arrived: ((at: number) => void) | undefined;
      const raw = await connectRawPeer({ socketPath: world.t.socketPath, token, name: "bare", onMessage: () => arrived?.(performance.now()) });
      const bare: number[] = [];
      try {
        for (let i = 0; i < FLOOR_ROUNDS; i++) {
          const { promise, resolve } = Promise.withResolvers<number>();
          arrived = resolve;
          const t0 = performance.now();
          await broker.post("/send", { to: "bare", text: `bare round ${i}` });
          bare.push((await promise) - t0);
        }
      } finally {
        raw.close();
      }
      const body = model.requests.at(-1)!;
      const fakeApi = await timeCalls(FLOOR_ROUNDS, async () => {
        const res = await fetch(`${model.baseUrl}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body });
        await res.text();
      });
      // The floor's own requests were recorded as turns too; none of the session's rounds follow.
      return { line: await measureLine(world), monitor, waiter, channel: distribution(channelTimes), barePush: distribution(bare), fakeApi };
    } finally {
      pane.close();
      await waitFor(() => sessionPids(world.t.home).length === 0, "Claude Code and its server to exit", 15_000);
      model.stop();
    }
  });
}

async function main(): Promise<void> {
  if (!TMUX) throw new Error("bench/monitor.ts runs the real Claude Code CLI in tmux: install tmux");
  const runs = runsArg();
  await header(`monitor: ${ROUNDS} rounds each of send → the model request, by the plugin's monitor and by the waiter, in one real Claude Code session; channel push to an MCP client; floors`, runs);
  const results: MonitorRun[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await measure();
    const f = (d: Distribution) => `p50 ${d.p50.toFixed(1)} p99 ${d.p99.toFixed(1)}`;
    console.log(`run ${i + 1}: monitor's line ${f(r.line)}; monitor ${f(r.monitor)}; waiter ${f(r.waiter)}; channel push ${f(r.channel)}; bare push ${f(r.barePush)}; fake API ${f(r.fakeApi)} ms`);
    results.push(r);
  }
  for (const [key, label] of [
    ["line", "the monitor's own part: send → its line on stdout (this process standing in for Claude Code)"],
    ["monitor", "send → the model request carrying it, by the plugin's monitor (real CLI)"],
    ["waiter", "send → the model request carrying it, by the waiter, asyncRewake (real CLI, same session, monitor killed)"],
    ["channel", "send → the server's notifications/claude/channel read by an MCP SDK client (not a model request: API-key auth drops channels)"],
    ["barePush", "floor: bare broker send → push on a raw peer's WebSocket"],
    ["fakeApi", "floor: the fake model API's own round trip (the session's last request, posted again)"],
  ] as const) {
    console.log(`\n${label}, ms: median over runs (min–max)`);
    for (const p of ["p50", "p99"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(results.map((r) => r[key][p])))}`);
  }
}

if (import.meta.main) await main();
