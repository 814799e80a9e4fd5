/**
 * The operator console in a real browser: Debian's Chromium driven by playwright-core, against a
 * real broker started by real server.ts sessions (MCP over stdio), logged in through the URL that
 * `bun cli.ts dashboard --no-open` prints.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CONTENT_SECURITY_POLICY } from "../shared/broker/console.ts";
import { CONSOLE_KEY_HEADER } from "../shared/web/wire.ts";
import { runningBroker, type TestBroker } from "./helpers/broker.ts";
import { CHROMIUM, launchBrowser, type TestBrowser } from "./helpers/browser.ts";
import { runCli, runCliWith } from "./helpers/cli.ts";
import { sharedDatabase, type SharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { freePort } from "./helpers/env.ts";
import type { TestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { suiteWorld } from "./helpers/world.ts";

// page.evaluate callbacks run in the browser; this suite is typed for Bun, without the DOM's types.
declare const document: any;
declare const window: any;

// CI installs Chromium (.ci/run); elsewhere, without one, these tests say so and skip.
const describeBrowser = CHROMIUM || process.env.CI ? describe : describe.skip;
if (!CHROMIUM && !process.env.CI) console.log("note: tests/console.test.ts skipped: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)");

describeBrowser("the operator console (real Chromium)", () => {
  // A low loop limit, so a runaway pair is quick to make; the other pairs here stay under it.
  const world = suiteWorld({ CLAUDE_PEERS_LOOP_LIMIT: "4" });
  const { t } = world;
  let browser: TestBrowser;
  let broker: TestBroker;
  let alice: TestServer;
  let bob: TestServer;
  let context: BrowserContext;
  let page: Page;

  async function loginUrl(): Promise<string> {
    const r = await runCli(t, ["dashboard", "--no-open"]);
    expect(r.code).toBe(0);
    const last = r.stdout.trim().split("\n").at(-1)!;
    expect(last).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${t.port}/login\\?code=[A-Za-z0-9_-]{20,}$`));
    return last;
  }

  /** The send (a message, or a group send's copies) with this id, on the conversations tab. */
  const send = (id: string) => page.locator(`.send[data-id="${id}"]`).first();
  const stateOf = (id: string) => page.locator(`[data-copy="${id}"]`).getAttribute("data-state");
  const waitState = (id: string, state: string) => page.waitForSelector(`[data-copy="${id}"][data-state="${state}"]`, { timeout: 10_000 });
  const messageIdIn = (text: string) => /\b(m-[a-z0-9]+)\b/.exec(text)?.[1] ?? null;

  beforeAll(async () => {
    browser = await launchBrowser();
    alice = await world.start({ name: "alice" });
    bob = await world.start({ name: "bob" });
    broker = await runningBroker(t);
    await waitFor(async () => (await alice.call("list_peers")).text.includes("bob"), "alice to see bob");
    context = await browser.browser.newContext();
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
  });

  describe("login", () => {
    test("without the printed URL there is only a log-in page, and the API answers 401", async () => {
      const res = await page.goto(`http://127.0.0.1:${t.port}/`);
      expect(res!.status()).toBe(401);
      expect(await page.textContent("h1")).toBe("Log in to the claude-peers console");
      expect(res!.headers()["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
      const api = await page.evaluate(async () => (await fetch("/console/api/state", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status);
      expect(api).toBe(401);
    });

    test("the printed URL logs in once: an HttpOnly, SameSite=Strict cookie for this broker, and the page; the code never works again", async () => {
      const url = await loginUrl();
      await page.goto(url);
      await page.waitForSelector("html[data-ready=true]");
      expect(page.url()).toBe(`http://127.0.0.1:${t.port}/`); // the code and the key are gone from the address bar
      expect(await page.evaluate(() => sessionStorage.getItem("claude-peers-console-key"))).toMatch(/^[A-Za-z0-9_-]{40,}$/);
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ name: `claude_peers_console_${t.port}`, httpOnly: true, sameSite: "Strict", domain: "127.0.0.1", path: "/" });
      expect(await page.evaluate(() => document.cookie)).toBe(""); // no script can read it

      const other = await browser.browser.newContext();
      const again = await other.newPage();
      const reused = await again.goto(url);
      expect(reused!.status()).toBe(401);
      expect(await again.textContent("h1")).toBe("This login link does not work");
      expect(await other.cookies()).toEqual([]);
      await other.close();
    });

    test("a second tab, or a bookmark, of a logged-in browser says it has no key and how to get in, instead of loading forever", async () => {
      const second = await context.newPage(); // the same cookie; its own (empty) sessionStorage
      try {
        await second.goto(`http://127.0.0.1:${t.port}/`);
        await second.waitForSelector("text=This tab is not logged in");
        expect(await second.textContent("#app")).toContain("Run bun cli.ts dashboard for a new link.");
        // An ended login (a key the broker no longer knows) says so too.
        await second.evaluate(() => sessionStorage.setItem("claude-peers-console-key", "x".repeat(43)));
        await second.reload();
        await second.waitForSelector("text=not logged in here");
      } finally {
        await second.close();
      }
    });

    test("dashboard opens the browser through a file only this user reads, never with the code on a command line", async () => {
      // A stand-in xdg-open records how it was called and keeps what it was given.
      const bin = join(t.dir, "bin");
      mkdirSync(bin);
      const called = join(t.dir, "xdg-open-args");
      const kept = join(t.dir, "xdg-open-file.html");
      const modes = join(t.dir, "xdg-open-modes");
      writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s' "$*" > '${called}'\nstat -c %a "$1" "$(dirname "$1")" > '${modes}'\ncp "$1" '${kept}'\n`, { mode: 0o755 });
      const r = await runCliWith(t, ["dashboard"], { PATH: `${bin}:${t.env.PATH}`, DISPLAY: ":99" });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("opened the operator console in your browser");
      const code = /code=([A-Za-z0-9_-]+)/.exec(r.stdout)![1]!;
      const args = readFileSync(called, "utf8");
      expect(args).not.toContain(code);
      expect(readFileSync(modes, "utf8").split(/\s+/).filter(Boolean)).toEqual(["600", "700"]);
      // Spent once the browser read it: the page with the code is not left in the temp folder.
      expect(existsSync(args)).toBe(false);
      expect(existsSync(dirname(args))).toBe(false);
      // Opened from that file (another origin, file://), the login still lands in a working console.
      const other = await browser.browser.newContext();
      const fromFile = await other.newPage();
      await fromFile.goto(`file://${kept}`);
      await fromFile.waitForSelector("html[data-ready=true]");
      expect(fromFile.url()).toBe(`http://127.0.0.1:${t.port}/`);
      await other.close();
    });

    test("the broker token appears in no URL, page, asset or log line", async () => {
      const seen = [page.url(), await page.content()];
      for (const src of await page.$$eval("script[src], link[href]", (els) => els.map((e: any) => (e.src || e.href) as string))) {
        seen.push(src, await page.evaluate(async (u) => (await fetch(u)).text(), src));
      }
      seen.push(readFileSync(t.logPath, "utf8"));
      for (const text of seen) expect(text.includes(broker.token)).toBe(false);
    });
  });

  describe("live views", () => {
    test("sessions appear and vanish as they come and go, with their details", async () => {
      const row = (name: string) => page.locator(`tr[data-session="${name}"]`);
      await page.click("[data-tab=sessions]");
      await row("alice").waitFor();
      await alice.call("set_summary", { summary: "refactoring the parser" });
      await page.waitForFunction(() => document.querySelector('tr[data-session="alice"] .summary')?.textContent === "refactoring the parser");
      expect(await row("alice").locator("[data-delivery]").textContent()).toContain("push");
      expect(await row("alice").locator("[data-agent]").textContent()).toBe("claude-code");

      const carol = await world.start({ name: "carol" });
      await row("carol").waitFor({ timeout: 10_000 });
      await carol.stop();
      await row("carol").waitFor({ state: "detached", timeout: 10_000 });
    });

    test("a message and its reply are one thread, and their states change live", async () => {
      await page.click("[data-tab=conversations]");
      const sent = await alice.call("send_message", { to: "bob", message: "can you review parser.ts?", reply_within_s: 600 });
      const question = messageIdIn(sent.text)!;
      await send(question).waitFor();
      expect(await send(question).locator("[data-reply]").getAttribute("data-reply")).toBe("awaiting");
      expect(["queued", "delivered"]).toContain((await stateOf(question))!);
      await bob.call("check_messages");
      await waitState(question, "read");

      const replied = await bob.call("send_message", { to: "alice", message: "looks good", in_reply_to: question });
      const answer = messageIdIn(replied.text)!;
      // The reply sits inside the question's thread, and the question reads answered.
      await page.waitForSelector(`[data-thread="${question}"] .replies .send[data-id="${answer}"]`);
      await page.waitForSelector(`.send[data-id="${question}"] > .meta [data-reply=answered]`);
      await alice.call("check_messages");
      await waitState(answer, "read");
    });

    test("the picture of who talks to whom counts the messages each way", async () => {
      await page.click("[data-tab=graph]");
      await page.waitForSelector('[data-node="alice"]');
      await page.waitForSelector('[data-node="bob"]');
      await page.waitForSelector('[data-edge="alice→bob"]');
      const before = Number(await page.getAttribute('[data-edge="bob→alice"]', "data-count"));
      await bob.call("send_message", { to: "alice", message: "one more thing" });
      await page.waitForFunction((n) => Number(document.querySelector('[data-edge="bob→alice"]')?.getAttribute("data-count")) === n + 1, before);
    });
  });

  describe("acting as the person in charge", () => {
    test("a reply from the page reaches the session as a channel notification, from cli, in reply", async () => {
      await page.click("[data-tab=conversations]");
      const sent = await alice.call("send_message", { to: "bob", message: "question for the humans too" });
      const id = messageIdIn(sent.text)!;
      await send(id).locator("[data-action=reply]").click();
      expect(await page.inputValue("[data-testid=composer] input[name=to]")).toBe("alice");
      await page.fill("[data-testid=composer] textarea", "operator here: go ahead");
      await page.click("[data-testid=composer] button[type=submit]");
      const pushed = await alice.waitForChannel((m) => m.content === "operator here: go ahead", "the operator's reply on alice's channel");
      expect(pushed.meta).toMatchObject({ from_id: "cli", from_name: "cli", in_reply_to: id });
    });

    test("pause holds a session's mail; retract withdraws a held message; resume delivers the rest in order", async () => {
      await page.click("[data-tab=sessions]");
      await page.click('tr[data-session="bob"] [data-action=pause]');
      await page.waitForSelector('tr[data-session="bob"] [data-action=resume]');

      const first = messageIdIn((await alice.call("send_message", { to: "bob", message: "held one" })).text)!;
      const second = messageIdIn((await alice.call("send_message", { to: "bob", message: "held two" })).text)!;
      const third = messageIdIn((await alice.call("send_message", { to: "bob", message: "held three" })).text)!;
      await page.click("[data-tab=conversations]");
      await waitState(third, "held");
      expect(await stateOf(first)).toBe("held");

      await send(second).locator("[data-action=retract]").click();
      await waitState(second, "retracted");

      await page.click("[data-tab=sessions]");
      await page.click('tr[data-session="bob"] [data-action=resume]');
      await page.waitForSelector('tr[data-session="bob"] [data-action=pause]');
      const pushed = await waitFor(() => {
        const texts = bob.channel.map((m) => m.content).filter((c) => c.startsWith("held "));
        return texts.length >= 2 ? texts : null;
      }, "the held mail on bob's channel");
      expect(pushed).toEqual(["held one", "held three"]);
      await page.click("[data-tab=conversations]");
      await page.waitForSelector(`[data-copy="${first}"]:is([data-state=delivered],[data-state=read])`);
      expect(bob.channel.some((m) => m.content === "held two")).toBe(false);
    });

    test("a runaway pair is held, and released from the page in order (or discarded)", async () => {
      const dave = await world.start({ name: "dave" });
      const erin = await world.start({ name: "erin" });
      await waitFor(async () => (await dave.call("list_peers")).text.includes("erin"), "dave to see erin");
      const ids: string[] = [];
      for (let i = 1; i <= 6; i++) {
        const [from, to] = i % 2 ? [dave, "erin"] : [erin, "dave"];
        ids.push(messageIdIn((await from.call("send_message", { to, message: `ping ${i}` })).text)!);
      }
      await page.click("[data-tab=conversations]");
      await page.waitForSelector('[data-pair="dave|erin"]');
      expect(await stateOf(ids[5]!)).toBe("held");
      await page.click('[data-pair="dave|erin"] [data-action=release]');
      await page.waitForSelector('[data-pair="dave|erin"]', { state: "detached" });
      await waitFor(() => erin.channel.some((m) => m.content === "ping 5"), "ping 5 released to erin");
      await waitFor(() => dave.channel.some((m) => m.content === "ping 6"), "ping 6 released to dave");

      // Released, the pair counts afresh: the fifth message from now is held again, and discarded.
      let last = "";
      for (let i = 7; i <= 11; i++) {
        const [from, to] = i % 2 ? [dave, "erin"] : [erin, "dave"];
        last = messageIdIn((await from.call("send_message", { to, message: `ping ${i}` })).text)!;
      }
      await waitState(last, "held");
      await page.click('[data-pair="dave|erin"] [data-action=discard]');
      await waitState(last, "discarded");
      expect(dave.channel.some((m) => m.content === "ping 11")).toBe(false);
      await dave.stop();
      await erin.stop();
    });

    test("an error from the broker is shown, not swallowed", async () => {
      await page.fill("[data-testid=composer] input[name=to]", "nobody-by-that-name");
      await page.fill("[data-testid=composer] textarea", "hello?");
      await page.click("[data-testid=composer] button[type=submit]");
      expect(await page.textContent("[data-testid=error]", { timeout: 5000 })).toContain('no peer with id or name "nobody-by-that-name"');
    });
  });

  describe("security", () => {
    test("peer text that looks like HTML or script renders as text and runs nothing", async () => {
      const texts = ['<img src=x onerror="window.__pwned=1">', '</script><script>window.__pwned=2</script><b>bold?</b>'];
      const mallory = await world.start({ name: "mallory" });
      await waitFor(async () => (await mallory.call("list_peers")).text.includes("bob"), "mallory to see bob");
      const ids: string[] = [];
      for (const message of texts) ids.push(messageIdIn((await mallory.call("send_message", { to: "bob", message })).text)!);
      await mallory.call("set_summary", { summary: '<img src=x onerror="window.__pwned=3">' });
      await page.click("[data-tab=conversations]");
      for (const [i, id] of ids.entries()) {
        await send(id).waitFor();
        expect(await send(id).locator(":scope > pre.text").textContent()).toBe(texts[i]!);
      }
      await page.click("[data-tab=sessions]");
      await page.waitForFunction(() => document.querySelector('tr[data-session="mallory"] .summary')?.textContent?.startsWith("<img"));
      expect(await page.evaluate(() => ({ pwned: window.__pwned ?? null, imgs: document.querySelectorAll("img").length, bold: document.querySelectorAll("b").length }))).toEqual({ pwned: null, imgs: 0, bold: 0 });
    });

    test("every console answer carries the CSP; the API needs the cookie, the tab's key, the page's own Origin and JSON", async () => {
      const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
      const key = (await page.evaluate(() => sessionStorage.getItem("claude-peers-console-key"))) as string;
      const base = `http://127.0.0.1:${t.port}`;
      const api = (headers: Record<string, string>, body = "{}") => fetch(`${base}/console/api/state`, { method: "POST", headers, body });
      const good = { cookie, [CONSOLE_KEY_HEADER]: key, origin: base, "content-type": "application/json" };
      const ok = await api(good);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
      expect(ok.headers.get("access-control-allow-origin")).toBeNull();
      expect((await api({ ...good, cookie: "" })).status).toBe(401);
      expect((await api({ ...good, [CONSOLE_KEY_HEADER]: "" })).status).toBe(401); // the cookie alone is not enough
      expect((await api({ ...good, [CONSOLE_KEY_HEADER]: key.slice(1) })).status).toBe(401);
      expect((await api({ ...good, host: `127.0.0.1:${t.port + 1}` })).status).toBe(403); // a Host naming another port
      expect((await fetch(`${base}/console/api/__proto__`, { method: "POST", headers: good, body: "{}" })).status).toBe(404);
      expect((await api({ cookie, [CONSOLE_KEY_HEADER]: key, "content-type": "application/json" })).status).toBe(403); // no Origin
      expect((await api({ ...good, origin: "http://127.0.0.1:1" })).status).toBe(403);
      expect((await api({ ...good, "content-type": "text/plain" })).status).toBe(415);
      expect((await fetch(`${base}/`, { headers: { cookie, host: "evil.example" } })).status).toBe(403); // the Host rule stays
      // The token's routes are not opened by the cookie.
      expect((await fetch(`${base}/status`, { method: "POST", headers: good, body: "{}" })).status).toBe(403);
      for (const path of ["/", "/login", "/console/api/nope"]) {
        expect((await fetch(`${base}${path}`, { headers: { cookie } })).headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
      }
    });

    test("a page on another origin, in the same logged-in browser, can neither read nor change anything", async () => {
      const brokerOrigin = `http://127.0.0.1:${t.port}`;
      // Another local server on 127.0.0.1: the same site as the broker, so the browser does send
      // the SameSite=Strict cookie; the Origin rule and the missing CORS headers must hold alone.
      const evilPort = freePort();
      const cookiesSeen: string[] = [];
      const evil = Bun.serve({
        hostname: "127.0.0.1",
        port: evilPort,
        fetch: (req) => (cookiesSeen.push(req.headers.get("cookie") ?? ""), evilPage()),
      });
      const evilPage = () =>
          new Response(
            `<!doctype html><script>
              window.results = (async () => {
                const r = {};
                const json = { "content-type": "application/json" };
                try { r.read = (await (await fetch("${brokerOrigin}/console/api/state", { method: "POST", credentials: "include", headers: json, body: "{}" })).text()).slice(0, 80); } catch (e) { r.read = "blocked"; }
                await fetch("${brokerOrigin}/console/api/send", { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain" }, body: JSON.stringify({ to: "alice", text: "from evil (no-cors)" }) }).catch(() => {});
                try { await fetch("${brokerOrigin}/console/api/send", { method: "POST", credentials: "include", headers: json, body: JSON.stringify({ to: "alice", text: "from evil (cors)" }) }); r.cors = "sent"; } catch (e) { r.cors = "blocked"; }
                try { r.page = (await (await fetch("${brokerOrigin}/", { credentials: "include" })).text()).slice(0, 80); } catch (e) { r.page = "blocked"; }
                r.ws = await new Promise((resolve) => {
                  const ws = new WebSocket("ws://127.0.0.1:${t.port}/console/ws");
                  ws.onopen = () => resolve("open");
                  ws.onerror = () => resolve("refused");
                });
                return r;
              })();
            </script>`,
            { headers: { "content-type": "text/html" } },
          );
      try {
        const evilPage = await context.newPage();
        await evilPage.goto(`http://127.0.0.1:${evilPort}/`);
        const results = await evilPage.evaluate(() => window.results);
        // The simple (no-cors) POST is sent; its answer is withheld from the page (CORP), and what it asked is refused.
        expect(results).toMatchObject({ read: "blocked", cors: "blocked", page: "blocked", ws: "refused" });
        await evilPage.close();
        // "sent" only means the browser sent it: the broker stored nothing from that page.
        const history = await broker.post("/history", { limit: 1000, text: "from evil" });
        expect(((await history.json()) as { messages: unknown[] }).messages).toEqual([]);
        expect(alice.channel.some((m) => m.content.includes("from evil"))).toBe(false);
        // That server did get the console cookie (cookies are not kept apart by port); replayed with
        // the broker's own Origin, it still opens nothing without the key only the console's tab holds.
        const stolen = cookiesSeen.find((c) => c.includes(`claude_peers_console_${t.port}=`));
        expect(stolen).toBeDefined();
        const replay = await fetch(`${brokerOrigin}/console/api/send`, {
          method: "POST",
          headers: { cookie: stolen!, origin: brokerOrigin, "content-type": "application/json" },
          body: JSON.stringify({ to: "alice", text: "from evil (replayed cookie)" }),
        });
        expect(replay.status).toBe(401);
        const ws = await fetch(`${brokerOrigin}/console/ws`, { headers: { cookie: stolen!, origin: brokerOrigin, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
        expect(ws.status).toBe(401);
      } finally {
        evil.stop(true);
      }
    });
  });
});

const cluster = await usePostgres();
afterAll(() => cluster?.stop());

(cluster ? describeBrowser : describe.skip)("the operator console over a shared PostgreSQL (two hosts)", () => {
  let db: SharedDatabase;
  let browser: TestBrowser;

  beforeAll(async () => {
    db = await sharedDatabase(cluster!);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await db?.close();
  });

  test("one host's console shows every host's sessions and where each runs; a pause there holds mail sent from the other host", async () => {
    const laptop = db.host("laptop");
    const devbox = db.host("devbox");
    const here = await laptop.start({ name: "here" });
    const there = await devbox.start({ name: "there" });
    await waitFor(async () => (await here.call("list_peers", { scope: "network" })).text.includes("there"), "here to see there");

    const r = await runCli(laptop.t, ["dashboard", "--no-open"]);
    const page = await browser.browser.newPage();
    await page.goto(r.stdout.trim().split("\n").at(-1)!);
    await page.waitForSelector('tr[data-session="there"]');
    expect(await page.textContent(".host")).toBe("network (this host: laptop)");
    const hostOf = (name: string) => page.textContent(`tr[data-session="${name}"] td:nth-child(2)`);
    expect([await hostOf("here"), await hostOf("there")]).toEqual(["laptop", "devbox"]);

    await page.click('tr[data-session="here"] [data-action=pause]');
    await page.waitForSelector('tr[data-session="here"] [data-action=resume]');
    const sent = await there.call("send_message", { to: "here", message: "from the devbox" });
    const id = /\b(m-[a-z0-9]+)\b/.exec(sent.text)![1]!;
    await page.click("[data-tab=conversations]");
    await page.waitForSelector(`[data-copy="${id}"][data-state=held]`);
    expect(here.channel.some((m) => m.content === "from the devbox")).toBe(false);
    await page.click("[data-tab=sessions]");
    await page.click('tr[data-session="here"] [data-action=resume]');
    await here.waitForChannel((m) => m.content === "from the devbox", "the held message on here's channel");
    await page.close();
  });
});
