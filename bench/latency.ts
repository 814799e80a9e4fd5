#!/usr/bin/env bun
/**
 * Push latency: session A calls send_message, session B's MCP client receives the
 * notifications/claude/channel. Real broker, two real server.ts driven over stdio; 1000 sequential
 * messages per run. Also the sender's view: the send_message round trip (it waits for B's ack).
 */
import { startBroker } from "../tests/helpers/broker.ts";
import { whoami } from "../tests/helpers/server.ts";
import type { World } from "../tests/helpers/world.ts";
import { awaitQuiet, channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, type Distribution } from "./lib.ts";

const MESSAGES = 1000;
const WARMUP = 50;
const RUN_DEADLINE_MS = 120_000;

export interface LatencyRun {
  push: Distribution;
  roundTrip: Distribution;
}

/**
 * Sends `count` messages from A to B one at a time. A runs in `world`, B in `other` (another host
 * sharing a PostgreSQL, bench/network.ts) or the same world; its broker is already up.
 */
export async function measureLatency(world: World, count = MESSAGES, other: World = world): Promise<LatencyRun> {
  const [a, b] = await Promise.all([world.start({ name: "bench-a" }), other.start({ name: "bench-b" })]);
  const [, bId] = await Promise.all([whoami(a), whoami(b).then((w) => w.id)]);
  const arrival = channelListener(b);
  const push: number[] = [];
  const roundTrip: number[] = [];
  const deadline = Date.now() + RUN_DEADLINE_MS;
  for (let i = -WARMUP; i < count && Date.now() < deadline; i++) {
    const text = `latency probe ${i}`;
    const arrived = arrival((m) => m.content === text);
    const t0 = performance.now();
    const sent = a.call("send_message", { to: bId, message: text });
    const at = await arrived;
    const result = await sent;
    const done = performance.now();
    if (result.isError || !result.text.includes("delivered")) throw new Error(`send ${i} failed: ${result.text}`);
    if (i < 0) continue; // warm-up: JIT, connection pools, SQLite page cache
    push.push(at - t0);
    roundTrip.push(done - t0);
  }
  if (push.length < count) throw new Error(`only ${push.length} of ${count} messages within ${RUN_DEADLINE_MS / 1000} s`);
  return { push: distribution(push), roundTrip: distribution(roundTrip) };
}

export function report(runs: LatencyRun[]): void {
  for (const key of ["push", "roundTrip"] as const) {
    const label = key === "push" ? "push latency (send_message call → channel notification at B)" : "send_message round trip (call → result, includes B's ack)";
    console.log(`\n${label}, ms, ${runs[0]![key].n} messages per run: median over runs (min–max)`);
    for (const p of ["p50", "p90", "p99", "max"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(runs.map((r) => r[key][p])))}`);
  }
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`push latency: ${MESSAGES} sequential messages, session A → session B`, runs);
  const results: LatencyRun[] = [];
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    const run = await inWorld(async (world) => {
      await startBroker(world.t);
      return measureLatency(world);
    });
    const { push: p } = run;
    console.log(`run ${i + 1}: push p50 ${p.p50.toFixed(2)}  p90 ${p.p90.toFixed(2)}  p99 ${p.p99.toFixed(2)}  max ${p.max.toFixed(2)} ms`);
    results.push(run);
  }
  report(results);
}

if (import.meta.main) await main();
