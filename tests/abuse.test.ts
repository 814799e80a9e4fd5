/**
 * Abuse of a real broker process: property-based fuzzing (fast-check) of every route, of odd
 * request targets and of WebSocket frames, and a flood from one sender. The unread cap is
 * mail.test.ts's (in process).
 * security.test.ts holds the hand-written cases (tokens, Origin/Host, size limits); this file
 * throws generated input at the same surface and checks the answers keep their shape.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { requestPath } from "../shared/broker/app.ts";
import { CONTENT_SECURITY_POLICY, isConsolePath } from "../shared/broker/console.ts";
import { SEND_RATE } from "../shared/broker/send-pace.ts";
import { dialBrokerSocket } from "../shared/broker-address.ts";
import { peerRegistration, startBroker, type TestBroker } from "./helpers/broker.ts";
import { makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { expectWireError, okJson as json, rawAnswer } from "./helpers/http.ts";
import { waitFor } from "./helpers/wait.ts";

const SECRET = "x-claude-peers-secret";
/** Every POST route but /shutdown, which a valid request would obey. */
const ROUTES = ["/register", "/unregister", "/peers", "/send", "/summary", "/inbox", "/ack", "/poll", "/whoami", "/status", "/history", "/hook", "/hook/read"];
/** Cases per property; FUZZ_RUNS raises it for a long soak (see README, Reliability and security). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
/** Methods Bun's HTTP parser hands to the broker (it refuses lowercase and unknown ones itself). */
const STANDARD_METHODS = new Set(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "CONNECT", "TRACE"]);
/** No answer may take longer than this: the "never a hang" bound. */
const ANSWER_WITHIN_MS = 5000;

interface Peer {
  peer_id: string;
  secret: string;
  name: string;
}

const registration = (name: string) => peerRegistration(name);

/** Values of every JSON type, unicode and null bytes included, plus the route fields with wrong types. */
const anyValue = fc.oneof(
  fc.jsonValue(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom("\0", "\u202e", "\ud800", "😀", "\ufeff", "\\", '"') }),
  fc.integer(),
  fc.double(),
  fc.constant(null),
);
const fieldNames = ["to", "text", "in_reply_to", "idempotency_key", "name", "pid", "parent_pid", "cwd", "git_root", "git_common_dir", "git_branch", "summary", "peer_id", "secret", "scope", "ids", "state", "mark_read", "limit", "peer", "ancestors", "max_chars"];
const routeShaped = fc.dictionary(fc.constantFrom(...fieldNames), anyValue, { maxKeys: 8 });

/** A body as bytes: route-shaped JSON, any JSON, broken JSON, deep nesting, or raw bytes. */
const bodyArb = fc.oneof(
  routeShaped.map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ unit: "binary" }),
  fc.integer({ min: 1, max: 20_000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
  fc.integer({ min: 1, max: 20_000 }).map((depth) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth)),
  fc.uint8Array({ maxLength: 256 }),
  fc.constantFrom("", "{", "nul\0l", '{"to":"a","text":"b"', "\xff\xfe", "[]", "true"),
);

describe("fuzzing the broker (fast-check, real broker process)", () => {
  let t: TestEnv;
  let broker: TestBroker;
  let alice: Peer;
  let bob: Peer;
  const statuses = new Map<number, number>();
  let cases = 0;

  beforeAll(async () => {
    t = makeTestEnv();
    broker = await startBroker(t);
    alice = await json<Peer>(await broker.post("/register", registration("alice")));
    bob = await json<Peer>(await broker.post("/register", registration("bob")));
  });

  afterAll(async () => {
    await broker?.stop();
    t?.cleanup();
    console.log(`fuzz: ${cases} HTTP and WebSocket cases; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });

  /**
   * The console's page at / is the one HTML answer: without its cookie, a fixed "log in" page
   * (401), under the console's Content-Security-Policy.
   */
  function consolePage(what: string, res: { status: number; headers: Headers }): boolean {
    if (!(res.headers.get("content-type") ?? "").includes("html")) return false;
    expect({ what, status: res.status, csp: res.headers.get("content-security-policy") }).toEqual({ what, status: 401, csp: CONTENT_SECURITY_POLICY });
    expect(what).toMatch(/^(GET|HEAD) (http:\/\/127\.0\.0\.1:\d+)?(\/\/?(login)?)?[ ?]/); // Bun reads // as /
    return true;
  }

  /** Any answer: 2xx, or a 4xx JSON error; never a 5xx, never slower than ANSWER_WITHIN_MS. */
  async function expectWellFormed(res: Response, what: string): Promise<void> {
    cases++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status < 300 || res.status === 101) return void (await res.arrayBuffer());
    if (res.status >= 500 || res.status < 400) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
    if (consolePage(what, res)) return;
    if (what.startsWith("HEAD ")) return void expect(res.headers.get("content-type") ?? "").toStartWith("application/json"); // HEAD has no body
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code !== "string" || typeof body.error.message !== "string") {
      throw new Error(`${what}: HTTP ${res.status} without an error body: ${JSON.stringify(body)}`);
    }
  }

  test("every route and method, with generated bodies and credentials: 2xx or a 4xx JSON error", async () => {
    const pathArb = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...ROUTES) },
      { weight: 1, arbitrary: fc.constantFrom("/health", "/ws", "/", "//send", "/send/", "/SEND", "/send?x=1", "/%00", "/..%2f..%2fetc/passwd") },
      { weight: 1, arbitrary: fc.webPath() },
    );
    const methodArb = fc.oneof({ weight: 5, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD") });
    const credentialsArb = fc.constantFrom("peer", "operator", "none", "wrong-secret");
    const typeArb = fc.oneof({ weight: 5, arbitrary: fc.constant("application/json") }, { weight: 1, arbitrary: fc.constantFrom("text/plain", "", "application/json; charset=latin1") });

    await fc.assert(
      fc.asyncProperty(pathArb, methodArb, credentialsArb, typeArb, bodyArb, async (path, method, credentials, type, body) => {
        const headers: Record<string, string> = {};
        if (credentials !== "none") headers.authorization = `Bearer ${broker.token}`;
        if (credentials === "peer") headers[SECRET] = alice.secret;
        if (credentials === "wrong-secret") headers[SECRET] = "s-not-a-real-secret";
        if (type) headers["content-type"] = type;
        const origin = "http://localhost";
        let url: URL;
        try {
          url = new URL(origin + path);
        } catch {
          return; // not a URL fetch can send
        }
        if (url.host !== new URL(origin).host) return; // a path that moved the request elsewhere
        const res = await broker.fetch(url.pathname + url.search, {
          method,
          headers,
          body: method === "GET" || method === "HEAD" ? undefined : body,
          signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
        });
        await expectWellFormed(res, `${method} ${path} (${credentials}) ${String(body).slice(0, 80)}`);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  test("request targets fetch() never sends (authority, asterisk, absolute form) and any method: a 4xx JSON error, never a 5xx or HTML", async () => {
    const port = t.port; // named in Host headers and absolute targets; the requests go to the socket
    const targetArb = fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom(...ROUTES, "/health", "/ws", "/nope") },
      { weight: 2, arbitrary: fc.constantFrom("127.0.0.1:1", `127.0.0.1:${port}`, "localhost:80", "[::1]:443", "evil.example:443", "a:b") },
      { weight: 1, arbitrary: fc.constant("*") },
      { weight: 2, arbitrary: fc.constantFrom(...ROUTES, "/health", "/").map((p) => `http://127.0.0.1:${port}${p}`) },
      { weight: 1, arbitrary: fc.constantFrom("https://127.0.0.1/peers", "http://evil.example/send", "ftp://127.0.0.1/status", "mailto:x@y", "x", "%", "?a") },
    );
    const methodArb = fc.oneof(
      fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "CONNECT", "TRACE"),
      fc.constantFrom("get", "post", "connect", "Post", "PROPFIND", "MKCOL", "FOO", "BREW", "M-SEARCH"),
    );
    const credentialsArb = fc.constantFrom("token", "none");
    await fc.assert(
      fc.asyncProperty(methodArb, targetArb, credentialsArb, fc.constantFrom("", "{}", '{"to":"x","text":"y"}'), async (method, target, credentials, body) => {
        const head = [
          `${method} ${target} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          ...(credentials === "token" ? [`Authorization: Bearer ${broker.token}`] : []),
          "Content-Type: application/json",
          `Content-Length: ${body.length}`,
          "Connection: close",
        ].join("\n");
        const res = await rawAnswer(broker.socketPath, head, body);
        cases++;
        const what = `${method} ${target} (${credentials})`;
        // Bun's HTTP parser refuses a few request lines before any broker code runs (lowercase or
        // unknown methods, OPTIONS *, host:port without CONNECT, a target that is neither a path
        // nor an http URL): it closes the connection or sends a bare 400. Every other line must
        // reach the broker and get its JSON answer.
        const ordinaryTarget = target.startsWith("/") || /^https?:\/\//.test(target) || (method === "CONNECT" && /^[\w.[\]:-]+:\d+$/.test(target));
        const parserMayRefuse = !STANDARD_METHODS.has(method) || !ordinaryTarget;
        if (res === null) return void expect({ what, refusedByParser: parserMayRefuse }).toEqual({ what, refusedByParser: true });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500 || res.status < 100) throw new Error(`${what}: HTTP ${res.status} ${res.body}`);
        if (consolePage(what, res)) return;
        if (res.status === 400 && res.body === "" && !res.headers.has("content-type")) {
          return void expect({ what, refusedByParser: parserMayRefuse }).toEqual({ what, refusedByParser: true }); // the parser's bare 400
        }
        if (res.status < 300 || method.toUpperCase() === "HEAD") return;
        const error = await expectWireError(res, res.status);
        // Without the token, nothing but the Host rule, GET /health and the console's own door
        // (its cookie: tests/console.test.ts) answers before authentication.
        const path = target.startsWith("/") ? target.split("?")[0]! : requestPath(target);
        if (credentials === "none" && res.status !== 403 && !(path !== null && isConsolePath(path))) expect(`${what}: ${res.status} ${error.code}`).toBe(`${what}: 401 unauthorized`);
      }),
      { numRuns: RUNS },
    );
  });

  test("huge values: long strings, many keys, bodies over the limit", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.constantFrom(1000, 65_536, 70_000, 500_000, 600_000),
        fc.constantFrom("a", "é", "😀", "\0", '"'),
        async (path, size, ch) => {
          const big = ch.repeat(size);
          const body = JSON.stringify({ to: bob.peer_id, text: big, name: big, summary: big, ids: [big], ancestors: [size], limit: size });
          const res = await broker.post(path, body, { [SECRET]: alice.secret });
          await expectWellFormed(res, `${path} with ${size} × ${JSON.stringify(ch)}`);
        },
      ),
      { numRuns: Math.ceil(RUNS / 10) },
    );
  });

  test("WebSocket frames: generated text and binary frames never close the socket or the broker", async () => {
    // A fresh peer: one registered in beforeAll without a socket is swept once its poll grace
    // (2.5 s) runs out, and the tests before this one may take that long on a busy machine.
    const target = await json<Peer>(await broker.post("/register", registration("ws-target")));
    const ws = dialBrokerSocket(broker.socketPath, "/ws", { authorization: `Bearer ${broker.token}`, [SECRET]: target.secret });
    const frames: Array<Record<string, any>> = [];
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    let closed = false;
    ws.onclose = () => (closed = true);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("WebSocket did not open"));
    });
    const frameArb = fc.oneof(
      bodyArb,
      fc.record({ type: fc.oneof(fc.constant("ack"), fc.string()), ids: fc.oneof(fc.array(fc.string()), anyValue) }).map((v) => JSON.stringify(v)),
      fc.array(fc.string({ unit: "binary" }), { maxLength: 50 }).map((ids) => JSON.stringify({ type: "ack", ids })),
    );
    let sent = 0;
    try {
      await fc.assert(
        fc.property(frameArb, (frame) => {
          ws.send(frame);
          sent++;
          cases++;
        }),
        { numRuns: RUNS },
      );
      // The broker answers bad frames with an error frame and valid acks with nothing; a sent
      // message proves the socket still carries traffic after all of them.
      const { message } = await json(await broker.post("/send", { to: target.peer_id, text: "after the fuzz" }, { [SECRET]: alice.secret }));
      await waitFor(() => frames.some((f) => f.type === "message" && f.message.id === message.id), "the message on the fuzzed socket");
      expect(closed).toBe(false);
      expect(frames.every((f) => f.type === "error" || f.type === "message")).toBe(true);
      expect(sent).toBe(RUNS);
    } finally {
      ws.close();
    }
  });

  test("afterwards the broker serves normal traffic", async () => {
    expect((await broker.fetch("/health")).status).toBe(200);
    const { message } = await json(await broker.post("/send", { to: alice.peer_id, text: "business as usual" }, { [SECRET]: bob.secret }));
    const inbox = await json(await broker.post("/inbox", {}, { [SECRET]: alice.secret }));
    expect((inbox.messages as Array<{ id: string }>).map((m) => m.id)).toContain(message.id);
    expect(statuses.has(500)).toBe(false);
  });
});

describe("floods and full mailboxes (real broker process)", () => {
  let t: TestEnv;
  let broker: TestBroker;

  beforeAll(async () => {
    // Thousands of sends from one sender to one recipient, on loop damping's defaults: a one-way flood is never held.
    t = makeTestEnv();
    broker = await startBroker(t);
  });

  afterAll(async () => {
    await broker?.stop();
    t?.cleanup();
  });

  const register = async (name: string) => json<Peer>(await broker.post("/register", registration(name)));
  const send = (from: Peer | null, to: string, text: string) => broker.post("/send", { to, text }, from ? { [SECRET]: from.secret } : {});

  /** Runs `n` calls of `fn`, `width` at a time. */
  async function inWaves<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < n; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => fn(i + j)))));
    return out;
  }

  test("a flood of 3,000 sends from one sender, 100 in flight, is carried whole at its pace; another sender goes through meanwhile", async () => {
    const [flooder, calm, sink] = await Promise.all([register("flooder"), register("calm"), register("sink")]);
    const FLOOD = 3 * SEND_RATE.burst;
    const before = await json(await broker.post("/status", {}));
    const started = performance.now();
    let calmSent = 0;
    const calmWhile = (async () => {
      // One send at a time beside the flood: each is answered though the flooder is over its pace.
      for (; calmSent < 20; calmSent++) expect((await send(calm, sink.peer_id, `calm ${calmSent}`)).status).toBe(200);
    })();
    const statuses = await inWaves(FLOOD, 100, async (i) => {
      const res = await send(flooder, sink.peer_id, `flood ${i}`);
      if (res.status !== 200) throw new Error(`flood ${i}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      return res.status;
    });
    const seconds = (performance.now() - started) / 1000;
    await calmWhile;
    expect(statuses).toHaveLength(FLOOD);
    // Paced, not refused: the flood took at least the time its tokens needed.
    expect(FLOOD).toBeLessThanOrEqual(SEND_RATE.burst + Math.ceil(SEND_RATE.perSecond * seconds) + 1);
    console.log(`flood: ${FLOOD} sends from one sender, 100 in flight, all stored in ${seconds.toFixed(2)} s (${(FLOOD / seconds).toFixed(0)}/s)`);
    const after = await json(await broker.post("/status", {}));
    expect(after.messages.queued - before.messages.queued).toBe(FLOOD + 20);
  });
});
