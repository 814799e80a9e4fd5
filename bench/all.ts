#!/usr/bin/env bun
/**
 * `bun run bench`: every benchmark, one after another, each in its own process so one script's
 * processes and JIT state never colour the next. Arguments (e.g. --runs 5) are passed to each.
 */
import { join } from "node:path";

const SCRIPTS = ["latency.ts", "wait.ts", "fanout.ts", "waiter.ts", "throughput.ts", "idle.ts", "startup.ts", "growth.ts", "hook.ts", "network.ts", "console.ts"];
/** Far above any script's normal time; a stuck benchmark is killed rather than waited on forever. */
const SCRIPT_TIMEOUT_MS = 15 * 60 * 1000;

const args = process.argv.slice(2);
const t0 = performance.now();
let failed = 0;
for (const script of SCRIPTS) {
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, script), ...args], { stdout: "inherit", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGTERM"), SCRIPT_TIMEOUT_MS); // SIGTERM: the script cleans up its worlds
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) {
    failed++;
    console.error(`bench/${script} failed (exit ${code})`);
  }
}
console.log(`\nall benchmarks done in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed ? `; ${failed} failed` : ""}`);
process.exit(failed ? 1 : 0);
