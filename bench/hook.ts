#!/usr/bin/env bun
/**
 * `bun cli.ts hook`, end to end as Claude Code pays for it: from spawning the process (stdin: the
 * hook's JSON) to its exit. Claude Code runs it on every tool call, so the case that matters is a
 * live session with no mail (one request to the broker). Also: a message waiting (print it, mark it
 * read), no broker (token file left, port closed) and no token file (no broker ever ran); and, for
 * scale, `bun` on an empty script. This process plays Claude Code: the session's server.ts and
 * every hook are its children, as in a real session.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runningBroker } from "../tests/helpers/broker.ts";
import { ROOT } from "../tests/helpers/env.ts";
import { whoami } from "../tests/helpers/server.ts";
import { formatSpread, header, inWorld, percentile, runsArg, spread } from "./lib.ts";

/** Hook runs per case and run. */
const RUNS_PER_CASE = 20;
const INPUT = new TextEncoder().encode(JSON.stringify({ hook_event_name: "PostToolUse", session_id: "bench", tool_name: "Bash" }));

/** Spawns one hook (or `cmd`) with the hook input on stdin; returns its wall time in ms and its stdout. */
async function timeOnce(cmd: string[], env: Record<string, string>): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { stdin: INPUT, stdout: "pipe", stderr: "ignore", env });
  const stdout = await new Response(proc.stdout).text();
  await proc.exited;
  return { ms: performance.now() - t0, stdout };
}

async function p50Of(cmd: string[], env: Record<string, string>, before?: () => Promise<void>): Promise<{ p50: number; p90: number }> {
  const times: number[] = [];
  for (let i = 0; i < RUNS_PER_CASE; i++) {
    await before?.();
    const { ms, stdout } = await timeOnce(cmd, env);
    if (before && !stdout.includes("additionalContext")) throw new Error(`the hook printed no mail: ${stdout}`);
    if (!before && stdout !== "") throw new Error(`the hook printed something with no mail waiting: ${stdout}`);
    times.push(ms);
  }
  return { p50: percentile(times, 50), p90: percentile(times, 90) };
}

const runs = runsArg();
await header(`hook: bun cli.ts hook, spawn to exit (${RUNS_PER_CASE} runs per case and run)`, runs);
const HOOK = [process.execPath, join(ROOT, "cli.ts"), "hook"];
const cases = new Map<string, Array<{ p50: number; p90: number }>>();
const record = (name: string, r: { p50: number; p90: number }) => cases.set(name, [...(cases.get(name) ?? []), r]);

for (let run = 0; run < runs; run++) {
  const empty = mkdtempSync(join(tmpdir(), "claude-peers-bench-hook-"));
  try {
    writeFileSync(join(empty, "empty.ts"), "");
    record("bun on an empty script (floor)", await p50Of([process.execPath, join(empty, "empty.ts")], { PATH: process.env.PATH ?? "" }));
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  await inWorld(async (world) => {
    const env = world.t.env;
    record("no token file (no broker ever ran)", await p50Of(HOOK, env));
    const server = await world.start({ name: "bench" });
    await whoami(server);
    const broker = await runningBroker(world.t);
    record("live session, no mail (every tool call)", await p50Of(HOOK, env));
    const send = async () => void (await broker.post("/send", { to: "bench", text: "a short note from the bench" }));
    record("live session, 1 message (print + mark read)", await p50Of(HOOK, env, send));
    await server.stop();
    await broker.stop();
    record("no broker (token file left, port closed)", await p50Of(HOOK, env));
  });
}

for (const [name, results] of cases) {
  console.log(`${name.padEnd(46)} p50 ${formatSpread(spread(results.map((r) => r.p50)), 1, " ms")}   p90 ${formatSpread(spread(results.map((r) => r.p90)), 1, " ms")}`);
}
