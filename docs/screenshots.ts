#!/usr/bin/env bun
/**
 * Makes the README's screenshots of the operator console: a small fleet of real server.ts sessions
 * (in throwaway git repositories, on a private broker) talk for a moment, then Debian's Chromium
 * photographs each view. Run it again after changing the page: `bun docs/screenshots.ts`.
 */
import { join } from "node:path";
import { launchBrowser } from "../tests/helpers/browser.ts";
import { runCli } from "../tests/helpers/cli.ts";
import { addWorktree, makeRepo } from "../tests/helpers/git.ts";
import type { TestServer } from "../tests/helpers/server.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { openWorld } from "../tests/helpers/world.ts";

const OUT = import.meta.dir;
// A low loop limit, so the picture has a held pair to release.
const world = openWorld({ CLAUDE_PEERS_LOOP_LIMIT: "4" });
const browser = await launchBrowser();
try {
  const shop = makeRepo(world.t.home, "shop");
  const checkout = addWorktree(shop, join(world.t.home, "shop-checkout"), "checkout-redesign");
  const docsRepo = makeRepo(world.t.home, "handbook");
  const start = (name: string, cwd: string, groups = "") => world.start({ name, cwd, env: groups ? { CLAUDE_PEERS_GROUPS: groups } : {} });
  const api = await start("shop", shop, "checkout");
  const web = await start("shop-checkout", checkout, "checkout,ui");
  const reviewer = await start("reviewer", shop, "review");
  const docs = await start("handbook", docsRepo);
  const botA = await start("triage-bot", shop);
  const botB = await start("label-bot", shop);
  const all = [api, web, reviewer, docs, botA, botB];
  await waitFor(async () => (await api.call("list_peers")).text.includes("label-bot"), "every session to be live");
  const summaries: Array<[TestServer, string]> = [
    [api, "adding rate limits to POST /orders (429 + Retry-After)"],
    [web, "moving the checkout page to the new design"],
    [reviewer, "reviewing PR #412: order rate limits"],
    [docs, "writing the 3.0 upgrade guide"],
    [botA, "triaging new issues"],
    [botB, "labelling issues"],
  ];
  for (const [s, summary] of summaries) await s.call("set_summary", { summary });

  const idOf = (text: string) => /\b(m-[a-z0-9]+)\b/.exec(text)![1]!;
  const ask = idOf((await web.call("send_message", { to: "shop", message: "Does POST /orders answer 429 with Retry-After now? The checkout page needs to back off.", reply_within_s: 900 })).text);
  await api.call("check_messages");
  await api.call("send_message", { to: "shop-checkout", message: "Yes: 429 with Retry-After in seconds, and a JSON body {error: {code: 'rate_limited'}}.", in_reply_to: ask });
  await web.call("check_messages");
  await reviewer.call("send_message", { to: "#checkout", message: "PR #412 is approved once the checkout page handles the 429. Who takes it?" });
  await docs.call("send_message", { to: "shop", message: "Is the rate limit per user or per API key? The upgrade guide has to say.", reply_within_s: 1 });
  for (let i = 1; i <= 6; i++) {
    const [from, to] = i % 2 ? [botA, "label-bot"] : [botB, "triage-bot"];
    await from.call("send_message", { to, message: i % 2 ? `issue #${900 + i}: needs a label` : `labelled #${899 + i} as bug; next?` });
  }
  await runCli(world.t, ["pause", "handbook"]);
  await reviewer.call("send_message", { to: "handbook", message: "Hold the guide until #412 is merged." });
  await Bun.sleep(1500); // the docs question's one-second deadline passes: the picture shows it overdue

  const url = (await runCli(world.t, ["dashboard", "--no-open"])).stdout.trim().split("\n").at(-1)!;
  const page = await browser.browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForSelector("html[data-ready=true]");
  await page.waitForSelector('tr[data-session="label-bot"]');
  await page.screenshot({ path: join(OUT, "console-sessions.png") });
  await page.click("[data-tab=conversations]");
  await page.waitForSelector("[data-reply=overdue]");
  await page.screenshot({ path: join(OUT, "console-conversations.png") });
  await page.click("[data-tab=graph]");
  await page.waitForSelector('[data-edge="triage-bot→label-bot"]');
  await page.screenshot({ path: join(OUT, "console-graph.png") });
  console.log(`wrote console-sessions.png, console-conversations.png and console-graph.png in ${OUT}`);
  await Promise.all(all.map((s) => s.stop()));
} finally {
  await browser.close();
  await world.close();
}
