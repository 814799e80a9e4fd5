#!/usr/bin/env bun
/**
 * Group fan-out: session A sends to #bench, whose 50 other members are real server.ts processes.
 * The time runs from A's send_message call until the last member's MCP client receives its copy
 * (and the first's), beside its floor in the same run: a direct send to one of them. One send at a
 * time; every member reads its mail between rounds.
 */
import { startBroker } from "../tests/helpers/broker.ts";
import { whoami, type TestServer } from "../tests/helpers/server.ts";
import { awaitQuiet, channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, type Distribution } from "./lib.ts";

const MEMBERS = 50;
const SENDS = 100;
const WARMUP = 10;

interface FanoutRun {
  last: Distribution;
  first: Distribution;
  direct: Distribution;
}

async function measure(): Promise<FanoutRun> {
  return inWorld(async (world) => {
    await startBroker(world.t);
    const sender = await world.start({ name: "sender" });
    const members: TestServer[] = [];
    // A few at a time: 50 cold starts at once on 2 cores only measure the scheduler.
    for (let i = 0; i < MEMBERS; i += 10) {
      members.push(...(await Promise.all(Array.from({ length: Math.min(10, MEMBERS - i) }, (_, k) => world.start({ name: `member-${i + k}`, env: { CLAUDE_PEERS_GROUPS: "bench" } })))));
    }
    await Promise.all([sender, ...members].map(whoami));
    const arrivals = members.map(channelListener);
    const last: number[] = [];
    const first: number[] = [];
    const direct: number[] = [];
    for (let i = -WARMUP; i < SENDS; i++) {
      const text = `fan-out ${i}`;
      const copies = arrivals.map((arrived) => arrived((m) => m.content === text, 30_000));
      const t0 = performance.now();
      const sent = await sender.call("send_message", { to: "#bench", message: text });
      const at = await Promise.all(copies);
      if (sent.isError || !sent.text.includes(`${MEMBERS} copies`)) throw new Error(`send ${i}: ${sent.text}`);

      const one = `direct ${i}`;
      const arrived = arrivals[0]!((m) => m.content === one, 30_000);
      const d0 = performance.now();
      const result = await sender.call("send_message", { to: "member-0", message: one });
      const directAt = await arrived;
      if (result.isError) throw new Error(`direct ${i}: ${result.text}`);
      await Promise.all(members.map((m) => m.call("check_messages"))); // inboxes stay empty between rounds
      if (i < 0) continue;
      last.push(Math.max(...at) - t0);
      first.push(Math.min(...at) - t0);
      direct.push(directAt - d0);
    }
    return { last: distribution(last), first: distribution(first), direct: distribution(direct) };
  });
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`group fan-out: ${SENDS} sends to #bench, ${MEMBERS} members (real server.ts each)`, runs);
  const results: FanoutRun[] = [];
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    const r = await measure();
    console.log(
      `run ${i + 1}: last copy p50 ${r.last.p50.toFixed(2)} p99 ${r.last.p99.toFixed(2)} ms; first copy p50 ${r.first.p50.toFixed(2)} ms; direct send p50 ${r.direct.p50.toFixed(2)} p99 ${r.direct.p99.toFixed(2)} ms`,
    );
    results.push(r);
  }
  const rows = [
    ["last", `send_message to #bench → the last of ${MEMBERS} copies on its member's channel`],
    ["first", "send_message to #bench → the first copy on a channel"],
    ["direct", "floor: a direct send_message to one member → its channel"],
  ] as const;
  for (const [key, label] of rows) {
    console.log(`\n${label}, ms: median over runs (min–max)`);
    for (const p of ["p50", "p90", "p99", "max"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(results.map((r) => r[key][p])))}`);
  }
}

if (import.meta.main) await main();
