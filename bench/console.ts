#!/usr/bin/env bun
/**
 * The operator console in a real Chromium (Debian's, through playwright-core):
 *  1. send → page: a message sent through the broker until the page shows it (a MutationObserver
 *     in the page stamps the time; both clocks are this machine's), beside two floors measured in
 *     the same run: the same send → the push on a session's channel, and a bare WebSocket round
 *     trip from a page of the same browser to a Bun echo server;
 *  2. a big history: 200 live sessions and 10,000 messages between them; the page's first render
 *     (navigation start → the first render with data) and its JS heap, then ten steps back in
 *     time (more threads, older pages); beside the floor: a bare static page's load in the same browser.
 */
import { runningBroker, startBroker } from "../tests/helpers/broker.ts";
import { launchBrowser, type Page, type TestBrowser } from "../tests/helpers/browser.ts";
import { runCli } from "../tests/helpers/cli.ts";
import type { World } from "../tests/helpers/world.ts";
import { channelListener, distribution, formatSpread, header, inWorld, runsArg, spread, type Distribution } from "./lib.ts";
import { connectRawPeer, type RawPeer } from "./raw-peer.ts";

// page.evaluate callbacks run in the browser; this script is typed for Bun, without the DOM's types.
declare const document: any;
declare const MutationObserver: any;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 100);
const SESSIONS = 200;
const MESSAGES = 10_000;
const IN_FLIGHT = 50;
/** How far the person pages back in the big history. */
const BACK_STEPS = 10;

async function login(world: World, page: Page): Promise<void> {
  const r = await runCli(world.t, ["dashboard", "--no-open"]);
  if (r.code !== 0) throw new Error(`dashboard failed: ${r.stderr}`);
  await page.goto(r.stdout.trim().split("\n").at(-1)!);
  await page.waitForSelector("html[data-ready=true]");
}

/** Epoch milliseconds, fine-grained, on the same clock as the page's performance.timeOrigin + now(). */
const epochNow = () => performance.timeOrigin + performance.now();

interface LatencyRun {
  page: Distribution;
  channel: Distribution;
  websocket: Distribution;
}

async function sendToPage(browser: TestBrowser): Promise<LatencyRun> {
  return inWorld(async (world) => {
    const session = await world.start({ name: "target" });
    const broker = await runningBroker(world.t);
    const page = await browser.browser.newPage();
    await login(world, page);
    await page.click("[data-tab=conversations]");
    const pushed = channelListener(session);
    const toPage: number[] = [];
    const toChannel: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const text = `round ${i} ${crypto.randomUUID()}`;
      const shown = page.evaluate(
        (want) =>
          new Promise<number>((resolve) => {
            const seen = () => [...document.querySelectorAll("pre.text")].some((el: any) => el.textContent === want);
            const observer = new MutationObserver(() => {
              if (!seen()) return;
              observer.disconnect();
              resolve(performance.timeOrigin + performance.now());
            });
            observer.observe(document.body, { childList: true, subtree: true, characterData: true });
          }),
        text,
      );
      await page.evaluate(() => 0); // the observer is in place before the send
      const onChannel = pushed((m) => m.content === text, 10_000);
      const t0 = epochNow();
      const p0 = performance.now();
      await broker.post("/send", { to: "target", text });
      toChannel.push((await onChannel) - p0);
      toPage.push((await shown) - t0);
    }
    await page.close();
    // The console's CSP allows its own origin only, so the floor runs in a blank page of the same browser.
    const blank = await browser.browser.newPage();
    const websocket = await echoRoundTrips(blank);
    await blank.close();
    return { page: distribution(toPage), channel: distribution(toChannel), websocket: distribution(websocket) };
  });
}

/** The floor: a bare WebSocket round trip from a page to a Bun echo server on this machine. */
async function echoRoundTrips(page: Page): Promise<number[]> {
  const echo = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => (server.upgrade(req) ? undefined : new Response("upgrade", { status: 400 })),
    websocket: { message: (ws, data) => void ws.send(data) },
  });
  try {
    return await page.evaluate(
      async ({ url, rounds }) => {
        const ws = new WebSocket(url);
        await new Promise((r) => (ws.onopen = r));
        const times: number[] = [];
        for (let i = 0; i < rounds; i++) {
          const t0 = performance.now();
          await new Promise((r) => {
            ws.onmessage = r;
            ws.send(`ping ${i}`);
          });
          times.push(performance.now() - t0);
        }
        ws.close();
        return times;
      },
      { url: `ws://127.0.0.1:${echo.port}/`, rounds: ROUNDS },
    );
  } finally {
    echo.stop(true);
  }
}

interface BigRun {
  seedSeconds: number;
  firstRenderMs: number;
  heapMiB: number;
  domNodes: number;
  conversationsMs: number;
  backStepMs: Distribution;
  shownAfter: number;
  heapAfterMiB: number;
  floorMs: number;
}

async function bigHistory(browser: TestBrowser): Promise<BigRun> {
  return inWorld(async (world) => {
    const broker = await startBroker(world.t);
    const t0 = performance.now();
    const peers: RawPeer[] = [];
    for (let i = 0; i < SESSIONS; i += 20) {
      peers.push(...(await Promise.all(Array.from({ length: Math.min(20, SESSIONS - i) }, (_, j) => connectRawPeer({ socketPath: world.t.socketPath, token: broker.token, name: `session-${String(i + j).padStart(3, "0")}` })))));
    }
    // Mostly between neighbours (a few busy pairs, like a real fleet), a third of them replies.
    const sent: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < MESSAGES) {
        const i = next++;
        const from = peers[i % SESSIONS]!;
        const to = peers[(i % SESSIONS) + 1 + (i % 7) < SESSIONS ? (i % SESSIONS) + 1 + (i % 7) : i % 7]!;
        const replyTo = i % 3 === 2 && sent.length > 0 ? sent[sent.length - 1 - (i % Math.min(20, sent.length))] : undefined;
        const r = await from.client.call("/send", { to: to.id, text: `message ${i}: status of task ${i % 97}, see file src/part-${i % 13}.ts`, ...(replyTo ? { in_reply_to: replyTo } : {}) });
        sent.push(r.message.id);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seedSeconds = (performance.now() - t0) / 1000;

    const context = await browser.browser.newContext();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () => Object.fromEntries(((await cdp.send("Performance.getMetrics")) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [m.name, m.value]));
    await login(world, page);
    await page.waitForFunction((n) => document.querySelectorAll("tr[data-session]").length === n, SESSIONS);
    const firstRenderMs = await page.evaluate(() => performance.getEntriesByName("console-ready")[0]!.startTime);
    await cdp.send("HeapProfiler.collectGarbage");
    const first = await metrics();

    const c0 = performance.now();
    await page.click("[data-tab=conversations]");
    await page.waitForSelector(".thread");
    const conversationsMs = performance.now() - c0;

    // Back in time, as a person does: "show more threads", then "older messages" from the broker.
    const steps: number[] = [];
    for (let k = 0; k < BACK_STEPS; k++) {
      const count = await page.$$eval(".send", (els: unknown[]) => els.length);
      const button = await page.$("[data-action=more], [data-action=older]");
      if (!button) break;
      const s0 = performance.now();
      await button.click();
      await page.waitForFunction((n: number) => document.querySelectorAll(".send").length > n, count, { timeout: 60_000 });
      steps.push(performance.now() - s0);
    }
    const shownAfter = await page.$$eval(".send", (els: unknown[]) => els.length);
    await cdp.send("HeapProfiler.collectGarbage");
    const after = await metrics();

    // The floor: a bare static page, loaded in the same browser.
    const bare = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<!doctype html><p>bare</p>", { headers: { "content-type": "text/html" } }) });
    const floorPage = await context.newPage();
    await floorPage.goto(`http://127.0.0.1:${bare.port}/`);
    const floorMs = await floorPage.evaluate(() => (performance as any).getEntriesByType("navigation")[0].loadEventEnd as number);
    bare.stop(true);
    await context.close();
    for (const p of peers) p.close();
    return {
      seedSeconds,
      firstRenderMs,
      heapMiB: first.JSHeapUsedSize! / 2 ** 20,
      domNodes: first.Nodes!,
      conversationsMs,
      backStepMs: distribution(steps),
      shownAfter,
      heapAfterMiB: after.JSHeapUsedSize! / 2 ** 20,
      floorMs,
    };
  }, { CLAUDE_PEERS_DUPLICATE_WINDOW_S: "0" });
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`console: send → page (${ROUNDS} rounds), and ${SESSIONS} sessions with ${MESSAGES} messages`, runs);
  const browser = await launchBrowser();
  try {
    const latency: LatencyRun[] = [];
    const big: BigRun[] = [];
    for (let i = 0; i < runs; i++) {
      const l = await sendToPage(browser);
      latency.push(l);
      console.log(`run ${i + 1}: send → page p50 ${l.page.p50.toFixed(2)} p99 ${l.page.p99.toFixed(2)} ms; send → channel p50 ${l.channel.p50.toFixed(2)} ms; WebSocket echo p50 ${l.websocket.p50.toFixed(2)} ms`);
      const b = await bigHistory(browser);
      big.push(b);
      console.log(
        `run ${i + 1}: seeded in ${b.seedSeconds.toFixed(1)} s; first render ${b.firstRenderMs.toFixed(0)} ms, heap ${b.heapMiB.toFixed(1)} MiB, ${b.domNodes} DOM nodes; conversations tab ${b.conversationsMs.toFixed(0)} ms; ${BACK_STEPS} steps back p50 ${b.backStepMs.p50.toFixed(0)} ms (${b.shownAfter} sends shown), heap ${b.heapAfterMiB.toFixed(1)} MiB; bare page ${b.floorMs.toFixed(0)} ms`,
      );
    }
    const rows: Array<[string, (l: LatencyRun) => Distribution]> = [
      ["send → the page shows it", (l) => l.page],
      ["floor: the same send → the session's channel push", (l) => l.channel],
      ["floor: a bare WebSocket round trip from the page", (l) => l.websocket],
    ];
    for (const [label, pick] of rows) {
      console.log(`\n${label}, ms: median over runs (min–max)`);
      for (const p of ["p50", "p99"] as const) console.log(`  ${p.padEnd(4)} ${formatSpread(spread(latency.map((l) => pick(l)[p])))}`);
    }
    console.log(`\n${SESSIONS} sessions, ${MESSAGES} messages: median over runs (min–max)`);
    const figures: Array<[string, (b: BigRun) => number, string]> = [
      ["first render (navigation → sessions with data)", (b) => b.firstRenderMs, " ms"],
      ["JS heap after first render", (b) => b.heapMiB, " MiB"],
      ["conversations tab (first 200 messages)", (b) => b.conversationsMs, " ms"],
      [`a step back in time (of ${BACK_STEPS}), p50`, (b) => b.backStepMs.p50, " ms"],
      [`a step back in time (of ${BACK_STEPS}), max`, (b) => b.backStepMs.max, " ms"],
      [`JS heap after ${BACK_STEPS} steps back`, (b) => b.heapAfterMiB, " MiB"],
      ["floor: a bare static page's load", (b) => b.floorMs, " ms"],
    ];
    for (const [label, pick, unit] of figures) console.log(`  ${label.padEnd(50)} ${formatSpread(spread(big.map(pick)), 1, unit)}`);
  } finally {
    await browser.close();
  }
}

await main();
