#!/usr/bin/env bun
/**
 * Throughput: 20 sessions, each sending to the next one as fast as it can for 10 s. A message
 * counts once its send returned, the recipient's client got it, and SQLite holds it as delivered
 * (acknowledged); lost and duplicated messages are counted, not assumed away.
 *
 * - end to end: 20 real server.ts driven over MCP stdio, as Claude Code drives them;
 * - broker alone: 20 HTTP + WebSocket clients in this process (no MCP, no server.ts), the ceiling;
 * - burst: one session's 2,000 sends, 20 in flight, to one session, with a second sender sampled.
 */
import { parseArgs } from "node:util";
import { startBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { sentMessageId, whoami, type TestServer } from "../tests/helpers/server.ts";
import type { World } from "../tests/helpers/world.ts";
import {
  awaitQuiet,
  channelListener,
  cpuSeconds,
  distribution,
  formatSpread,
  header,
  inWorld,
  machineBusyDuring,
  runsArg,
  spread,
  storedStates,
  type Distribution,
} from "./lib.ts";
import { connectRawPeer } from "./raw-peer.ts";

const SESSIONS = 20;
const SECONDS = 10;
/** Sends before the clock starts, per session: JIT, connection pools, SQLite pages. */
const WARMUP = 5;
/** After the window, how long in-flight pushes may take to reach their clients. */
const DRAIN_MS = 10_000;

export interface ThroughputRun {
  perSecond: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Sends that returned an error (a tool error or a non-2xx). */
  failed: number;
  brokerCpu: number;
  /** Summed over the server.ts processes (end to end only), percent of one core. */
  serversCpu: number;
  /** This process: the MCP clients or the raw HTTP/WebSocket clients, percent of one core. */
  clientCpu: number;
  machineBusy: number;
}

/** Who sent what, and how often each message reached its recipient. */
class Ledger {
  readonly sent = new Set<string>();
  readonly received = new Map<string, number>();
  failed = 0;
  inWindow = 0;

  receive(id: string): void {
    this.received.set(id, (this.received.get(id) ?? 0) + 1);
  }

  /** Lost: sent but never received or not delivered in SQLite. Duplicated: received more than once. */
  tally(states: Map<string, string>): { delivered: number; lost: number; duplicated: number } {
    let lost = 0;
    let duplicated = 0;
    for (const id of this.sent) if (!this.received.has(id) || states.get(id) !== "delivered") lost++;
    for (const n of this.received.values()) duplicated += n - 1;
    return { delivered: this.sent.size - lost, lost, duplicated };
  }

  async drain(): Promise<void> {
    const deadline = Date.now() + DRAIN_MS;
    while ([...this.sent].some((id) => !this.received.has(id)) && Date.now() < deadline) await Bun.sleep(20);
  }
}

type Send = (from: number, to: number, text: string) => Promise<string>;

/**
 * Every sender loops until the window closes, with `inflight` calls outstanding at a time (1: one
 * call after another, as a Claude session makes them); returns the window's length in seconds.
 */
async function sendFlat(ledger: Ledger, senders: number, inflight: number, send: Send): Promise<number> {
  const once = async (i: number, text: string, counted: boolean) => {
    try {
      ledger.sent.add(await send(i, (i + 1) % senders, text));
      if (counted) ledger.inWindow++;
    } catch {
      ledger.failed++;
    }
  };
  await Promise.all(
    Array.from({ length: senders }, async (_, i) => {
      for (let k = 0; k < WARMUP; k++) await once(i, `warm-up ${i}.${k}`, false);
    }),
  );
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  const loops = Array.from({ length: senders * inflight }, (_, j) => j);
  await Promise.all(
    loops.map(async (j) => {
      const i = j % senders;
      for (let k = 0; performance.now() < end; k++) await once(i, `throughput ${j}.${k}`, true);
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Runs the window while sampling where the CPU goes, then checks every message. */
async function measure(world: World, broker: TestBroker, serverPids: number[], ledger: Ledger, send: Send, inflight: number): Promise<ThroughputRun> {
  const senders = serverPids.length || SESSIONS;
  const pids = [broker.pid, ...serverPids];
  const cpu0 = pids.map(cpuSeconds);
  const client0 = process.cpuUsage();
  let seconds = 0;
  const machineBusy = await machineBusyDuring(async () => (seconds = await sendFlat(ledger, senders, inflight, send)));
  const used = pids.map((pid, i) => ((cpuSeconds(pid) - cpu0[i]!) / seconds) * 100);
  const client = process.cpuUsage(client0);
  await ledger.drain();
  const tally = ledger.tally(storedStates(world.t.dbPath));
  return {
    ...tally,
    perSecond: ledger.inWindow / seconds,
    failed: ledger.failed,
    brokerCpu: used[0]!,
    serversCpu: used.slice(1).reduce((a, b) => a + b, 0),
    clientCpu: ((client.user + client.system) / 1e6 / seconds) * 100,
    machineBusy,
  };
}

/** 20 real server.ts processes over MCP stdio. */
export async function endToEnd(world: World, broker: TestBroker, inflight = 1, sessions = SESSIONS): Promise<ThroughputRun> {
  const servers = await Promise.all(Array.from({ length: sessions }, (_, i) => world.start({ name: `tp-${i}` })));
  const ids = await Promise.all(servers.map(async (s) => (await whoami(s)).id));
  const ledger = new Ledger();
  for (const s of servers) {
    const recorded = s.client.fallbackNotificationHandler;
    s.client.fallbackNotificationHandler = async (n) => {
      await recorded?.(n);
      if (n.method === "notifications/claude/channel") ledger.receive((n.params as { meta: { message_id: string } }).meta.message_id);
    };
  }
  const send: Send = async (from, to, text) => {
    const r = await servers[from]!.call("send_message", { to: ids[to]!, message: text });
    if (r.isError) throw new Error(r.text);
    return sentMessageId(r.text);
  };
  return measure(
    world,
    broker,
    servers.map((s) => s.pid),
    ledger,
    send,
    inflight,
  );
}

/** The same traffic from HTTP + WebSocket clients in this process: no MCP, no server.ts. */
export async function brokerAlone(world: World, broker: TestBroker, inflight = 1, sessions = SESSIONS): Promise<ThroughputRun> {
  const ledger = new Ledger();
  const peers = await Promise.all(
    Array.from({ length: sessions }, (_, i) =>
      connectRawPeer({ socketPath: world.t.socketPath, token: broker.token, name: `raw-${i}`, onMessage: (m) => ledger.receive(m.id) }),
    ),
  );
  try {
    const send: Send = async (from, to, text) => {
      const { message } = await peers[from]!.client.call("/send", { to: peers[to]!.id, text });
      return message.id;
    };
    return await measure(world, broker, [], ledger, send, inflight);
  } finally {
    for (const p of peers) p.close();
  }
}

// ---- one session's burst ------------------------------------------------------------------------

const BURST = 2000;
const BURST_INFLIGHT = 20;
/** The second sender sends one message at a time, this often, while the burst runs. */
const SAMPLE_EVERY_MS = 10;
/** C's sends to B before the burst, one at a time: the floor for its latency during it. */
const QUIET_SAMPLES = 50;

export interface BurstRun {
  perSecond: number;
  lost: number;
  duplicated: number;
  failed: number;
  /** The second sender's push latency (its send_message call → the recipient's notification), ms. */
  other: Distribution;
  /** The same, with no burst running: the floor, in the same run. */
  quiet: Distribution;
  /** Percent of one core during the burst: broker, A's and B's server.ts, this process (the MCP clients). */
  cpu: { broker: number; sender: number; recipient: number; client: number };
}

/**
 * One session (A) calls send_message BURST times, BURST_INFLIGHT at a time, to one recipient (B),
 * as a script or a session fanning out work does; meanwhile another session (C) sends B one
 * message at a time and its push latency is sampled. Every A message must arrive once.
 */
export async function burst(world: World, broker: TestBroker): Promise<BurstRun> {
  const [a, b, c] = await Promise.all(["burst-a", "burst-b", "burst-c"].map((name) => world.start({ name })));
  const bId = (await whoami(b!)).id;
  const ledger = new Ledger();
  const heard = channelListener(b!);
  const recorded = b!.client.fallbackNotificationHandler;
  b!.client.fallbackNotificationHandler = async (n) => {
    await recorded?.(n);
    if (n.method === "notifications/claude/channel") ledger.receive((n.params as { meta: { message_id: string } }).meta.message_id);
  };
  const send = async (from: TestServer, text: string) => {
    const r = await from.call("send_message", { to: bId, message: text });
    if (r.isError) throw new Error(r.text);
    return sentMessageId(r.text);
  };
  for (let i = 0; i < WARMUP; i++) await send(a!, `warm-up ${i}`);
  /** C's send_message call → B's notification of it. */
  const sample = async (text: string) => {
    const arrived = heard((m) => m.content === text, 30_000);
    const sentAt = performance.now();
    await send(c!, text);
    return (await arrived) - sentAt;
  };
  const quiet: number[] = [];
  for (let k = 0; k < QUIET_SAMPLES; k++) quiet.push(await sample(`quiet ${k}`));

  let next = 0;
  let running = true;
  const pids = [broker.pid, a!.pid, b!.pid];
  const cpu0 = pids.map(cpuSeconds);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const flood = Promise.all(
    Array.from({ length: BURST_INFLIGHT }, async () => {
      for (let k = next++; k < BURST; k = next++) {
        try {
          ledger.sent.add(await send(a!, `burst ${k}`));
        } catch {
          ledger.failed++;
        }
      }
    }),
  ).then(() => performance.now() - t0);
  const latencies: number[] = [];
  const sampler = (async () => {
    for (let k = 0; running; k++) {
      latencies.push(await sample(`second sender ${k}`));
      await Bun.sleep(SAMPLE_EVERY_MS);
    }
  })();
  const floodMs = await flood;
  const cpu = pids.map((pid, i) => ((cpuSeconds(pid) - cpu0[i]!) / floodMs) * 100_000);
  const client = process.cpuUsage(client0);
  running = false;
  await sampler;
  await ledger.drain();
  const tally = ledger.tally(storedStates(world.t.dbPath));
  return {
    perSecond: (BURST / floodMs) * 1000,
    lost: tally.lost,
    duplicated: tally.duplicated,
    failed: ledger.failed,
    other: distribution(latencies),
    quiet: distribution(quiet),
    cpu: { broker: cpu[0]!, sender: cpu[1]!, recipient: cpu[2]!, client: ((client.user + client.system) / 1000 / floodMs) * 100 },
  };
}

function reportBurst(runs: BurstRun[]): void {
  console.log(`\none session's burst: ${BURST} send_message calls, ${BURST_INFLIGHT} in flight, to one session; median over runs (min–max)`);
  console.log(`  sent/s          ${formatSpread(spread(runs.map((r) => r.perSecond)), 0)}`);
  console.log(`  lost            ${runs.map((r) => r.lost).join(", ")}`);
  console.log(`  duplicated      ${runs.map((r) => r.duplicated).join(", ")}`);
  console.log(`  failed sends    ${runs.map((r) => r.failed).join(", ")}`);
  console.log(
    `  second sender   p50 ${formatSpread(spread(runs.map((r) => r.other.p50)), 2, " ms")}, p99 ${formatSpread(spread(runs.map((r) => r.other.p99)), 2, " ms")}, samples ${runs.map((r) => r.other.n).join(", ")}`,
  );
  console.log(
    `  floor (no burst) p50 ${formatSpread(spread(runs.map((r) => r.quiet.p50)), 2, " ms")}, p99 ${formatSpread(spread(runs.map((r) => r.quiet.p99)), 2, " ms")}, the same sends before the burst`,
  );
}

function report(label: string, runs: ThroughputRun[]): void {
  console.log(`\n${label}: median over runs (min–max)`);
  console.log(`  delivered/s     ${formatSpread(spread(runs.map((r) => r.perSecond)), 0)}`);
  console.log(`  lost            ${runs.map((r) => r.lost).join(", ")}`);
  console.log(`  duplicated      ${runs.map((r) => r.duplicated).join(", ")}`);
  console.log(`  failed sends    ${runs.map((r) => r.failed).join(", ")}`);
  console.log(`  broker CPU      ${formatSpread(spread(runs.map((r) => r.brokerCpu)), 0, " %")} of one core`);
  if (runs[0]!.serversCpu) console.log(`  servers CPU     ${formatSpread(spread(runs.map((r) => r.serversCpu)), 0, " %")} of one core, all server.ts together`);
  console.log(`  client CPU      ${formatSpread(spread(runs.map((r) => r.clientCpu)), 0, " %")} of one core (this process)`);
  console.log(`  machine busy    ${formatSpread(spread(runs.map((r) => r.machineBusy)), 0, " %")} of all cores`);
}

async function main(): Promise<void> {
  const runs = runsArg();
  const { values } = parseArgs({ options: { only: { type: "string" }, inflight: { type: "string" } }, strict: false });
  const inflight = Number(values.inflight ?? 1);
  await header(`throughput: ${SESSIONS} sessions, each sending to the next for ${SECONDS} s`, runs);
  const modes = [
    { key: "e2e", label: `end to end (${SESSIONS} server.ts over MCP stdio)`, run: endToEnd },
    { key: "broker", label: `broker alone (${SESSIONS} HTTP + WebSocket clients in one process)`, run: brokerAlone },
  ].filter((m) => !values.only || values.only === m.key);
  if (!values.only || values.only === "burst") {
    const results: BurstRun[] = [];
    for (let i = 0; i < runs; i++) {
      await awaitQuiet();
      const r = await inWorld(async (world) => burst(world, await startBroker(world.t)));
      console.log(
        `burst run ${i + 1}: ${r.perSecond.toFixed(0)} sent/s, lost ${r.lost}, duplicated ${r.duplicated}, failed ${r.failed}; second sender p50 ${r.other.p50.toFixed(2)} ms, p99 ${r.other.p99.toFixed(2)} ms (${r.other.n} samples; with no burst p50 ${r.quiet.p50.toFixed(2)}, p99 ${r.quiet.p99.toFixed(2)}); CPU: broker ${r.cpu.broker.toFixed(0)} %, A ${r.cpu.sender.toFixed(0)} %, B ${r.cpu.recipient.toFixed(0)} %, clients ${r.cpu.client.toFixed(0)} %`,
      );
      results.push(r);
    }
    reportBurst(results);
  }
  for (const mode of modes) {
    const results: ThroughputRun[] = [];
    for (let i = 0; i < runs; i++) {
      await awaitQuiet();
      const r = await inWorld(async (world) => mode.run(world, await startBroker(world.t), inflight));
      const cpu = `CPU: broker ${r.brokerCpu.toFixed(0)} %, servers ${r.serversCpu.toFixed(0)} %, client ${r.clientCpu.toFixed(0)} %, machine ${r.machineBusy.toFixed(0)} % of all cores`;
      console.log(`${mode.key} run ${i + 1}: ${r.perSecond.toFixed(0)} delivered/s, lost ${r.lost}, duplicated ${r.duplicated}, failed ${r.failed}; ${cpu}`);
      results.push(r);
    }
    report(mode.label, results);
  }
}

if (import.meta.main) await main();
