#!/usr/bin/env bun
/**
 * Start-up: from spawning server.ts to its initialize result (what Claude Code waits for), and
 * until the new peer shows in the broker's peer list (what other sessions see). Warm: the broker
 * is already up. Cold: no broker; the server starts one itself, as the first session of the day does.
 * First: cold, and Bun's transpiler cache is empty too, as on the first run after installing.
 * For scale, the same spawn of `bun` on an empty script.
 *
 * Each world has a fresh HOME, and Bun keeps its runtime transpiler cache under HOME: without one
 * shared cache, every start would pay the first-run cost (~50 ms) that a real HOME pays once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { startBroker } from "../tests/helpers/broker.ts";
import { startServer } from "../tests/helpers/server.ts";
import type { World } from "../tests/helpers/world.ts";
import { ListPeersResultSchema } from "../shared/protocol.ts";
import { awaitQuiet, formatSpread, header, inWorld, percentile, runsArg, spread } from "./lib.ts";
import { dialBroker } from "../shared/broker-address.ts";

/** Sessions started per run and mode (each one stopped before the next starts). */
const STARTS = 10;
const VISIBLE_TIMEOUT_MS = 10_000;
const POLL_EVERY_MS = 2;

interface Start {
  initialize: number;
  visible: number;
}

/** The broker's live peer list as the operator sees it, or null while no broker answers yet. */
async function livePids(world: World): Promise<number[] | null> {
  try {
    const token = readFileSync(world.t.tokenPath, "utf8").trim();
    const res = await dialBroker(world.t.socketPath, "/peers", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    });
    return ListPeersResultSchema.parse(await res.json()).peers.map((p) => p.pid);
  } catch {
    return null; // no token file or no listener yet: the broker is still starting
  }
}

/** Spawns one server.ts and times initialize, then its appearance in the peer list. */
async function timeOneStart(world: World): Promise<Start> {
  const t0 = performance.now();
  const server = await world.start();
  const initialize = performance.now() - t0;
  const deadline = Date.now() + VISIBLE_TIMEOUT_MS;
  while (!(await livePids(world))?.includes(server.pid)) {
    if (Date.now() > deadline) throw new Error(`peer ${server.pid} not visible within ${VISIBLE_TIMEOUT_MS} ms`);
    await Bun.sleep(POLL_EVERY_MS);
  }
  const visible = performance.now() - t0;
  await server.stop();
  return { initialize, visible };
}

/** Bun's runtime transpiler cache, shared by every world of this benchmark (a real HOME keeps one). */
const bunCache = mkdtempSync(join(tmpdir(), "claude-peers-bench-bun-cache-"));
const sharedCache = { BUN_RUNTIME_TRANSPILER_CACHE_PATH: bunCache };

async function warmStarts(): Promise<Start[]> {
  return inWorld(async (world) => {
    await startBroker(world.t);
    await timeOneStart(world); // the first spawn also warms the file cache: not counted
    const starts: Start[] = [];
    for (let i = 0; i < STARTS; i++) starts.push(await timeOneStart(world));
    return starts;
  }, sharedCache);
}

/** Each cold start gets a world of its own: no broker, a fresh database; `first` also an empty Bun cache. */
async function coldStarts(first: boolean): Promise<Start[]> {
  const starts: Start[] = [];
  for (let i = 0; i < STARTS; i++) starts.push(await inWorld(timeOneStart, first ? {} : sharedCache));
  return starts;
}

/** `bun -e 0`: what any Bun process costs before our code runs. */
async function bareBun(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    await Bun.spawn([process.execPath, "-e", "0"], { stdout: "ignore", stderr: "ignore" }).exited;
    times.push(performance.now() - t0);
  }
  return times;
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`start-up: ${STARTS} server.ts starts per run and mode`, runs);
  const perRun = { warmInit: [] as number[], warmVisible: [] as number[], coldInit: [] as number[], coldVisible: [] as number[], firstInit: [] as number[], firstVisible: [] as number[], bun: [] as number[] };
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    await warmStarts(); // fills the shared Bun cache, as any earlier session would have
    const warm = await warmStarts();
    const cold = await coldStarts(false);
    const first = await coldStarts(true);
    const bun = await bareBun();
    const med = (xs: number[]) => percentile(xs, 50);
    perRun.warmInit.push(med(warm.map((s) => s.initialize)));
    perRun.warmVisible.push(med(warm.map((s) => s.visible)));
    perRun.coldInit.push(med(cold.map((s) => s.initialize)));
    perRun.coldVisible.push(med(cold.map((s) => s.visible)));
    perRun.firstInit.push(med(first.map((s) => s.initialize)));
    perRun.firstVisible.push(med(first.map((s) => s.visible)));
    perRun.bun.push(med(bun));
    const worst = (xs: Start[], k: keyof Start) => Math.max(...xs.map((s) => s[k])).toFixed(0);
    console.log(
      `run ${i + 1} (median of ${STARTS}, worst in brackets), ms: warm initialize ${med(warm.map((s) => s.initialize)).toFixed(0)} [${worst(warm, "initialize")}], ` +
        `visible ${med(warm.map((s) => s.visible)).toFixed(0)} [${worst(warm, "visible")}]; cold initialize ${med(cold.map((s) => s.initialize)).toFixed(0)} [${worst(cold, "initialize")}], ` +
        `visible ${med(cold.map((s) => s.visible)).toFixed(0)} [${worst(cold, "visible")}]; first initialize ${med(first.map((s) => s.initialize)).toFixed(0)}, ` +
        `visible ${med(first.map((s) => s.visible)).toFixed(0)}; bare bun ${med(bun).toFixed(0)}`,
    );
  }
  console.log(`\nmedian per run, ms: median over runs (min–max)`);
  console.log(`  warm: spawn → initialize result   ${formatSpread(spread(perRun.warmInit), 0)}`);
  console.log(`  warm: spawn → visible to others   ${formatSpread(spread(perRun.warmVisible), 0)}`);
  console.log(`  cold: spawn → initialize result   ${formatSpread(spread(perRun.coldInit), 0)}`);
  console.log(`  cold: spawn → visible to others   ${formatSpread(spread(perRun.coldVisible), 0)}  (includes starting the broker)`);
  console.log(`  first (empty Bun cache) → initialize ${formatSpread(spread(perRun.firstInit), 0)}`);
  console.log(`  first (empty Bun cache) → visible   ${formatSpread(spread(perRun.firstVisible), 0)}`);
  console.log(`  bare \`bun -e 0\` spawn → exit      ${formatSpread(spread(perRun.bun), 0)}`);
}

if (import.meta.main) {
  try {
    await main();
  } finally {
    rmSync(bunCache, { recursive: true, force: true });
  }
}
