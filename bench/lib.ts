/**
 * What every benchmark shares: percentiles, the spread over repeated runs, broker CPU and memory
 * from /proc, the machine's size, and cleanup of worlds (servers, brokers, temp dirs) on any exit.
 * Process lifecycle itself is tests/helpers' job; this file only measures around it.
 */
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { statFields } from "../shared/proc-stat.ts";
import { availableParallelism, cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import type { ChannelMessage, TestServer } from "../tests/helpers/server.ts";
import { openWorld, type World } from "../tests/helpers/world.ts";

// ---- statistics ---------------------------------------------------------------------------------

/** The nearest-rank percentile of `values` (0 < p ≤ 100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  return { n: values.length, p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), max: Math.max(...values) };
}

/** Calls `call` `count` times, one after another, and returns the distribution of their times in ms. */
export async function timeCalls(count: number, call: () => Promise<unknown>): Promise<Distribution> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  return distribution(times);
}

/** How one figure varied over repeated runs: the median run, and the best and worst. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: percentile(values, 50), min: Math.min(...values), max: Math.max(...values) };
}

/** "1.23 (1.10–1.41)": median over runs, then min–max. */
export function formatSpread(s: Spread, digits = 2, unit = ""): string {
  const f = (x: number) => x.toFixed(digits);
  return `${f(s.median)}${unit} (${f(s.min)}–${f(s.max)}${unit})`;
}

// ---- process sampling ---------------------------------------------------------------------------

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
function ticksPerSecond(): number {
  clockTicks ??= Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  return clockTicks;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** Resident memory in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

/** Measures a process's CPU use while `during` runs: percent of one core over the wall time. */
export async function cpuPercentDuring(pid: number, during: () => Promise<unknown>): Promise<{ percent: number; seconds: number }> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await during();
  const seconds = (performance.now() - t0) / 1000;
  return { percent: ((cpuSeconds(pid) - cpu0) / seconds) * 100, seconds };
}

// ---- the machine and the command line -----------------------------------------------------------

export function machine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  return `${availableParallelism()} cores (${model}), ${Math.floor(totalmem() / 2 ** 30)} GiB memory (as free -g), Bun ${Bun.version}, ${process.platform}`;
}

/** `--runs N` (default 3): every script repeats its measurement and reports the spread. */
export function runsArg(fallback = 3): number {
  const { values } = parseArgs({ options: { runs: { type: "string" } }, strict: false });
  const runs = Number(values.runs ?? fallback);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs must be 1 to 20, got ${values.runs}`);
  return runs;
}

/**
 * `--cpu-prof-dir DIR`: every broker and server.ts the benchmark starts writes a Bun CPU profile
 * there when it exits (summarize one with `bun bench/profile-summary.ts FILE`).
 */
export function profileEnv(): Record<string, string> {
  const { values } = parseArgs({ options: { "cpu-prof-dir": { type: "string" } }, strict: false });
  const dir = values["cpu-prof-dir"];
  return typeof dir === "string" ? { BUN_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` } : {};
}

/**
 * Waits (at most a minute) until the machine is nearly idle, so a run does not share the cores with
 * other work (a test suite, a build); returns how busy the last 1 s sample was.
 */
export async function awaitQuiet(maxBusy = 20, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let busy = await machineBusyDuring(() => Bun.sleep(1000));
  while (busy > maxBusy && Date.now() < deadline) busy = await machineBusyDuring(() => Bun.sleep(1000));
  if (busy > maxBusy) console.log(`note: the machine is still ${busy.toFixed(0)} % busy with other work; this run shares it`);
  return busy;
}

/** Prints what is measured, on what, and how busy the machine already was (other work skews figures). */
export async function header(title: string, runs: number): Promise<void> {
  const busy = await machineBusyDuring(() => Bun.sleep(1000));
  console.log(`\n== ${title} ==\nmachine: ${machine()}\nbusy before start: ${busy.toFixed(0)} % of all cores (1 s sample)\nruns: ${runs}`);
}

// ---- worlds that are always cleaned up ----------------------------------------------------------

const openWorlds = new Set<World>();

/** Runs `fn` in a fresh world (port, temp DB, servers, brokers) and closes it whatever happens. */
export async function inWorld<T>(fn: (world: World) => Promise<T>, extraEnv: Record<string, string> = {}): Promise<T> {
  // Loop damping on its defaults: the figures include what its two rules cost on every send.
  const world = openWorld({ ...profileEnv(), ...extraEnv });
  openWorlds.add(world);
  try {
    return await fn(world);
  } finally {
    openWorlds.delete(world);
    await world.close();
  }
}

/** Ctrl-C or a kill still stops every process a benchmark started and removes its temp dirs. */
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void Promise.allSettled([...openWorlds].map((w) => w.close())).finally(() => process.exit(130));
  });
}

// ---- channel notifications, without polling -----------------------------------------------------

/**
 * Resolves the moment `server`'s client receives a channel notification that matches: the test
 * helper's waitFor polls every 5–50 ms, too coarse for a latency in milliseconds.
 */
export function channelListener(server: TestServer): (match: (m: ChannelMessage) => boolean, timeoutMs?: number) => Promise<number> {
  const waiters = new Set<{ match: (m: ChannelMessage) => boolean; resolve: (at: number) => void }>();
  const recorded = server.client.fallbackNotificationHandler;
  server.client.fallbackNotificationHandler = async (n) => {
    const at = performance.now();
    await recorded?.(n);
    if (n.method !== "notifications/claude/channel") return;
    const m = n.params as unknown as ChannelMessage;
    for (const w of waiters) if (w.match(m)) (waiters.delete(w), w.resolve(at));
  };
  return (match, timeoutMs = 5000) => {
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const waiter = { match, resolve };
    waiters.add(waiter);
    const timer = setTimeout(() => {
      waiters.delete(waiter);
      reject(new Error(`no matching channel notification within ${timeoutMs} ms`));
    }, timeoutMs);
    return promise.finally(() => clearTimeout(timer));
  };
}

export const ms = (x: number) => `${x.toFixed(2)} ms`;

/** Share of the whole machine's CPU time (all cores) that was busy while `during` ran, in percent. */
export async function machineBusyDuring(during: () => Promise<unknown>): Promise<number> {
  const read = () => {
    const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number);
    const idle = ticks[3]! + ticks[4]!; // idle + iowait
    return { idle, total: ticks.reduce((a, b) => a + b, 0) };
  };
  const before = read();
  await during();
  const after = read();
  return (1 - (after.idle - before.idle) / (after.total - before.total)) * 100;
}

/** The state of every message in a broker's SQLite file, read beside the running broker (WAL). */
export function storedStates(dbPath: string): Map<string, string> {
  const db = new Database(dbPath, { readonly: true });
  try {
    return new Map(db.query<{ id: string; state: string }, []>("SELECT id, state FROM messages").all().map((r) => [r.id, r.state]));
  } finally {
    db.close();
  }
}
