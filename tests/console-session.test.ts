/**
 * The console's login and its event stream against the broker's own code (createBroker in this
 * process, with an injected clock): the whole exchange a browser makes, without a browser, and a
 * console stream that ends when its session does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONSOLE_SESSION_TTL_MS, LOGIN_CODE_TTL_MS } from "../shared/broker/console-auth.ts";
import type { Broker } from "../shared/broker/app.ts";
import { dialBroker } from "../shared/broker-address.ts";
import { CONSOLE_KEY_HEADER } from "../shared/web/wire.ts";
import { TestClock, inProcessBroker } from "./helpers/in-process.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "t".repeat(43);

describe("console sessions (in process, injected clock)", () => {
  const clock = new TestClock();
  let broker: Broker;
  /** The console's own origin (TCP); the code comes over the API's socket. */
  const origin = () => broker.consoleUrl!;

  beforeAll(async () => {
    broker = await inProcessBroker({ token: TOKEN, now: clock.now });
  });
  afterAll(() => broker?.stop());

  async function code(): Promise<string> {
    const res = await dialBroker(broker.socketPath, "/console/code", { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: "{}" });
    return ((await res.json()) as { code: string }).code;
  }

  /** What a browser keeps from /login: the cookie it sets, and the key in the page it moves on to. */
  async function login(c: string): Promise<{ status: number; cookie?: string; key?: string }> {
    const res = await fetch(`${origin()}/login?code=${c}`, { redirect: "manual" });
    const html = await res.text();
    const cookie = res.headers.get("set-cookie")?.split(";")[0];
    const key = /url=\/#key=([A-Za-z0-9_-]+)/.exec(html)?.[1];
    return { status: res.status, cookie, key };
  }

  test("a code works once and only within its minute", async () => {
    const first = await code();
    expect(await login(first)).toMatchObject({ status: 200, cookie: expect.stringMatching(/^claude_peers_console_\d+=/), key: expect.any(String) });
    expect((await login(first)).status).toBe(401);
    const late = await code();
    clock.advance(LOGIN_CODE_TTL_MS);
    expect((await login(late)).status).toBe(401);
  });

  test("the event stream needs the cookie, the key and the Origin, and ends when the session does", async () => {
    const { cookie, key } = await login(await code());
    const open = (headers: Record<string, string>, withKey = key!) =>
      new WebSocket(`${origin().replace("http", "ws")}/console/ws?key=${withKey}`, { headers } as unknown as string[]);
    const refused = (ws: WebSocket) => new Promise<boolean>((resolve) => {
      ws.onopen = () => resolve(false);
      ws.onerror = () => resolve(true);
    });
    expect(await refused(open({ cookie: cookie! }))).toBe(true); // no Origin
    expect(await refused(open({ cookie: cookie!, origin: origin() }, "not-the-key"))).toBe(true);
    expect(await refused(open({ origin: origin() }))).toBe(true); // no cookie

    const ws = open({ cookie: cookie!, origin: origin() });
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("the console's stream did not open"));
    });
    // The API answers with the same session meanwhile.
    const api = await fetch(`${origin()}/console/api/state`, { method: "POST", headers: { cookie: cookie!, [CONSOLE_KEY_HEADER]: key!, origin: origin(), "content-type": "application/json" }, body: "{}" });
    expect(api.status).toBe(200);
    clock.advance(CONSOLE_SESSION_TTL_MS);
    expect(await waitFor(() => closed, "the stream to close once the session ended")).toBe(4401);
  });
});
