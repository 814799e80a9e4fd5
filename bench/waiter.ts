#!/usr/bin/env bun
/**
 * The waiter (`bun cli.ts hook --wait`): what it costs an idle session, and how soon it hands mail
 * over. This process plays Claude Code (the session's server.ts and the waiter are its children,
 * as in a real session). Per round: start a waiter as the Stop hook does, wait until the broker
 * holds it, read its memory (and, the first time, its CPU over 10 quiet seconds), then send the session a message and time
 * the send call → the waiter's exit (code 2, the mail on stderr); beside it, the floor measured in
 * the same run: the same send → the push on the session's channel.
 */
import { join } from "node:path";
import { StatusResultSchema } from "../shared/protocol.ts";
import { runningBroker } from "../tests/helpers/broker.ts";
import { ROOT } from "../tests/helpers/env.ts";
import { whoami } from "../tests/helpers/server.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { channelListener, cpuSeconds, distribution, formatSpread, header, inWorld, rssMiB, runsArg, spread, type Distribution } from "./lib.ts";

const ROUNDS = 30;
const WAITER = [process.execPath, join(ROOT, "cli.ts"), "hook", "--wait"];
/** The first round's waiter is watched this long while it waits: CPU time comes in 10 ms ticks. */
const QUIET_MS = 10_000;

export interface WaiterRun {
  handover: Distribution;
  push: Distribution;
  rssMiB: number;
  cpuPercentIdle: number;
}

/** One run of ROUNDS waiter rounds in a fresh world (bench/monitor.ts runs it beside the monitor). */
export async function measureWaiter(): Promise<WaiterRun> {
  return inWorld(async (world) => {
    const session = await world.start({ name: "idle", env: { CLAUDE_CODE_SESSION_ID: "bench-session" } });
    const { id } = await whoami(session);
    const broker = await runningBroker(world.t);
    const pushed = channelListener(session);
    const input = new TextEncoder().encode(JSON.stringify({ hook_event_name: "Stop", session_id: "bench-session", stop_hook_active: false }));
    const handover: number[] = [];
    const push: number[] = [];
    const rss: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const waiter = Bun.spawn(WAITER, { env: world.t.env, stdin: input, stdout: "ignore", stderr: "pipe" });
      await waitFor(async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).hooks_waiting.includes(id), "the waiter to be held");
      if (i === 0) {
        const cpu0 = cpuSeconds(waiter.pid);
        await Bun.sleep(QUIET_MS); // a benchmark may pause: this is the idle time being measured
        cpu.push(((cpuSeconds(waiter.pid) - cpu0) / (QUIET_MS / 1000)) * 100);
      }
      rss.push(rssMiB(waiter.pid));
      const text = `round ${i}`;
      const onChannel = pushed((m) => m.content === text, 10_000);
      const t0 = performance.now();
      await broker.post("/send", { to: "idle", text });
      const stderr = new Response(waiter.stderr).text();
      const code = await waiter.exited;
      const done = performance.now();
      const at = await onChannel;
      if (code !== 2 || !(await stderr).includes(text)) throw new Error(`round ${i}: the waiter exited ${code}`);
      handover.push(done - t0);
      push.push(at - t0);
    }
    return { handover: distribution(handover), push: distribution(push), rssMiB: Math.max(...rss), cpuPercentIdle: Math.max(...cpu) };
  });
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`waiter: ${ROUNDS} rounds of an idle session's waiter handing over one message`, runs);
  const results: WaiterRun[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await measureWaiter();
    console.log(
      `run ${i + 1}: send → waiter's exit p50 ${r.handover.p50.toFixed(2)} p99 ${r.handover.p99.toFixed(2)} ms; push p50 ${r.push.p50.toFixed(2)} ms; waiter ${r.rssMiB.toFixed(1)} MiB, ${r.cpuPercentIdle.toFixed(2)} % CPU while idle`,
    );
    results.push(r);
  }
  for (const [key, label] of [["handover", "send → the waiter's exit with the mail (exit 2)"], ["push", "floor: the same send → the push on the session's channel"]] as const) {
    console.log(`\n${label}, ms: median over runs (min–max)`);
    for (const p of ["p50", "p90", "p99", "max"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(results.map((r) => r[key][p])))}`);
  }
  console.log(`\nwaiter while it waits: ${formatSpread(spread(results.map((r) => r.rssMiB)), 1, " MiB")} resident, ${formatSpread(spread(results.map((r) => r.cpuPercentIdle)), 2, " %")} of one core`);
}

if (import.meta.main) await main();
