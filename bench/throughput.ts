#!/usr/bin/env bun
/**
 * Throughput: 20 sessions, each sending to the next one as fast as it can for 10 s. A message
 * counts once its send returned, the recipient's client got it, and SQLite holds it as delivered
 * (acknowledged); lost and duplicated messages are counted, not assumed away.
 *
 * - end to end: 20 real server.ts driven over MCP stdio, as Claude Code drives them;
 * - broker alone: 20 HTTP + WebSocket clients in this process (no MCP, no server.ts), the ceiling.
 */
import { parseArgs } from "node:util";
import { startBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { sentMessageId, whoami } from "../tests/helpers/server.ts";
import type { World } from "../tests/helpers/world.ts";
import { SendResultSchema } from "../shared/protocol.ts";
import { awaitQuiet, cpuSeconds, formatSpread, header, inWorld, machineBusyDuring, runsArg, spread, storedStates } from "./lib.ts";
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
  await Promise.all(Array.from({ length: senders }, async (_, i) => {
    for (let k = 0; k < WARMUP; k++) await once(i, `warm-up ${i}.${k}`, false);
  }));
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  const loops = Array.from({ length: senders * inflight }, (_, j) => j);
  await Promise.all(loops.map(async (j) => {
    const i = j % senders;
    for (let k = 0; performance.now() < end; k++) await once(i, `throughput ${j}.${k}`, true);
  }));
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
  return measure(world, broker, servers.map((s) => s.pid), ledger, send, inflight);
}

/** The same traffic from HTTP + WebSocket clients in this process: no MCP, no server.ts. */
export async function brokerAlone(world: World, broker: TestBroker, inflight = 1, sessions = SESSIONS): Promise<ThroughputRun> {
  const ledger = new Ledger();
  const peers = await Promise.all(
    Array.from({ length: sessions }, (_, i) => connectRawPeer({ port: world.t.port, token: broker.token, name: `raw-${i}`, onMessage: (m) => ledger.receive(m.id) })),
  );
  try {
    const send: Send = async (from, to, text) => {
      const { message } = await peers[from]!.client.call("/send", { to: peers[to]!.id, text }, SendResultSchema);
      return message.id;
    };
    return await measure(world, broker, [], ledger, send, inflight);
  } finally {
    for (const p of peers) p.close();
  }
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
