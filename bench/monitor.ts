#!/usr/bin/env bun
/**
 * The plugin's monitor (`bun cli.ts hook --monitor`): how soon a peer's message becomes its line
 * on stdout (what Claude Code turns into a monitor event), beside the channel push and the waiter
 * in the same run. This process plays Claude Code: the session's server.ts and the monitor are its
 * children, as in a real session. Per round: send the session a message and time the send call →
 * the line on the monitor's stdout, and the same send → the push on the session's channel. Rounds
 * are spaced by the monitor's own pace (one batch per PACE_REFILL_MS once its tokens are spent),
 * so each is a fresh message, not a queue. Then the waiter (bench/waiter.ts) in the same run.
 * Not measured here: Claude Code's own 200 ms batching of monitor output and its turn start.
 */
import { join } from "node:path";
import { PACE_REFILL_MS } from "../shared/hook/monitor-pace.ts";
import { StatusResultSchema } from "../shared/protocol.ts";
import { runningBroker } from "../tests/helpers/broker.ts";
import { ROOT } from "../tests/helpers/env.ts";
import { whoami } from "../tests/helpers/server.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, type Distribution } from "./lib.ts";
import { measureWaiter } from "./waiter.ts";

const ROUNDS = 20;
const MONITOR = [process.execPath, join(ROOT, "cli.ts"), "hook", "--monitor"];

interface MonitorRun {
  line: Distribution;
  push: Distribution;
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

async function measure(): Promise<MonitorRun> {
  return inWorld(async (world) => {
    const env = { CLAUDE_CODE_SESSION_ID: "bench-monitor" };
    const session = await world.start({ name: "watched", env });
    const { id } = await whoami(session);
    const broker = await runningBroker(world.t);
    const pushed = channelListener(session);
    const monitor = Bun.spawn(MONITOR, { env: { ...world.t.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    try {
      const lined = lineListener(monitor.stdout);
      await waitFor(async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).monitors.includes(id), "the monitor to hold the session");
      const line: number[] = [];
      const push: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const text = `round ${i} `;
        const onLine = lined(JSON.stringify(text));
        const onChannel = pushed((m) => m.content === text, 10_000);
        const t0 = performance.now();
        await broker.post("/send", { to: "watched", text });
        line.push((await onLine) - t0);
        push.push((await onChannel) - t0);
        await Bun.sleep(PACE_REFILL_MS); // the monitor's pace: each round's message is written as it comes
      }
      return { line: distribution(line), push: distribution(push) };
    } finally {
      monitor.kill("SIGKILL");
      await monitor.exited;
    }
  });
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`monitor: ${ROUNDS} rounds of a session's monitor writing one message, then the waiter`, runs);
  const results: (MonitorRun & { waiter: Distribution })[] = [];
  for (let i = 0; i < runs; i++) {
    const r = { ...(await measure()), waiter: (await measureWaiter()).handover };
    console.log(`run ${i + 1}: send → monitor's line p50 ${r.line.p50.toFixed(2)} p99 ${r.line.p99.toFixed(2)} ms; push p50 ${r.push.p50.toFixed(2)} p99 ${r.push.p99.toFixed(2)} ms; waiter p50 ${r.waiter.p50.toFixed(2)} p99 ${r.waiter.p99.toFixed(2)} ms`);
    results.push(r);
  }
  for (const [key, label] of [
    ["line", "send → the monitor's line on stdout"],
    ["push", "the same send → the push on the session's channel"],
    ["waiter", "send → the waiter's exit with the mail (bench/waiter.ts's rounds)"],
  ] as const) {
    console.log(`\n${label}, ms: median over runs (min–max)`);
    for (const p of ["p50", "p99"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(results.map((r) => r[key][p])))}`);
  }
}

if (import.meta.main) await main();
