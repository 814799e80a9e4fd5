#!/usr/bin/env bun
/**
 * Awaited replies: session A asks B a question, then waits in check_messages(reply_to, wait_s);
 * B answers with in_reply_to. The time runs from B's send_message call to A's check_messages
 * result (the wake-up), beside its floor in the same run: the push of the same answer to A's
 * channel. Real broker, two real server.ts over stdio; one question at a time.
 */
import { startBroker } from "../tests/helpers/broker.ts";
import { sentMessageId, whoami } from "../tests/helpers/server.ts";
import { awaitQuiet, channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, type Distribution } from "./lib.ts";

const QUESTIONS = 200;
const WARMUP = 20;
/** Lets A's wait reach the broker before B answers (a benchmark may pause; a test waits on conditions). */
const SETTLE_MS = 20;
/**
 * A and B answer each other, which the loop rule holds after 15 rounds (30 messages) with no
 * person in between: a person writes to A this often, outside the timed part, as an operator
 * watching such a conversation would (README, Loop damping).
 */
const PERSON_EVERY = 10;

interface WaitRun {
  wake: Distribution;
  push: Distribution;
}

async function measure(): Promise<WaitRun> {
  return inWorld(async (world) => {
    const broker = await startBroker(world.t);
    const [a, b] = await Promise.all([world.start({ name: "asker" }), world.start({ name: "answerer" })]);
    const [aId, bId] = await Promise.all([whoami(a).then((w) => w.id), whoami(b).then((w) => w.id)]);
    const pushed = channelListener(a);
    const wake: number[] = [];
    const push: number[] = [];
    for (let i = -WARMUP; i < QUESTIONS; i++) {
      if (i % PERSON_EVERY === 0) {
        const res = await broker.post("/send", { to: aId, text: `carry on (round ${i})` });
        if (!res.ok) throw new Error(`the person's message: HTTP ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
      const question = sentMessageId((await a.call("send_message", { to: bId, message: `question ${i}` })).text);
      const waiting = a.call("check_messages", { reply_to: question, wait_s: 30 });
      await Bun.sleep(SETTLE_MS);
      const text = `answer ${i}`;
      const onChannel = pushed((m) => m.content === text, 30_000);
      const t0 = performance.now();
      const reply = b.call("send_message", { to: aId, message: text, in_reply_to: question });
      const result = await waiting;
      const woke = performance.now();
      const at = await onChannel;
      if ((await reply).isError || !result.text.includes(text)) throw new Error(`question ${i}: ${result.text}`);
      await b.call("check_messages"); // B's inbox stays empty between rounds
      if (i < 0) continue;
      wake.push(woke - t0);
      push.push(at - t0);
    }
    return { wake: distribution(wake), push: distribution(push) };
  });
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`awaited replies: ${QUESTIONS} questions, A waits in check_messages(reply_to) while B answers`, runs);
  const results: WaitRun[] = [];
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    const r = await measure();
    console.log(`run ${i + 1}: wake-up p50 ${r.wake.p50.toFixed(2)} p99 ${r.wake.p99.toFixed(2)} ms; push of the same answer p50 ${r.push.p50.toFixed(2)} p99 ${r.push.p99.toFixed(2)} ms`);
    results.push(r);
  }
  for (const [key, label] of [["wake", "wake-up (B's send_message call → A's check_messages result)"], ["push", "floor: push of the same answer to A's channel"]] as const) {
    console.log(`\n${label}, ms: median over runs (min–max)`);
    for (const p of ["p50", "p90", "p99", "max"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(results.map((r) => r[key][p])))}`);
  }
}

if (import.meta.main) await main();
