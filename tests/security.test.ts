/**
 * The Security section of DESIGN.md against a real broker process: tokens, peer secrets, browsers
 * and DNS rebinding, body limits, bad input, the WebSocket surface, and file modes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { dialBrokerSocket } from "../shared/broker-address.ts";
import { peerRegistration, runningBroker, startBroker, type TestBroker } from "./helpers/broker.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { expectNoCors, expectWireError, okJson as json, rawRequest } from "./helpers/http.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { whoami } from "./helpers/server.ts";
import { killAndConfirm, waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const SECRET = "x-claude-peers-secret";
const ROUTES = ["/register", "/unregister", "/peers", "/send", "/summary", "/inbox", "/ack", "/poll", "/whoami", "/status", "/history", "/shutdown", "/hook", "/hook/read"];

interface Peer {
  peer_id: string;
  secret: string;
  name: string;
}

const registration = peerRegistration;

describe("broker security (real broker process)", () => {
  let t: TestEnv;
  let other: TestEnv;
  let broker: TestBroker;
  let otherBroker: TestBroker;
  let alice: Peer;
  let bob: Peer;
  let keeper: { id: string; text: string };

  const as = (peer: Peer) => ({ [SECRET]: peer.secret });
  const status = async () => (await json(await broker.post("/status", {}))).messages as Record<string, number>;
  const stored = async () => Object.values(await status()).reduce((a, b) => a + b, 0);
  const history = async (limit = 1000) => (await json(await broker.post("/history", { limit }))).messages as Array<Record<string, any>>;
  const healthy = async () => expect((await broker.fetch("/health")).status).toBe(200);

  beforeAll(async () => {
    t = makeTestEnv();
    other = makeTestEnv();
    [broker, otherBroker] = await Promise.all([startBroker(t), startBroker(other)]);
    alice = await json<Peer>(await broker.post("/register", registration("alice")));
    bob = await json<Peer>(await broker.post("/register", registration("bob")));
    const sent = await json(await broker.post("/send", { to: bob.peer_id, text: "keep me: ünïcödé ✓" }, as(alice)));
    keeper = { id: sent.message.id, text: sent.message.text };
  });

  afterAll(async () => {
    await Promise.all([broker?.stop(), otherBroker?.stop()]);
    t?.cleanup();
    other?.cleanup();
  });

  describe("the broker token", () => {
    test.each(ROUTES)("%s without a token is 401", async (path) => {
      const res = await broker.fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      await expectWireError(res, 401, /Authorization: Bearer/);
    });

    test.each([
      ["POST", "/ws", "application/json"],
      ["GET", "/ws", ""],
      ["PUT", "/send", "application/json"],
      ["GET", "/peers", ""],
      ["POST", "/nope", "application/json"],
      ["DELETE", "/index.html", ""],
      ["POST", "/health", "application/json"],
      ["POST", "/send", "text/plain"],
      ["OPTIONS", "/send", ""],
    ])("without a token, %s %s (%s) is 401 before any route, method or type check", async (method, path, type) => {
      const headers: Record<string, string> = type ? { "content-type": type } : {};
      const res = await broker.fetch(path, { method, headers, ...(method === "GET" ? {} : { body: "{}" }) });
      await expectWireError(res, 401, /Authorization: Bearer/);
    });

    test.each([
      ["CONNECT 127.0.0.1:1", 401, /Authorization/],
      ["GET http://127.0.0.1:PORT/status", 401, /Authorization/],
      ["CONNECT 127.0.0.1:1 (with the token)", 400, /not a path/],
      ["POST http://127.0.0.1:PORT/status (with the token)", 200, null],
    ] as const)("%s: the target's form is no way around the rules", async (what, status, mentions) => {
      const [method, target] = what.replace("PORT", String(t.port)).split(" ");
      const auth = what.includes("with the token") ? `\nAuthorization: Bearer ${broker.token}` : "";
      const res = await rawRequest(t.socketPath, `${method} ${target} HTTP/1.1\nHost: 127.0.0.1:${t.port}${auth}\nContent-Type: application/json\nContent-Length: 2\nConnection: close`, "{}");
      if (mentions) await expectWireError(res, status, mentions);
      else expect(res.status).toBe(status);
    });

    test.each([
      ["a wrong token", "Bearer not-the-token-at-all-0123456789"],
      ["an empty bearer", "Bearer "],
      ["another scheme", "Basic YWxpY2U6c2VjcmV0"],
      ["the token without a scheme", "TOKEN"],
    ])("%s is 401", async (_, header) => {
      const auth = header.replace("TOKEN", broker.token);
      const res = await broker.fetch("/status", { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: "{}" });
      await expectWireError(res, 401);
    });

    test("the token of another broker (its own DB, another port) is 401, both ways", async () => {
      expect(otherBroker.token).not.toBe(broker.token);
      await expectWireError(await broker.post("/status", {}, { authorization: `Bearer ${otherBroker.token}` }), 401, /wrong token/);
      await expectWireError(await otherBroker.post("/status", {}, { authorization: `Bearer ${broker.token}` }), 401, /wrong token/);
      expect((await otherBroker.post("/status", {})).status).toBe(200);
    });

    test("/shutdown without a token does not stop the broker", async () => {
      await expectWireError(await broker.fetch("/shutdown", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 401);
      await healthy();
    });

    test("/health needs no token and identifies the broker", async () => {
      const res = await broker.fetch("/health");
      expect(res.status).toBe(200);
      expectNoCors(res);
      const health = (await res.json()) as Record<string, unknown>;
      expect(health).toMatchObject({ service: "claude-peers-broker", version: pkg.version, pid: broker.pid });
      expect(typeof health.protocol).toBe("number");
    });
  });

  describe("the TCP port: the console's door only", () => {
    const tcp = (path: string, init: RequestInit = {}) => fetch(`${broker.consoleUrl}${path}`, init);

    test.each([...ROUTES, "/health", "/console/code", "/console/state"])("%s on TCP is 403 even with the token, and names the socket", async (path) => {
      const res = await tcp(path, { method: "POST", headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" }, body: "{}" });
      await expectWireError(res, 403, /Unix socket/);
    });

    test("GET /health and a /ws upgrade with the token are 403 on TCP; the console's page still answers there", async () => {
      await expectWireError(await tcp("/health"), 403, /only the operator console/);
      const upgrade = `GET /ws HTTP/1.1\nHost: 127.0.0.1:${t.port}\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\nAuthorization: Bearer ${broker.token}`;
      await expectWireError(await rawRequest(t.port, upgrade), 403, /Unix socket/);
      expect((await tcp("/")).status).toBe(401); // the console's login page: its own door, as before
    });

    test("the socket's folder is 0700 and this user's, and /status names both doors", async () => {
      const folder = statSync(join(t.socketPath, ".."));
      expect([(folder.mode & 0o777).toString(8), folder.uid]).toEqual(["700", process.getuid!()]);
      expect(statSync(t.socketPath).isSocket()).toBe(true);
      const { broker: b } = await json(await broker.post("/status", {}));
      expect(b).toMatchObject({ url: `unix:${t.socketPath}`, console_url: `http://127.0.0.1:${t.port}` });
    });
  });

  describe("browsers and DNS rebinding", () => {
    test.each(["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"])(
      "Content-Type %s is 415 on every route, even with a valid token",
      async (type) => {
        for (const path of ROUTES) {
          const res = await broker.post(path, "{}", { "content-type": type, ...as(alice) });
          await expectWireError(res, 415, /application\/json/);
        }
        await healthy(); // a form POST to /shutdown must not have stopped it
      },
    );

    test("a request without any Content-Type is 415", async () => {
      const res = await rawRequest(
        t.socketPath,
        `POST /send HTTP/1.1\nHost: 127.0.0.1:${t.port}\nAuthorization: Bearer ${broker.token}\nContent-Length: 2\nConnection: close`,
        "{}",
      );
      await expectWireError(res, 415, /Content-Type/);
    });

    test("application/json with a charset is accepted", async () => {
      const res = await broker.post("/status", {}, { "content-type": "application/json; charset=utf-8" });
      expect(res.status).toBe(200);
    });

    test.each(["https://evil.example", "null", `http://127.0.0.1:7899`])("an Origin header (%s) is 403", async (origin) => {
      await expectWireError(await broker.post("/send", { to: bob.peer_id, text: "hi" }, { origin, ...as(alice) }), 403, /Origin/);
      await expectWireError(await broker.fetch("/health", { headers: { origin } }), 403, /Origin/);
    });

    test("an OPTIONS preflight gets no CORS headers", async () => {
      const preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      };
      await expectWireError(await broker.fetch("/send", { method: "OPTIONS", headers: { origin: "https://evil.example", ...preflight } }), 403);
      await expectWireError(await broker.fetch("/send", { method: "OPTIONS", headers: preflight }), 401);
    });

    test.each(["evil.example", "evil.example:PORT", "localhost.evil.example", "127.0.0.1.nip.io:PORT", "127.0.0.2:PORT", "[::2]:PORT"])(
      "Host: %s is 403 (DNS rebinding)",
      async (host) => {
        const h = host.replace("PORT", String(t.port));
        await expectWireError(await broker.fetch("/health", { headers: { host: h } }), 403, /Host/);
        await expectWireError(await broker.post("/status", {}, { host: h }), 403, /Host/);
      },
    );

    test("a request without a Host header is 403", async () => {
      // HTTP/1.0: Bun itself refuses an HTTP/1.1 request without Host before the broker sees it.
      await expectWireError(await rawRequest(t.socketPath, "GET /health HTTP/1.0"), 403, /Host/);
    });

    test.each(["localhost:PORT", "127.0.0.1:PORT", "[::1]:PORT", "localhost", "LOCALHOST:PORT"])("Host: %s is accepted", async (host) => {
      const h = host.replace("PORT", String(t.port));
      expect((await broker.fetch("/health", { headers: { host: h } })).status).toBe(200);
      const res = await broker.post("/status", {}, { host: h });
      expect(res.status).toBe(200);
      expectNoCors(res);
    });
  });

  describe("peer identity", () => {
    test("from_id is stamped from the peer secret; ids in the body are ignored", async () => {
      const forged = {
        to: bob.peer_id,
        text: "forged?",
        from_id: bob.peer_id,
        from_name: bob.name,
        fromId: bob.peer_id,
        peer_id: bob.peer_id,
        secret: bob.secret,
        sender: { id: bob.peer_id, name: bob.name },
        message: { from_id: bob.peer_id },
      };
      const { message } = await json(await broker.post("/send", forged, as(alice)));
      expect(message).toMatchObject({ from_id: alice.peer_id, from_name: "alice", from_summary: "alice at work", to_id: bob.peer_id });
      const inbox = (await json(await broker.post("/inbox", {}, as(bob)))).messages as Array<Record<string, string>>;
      expect(inbox.find((m) => m.id === message.id)).toMatchObject({ from_id: alice.peer_id, from_name: "alice" });
    });

    test("without a peer secret the sender is the operator, whatever the body says", async () => {
      const { message } = await json(await broker.post("/send", { to: bob.peer_id, text: "op", from_id: alice.peer_id, from_name: "alice" }));
      expect(message.from_id).toBe("cli");
      expect(message.from_name).toBe("cli");
    });

    test.each(["/send", "/whoami", "/inbox", "/ack", "/poll", "/summary", "/peers", "/register"])("%s with an unknown peer secret is 401", async (path) => {
      const body = { to: alice.peer_id, text: "x", ids: ["m-x"], summary: "x", ...(path === "/register" ? registration("mallory") : {}) };
      await expectWireError(await broker.post(path, body, { [SECRET]: "not-a-real-secret-0123456789" }), 401, /secret/);
      // A peer id is not a secret.
      await expectWireError(await broker.post(path, body, { [SECRET]: alice.peer_id }), 401, /secret/);
    });

    test("re-registering another session's peer_id with a wrong secret is 403 and changes nothing", async () => {
      const res = await broker.post("/register", registration("mallory", { peer_id: alice.peer_id, secret: "mallory-guessed-secret-0123" }));
      await expectWireError(res, 403, /peer_id/);
      await expectWireError(await broker.post("/register", registration("mallory", { peer_id: alice.peer_id })), 400, /secret/);
      const { peer } = await json(await broker.post("/whoami", {}, as(alice)));
      expect(peer).toMatchObject({ id: alice.peer_id, name: "alice", summary: "alice at work" });
    });

    test("a peer cannot pose as the operator: peer_id \"cli\" (or any id the broker never hands out) is refused", async () => {
      for (const peer_id of ["cli", "alice", "p-short", "P-UPPERCASE0"]) {
        const res = await broker.post("/register", registration("mallory", { peer_id, secret: "mallory-chosen-secret-0123" }));
        await expectWireError(res, 400, /^peer_id: /);
      }
      const operator = await json(await broker.post("/send", { to: bob.peer_id, text: "from the terminal" }));
      expect(operator.message.from_id).toBe("cli");
      const fromCli = (await history()).filter((m) => m.from_id === "cli");
      expect(fromCli.every((m) => m.from_name === "cli" && m.from_cwd === "")).toBe(true);
    });

    test("a resend with the same idempotency key returns the first message and stores nothing new", async () => {
      const body = { to: bob.peer_id, text: "sent twice over a flaky link", idempotency_key: "resend-key-0001" };
      const first = await json(await broker.post("/send", body, as(alice)));
      const before = await stored();
      const again = await json(await broker.post("/send", body, as(alice)));
      expect(again.message.id).toBe(first.message.id);
      expect(await stored()).toBe(before);
      // The key is the sender's own: another sender using it gets a message of its own.
      const other = await json(await broker.post("/send", { ...body, to: alice.peer_id }, as(bob)));
      expect(other.message.id).not.toBe(first.message.id);
      await expectWireError(await broker.post("/send", { ...body, idempotency_key: "short" }, as(alice)), 400, /idempotency_key/);
    });

    test("a peer cannot acknowledge or read mail addressed to another peer", async () => {
      const { message } = await json(await broker.post("/send", { to: bob.peer_id, text: "for bob only" }, as(alice)));
      for (const state of ["delivered", "read"]) {
        const acked = await json(await broker.post("/ack", { ids: [message.id], state }, as(alice)));
        expect(acked.updated).toEqual([]);
      }
      const aliceInbox = (await json(await broker.post("/inbox", { mark_read: true }, as(alice)))).messages as Array<{ id: string }>;
      expect(aliceInbox.map((m) => m.id)).not.toContain(message.id);
      expect((await history()).find((m) => m.id === message.id)?.state).toBe("queued");
    });
  });

  describe("size limits", () => {
    test.each([
      ["65,537 ASCII bytes", "a".repeat(64 * 1024 + 1)],
      ["32,769 two-byte chars (65,538 bytes)", "é".repeat(32 * 1024 + 1)],
      ["21,846 three-byte chars (65,538 bytes)", "€".repeat(21_846)],
      ["16,385 four-byte chars (65,540 bytes)", "😀".repeat(16 * 1024 + 1)],
      ["65,535 ASCII bytes plus one two-byte char", `${"a".repeat(64 * 1024 - 1)}é`],
    ])("a message of %s is 413 and not stored", async (_, text) => {
      expect(text.length).toBeLessThanOrEqual(64 * 1024 + 1);
      expect(Buffer.byteLength(text)).toBeGreaterThan(64 * 1024);
      const before = await stored();
      await expectWireError(await broker.post("/send", { to: bob.peer_id, text }, as(alice)), 413, /64 KiB/);
      expect(await stored()).toBe(before);
    });

    test.each([
      ["65,536 ASCII bytes", "a".repeat(64 * 1024)],
      ["16,384 four-byte chars", "😀".repeat(16 * 1024)],
      ["32,768 control chars (each \\u-escaped on the wire)", "\u0001".repeat(32 * 1024) + "\u001f".repeat(32 * 1024)],
    ])("a message of exactly 64 KiB (%s) is accepted whole", async (_, text) => {
      expect(Buffer.byteLength(text)).toBe(64 * 1024);
      const { message } = await json(await broker.post("/send", { to: bob.peer_id, text }, as(alice)));
      expect(message.text).toBe(text);
      expect((await history(5)).find((m) => m.id === message.id)?.text).toBe(text);
    });

    test("a body over the limit with a Content-Length is 413 JSON", async () => {
      for (const size of [600 * 1024, 2 * 1024 * 1024, 16 * 1024 * 1024]) {
        const body = JSON.stringify({ to: bob.peer_id, text: "a".repeat(size) });
        await expectWireError(await broker.post("/send", body, as(alice)), 413, /KiB/);
      }
    });

    test("a chunked body over the limit is 413 JSON", async () => {
      const chunk = "a".repeat(64 * 1024);
      const body = `${Array.from({ length: 32 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("")}0\r\n\r\n`;
      const head = `POST /send HTTP/1.1\nHost: 127.0.0.1:${t.port}\nAuthorization: Bearer ${broker.token}\nContent-Type: application/json\nTransfer-Encoding: chunked`;
      await expectWireError(await rawRequest(t.socketPath, head, body), 413, /KiB/);
    });
  });

  describe("bad input", () => {
    test.each([
      ["/send", "truncated JSON", '{"to":', /JSON/],
      ["/send", "a trailing comma", '{"to":"bob","text":"x",}', /JSON/],
      ["/send", "to as a number", '{"to":5,"text":"x"}', /^to: /],
      ["/send", "no to", '{"text":"x"}', /^to: /],
      ["/send", "no text", '{"to":"bob"}', /^text: /],
      ["/send", "empty text", '{"to":"bob","text":""}', /^text: /],
      ["/send", "text as an array", '{"to":"bob","text":["x"]}', /^text: /],
      ["/send", "a blank to", '{"to":"   ","text":"x"}', /^to: /],
      ["/send", "a bad in_reply_to", '{"to":"bob","text":"x","in_reply_to":"../../etc"}', /in_reply_to: /],
      ["/send", "an array body", "[]", /^body: /],
      ["/send", "a null body", "null", /^body: /],
      ["/send", "a string body", '"hello"', /^body: /],
      ["/send", "100,000 nested arrays", `${"[".repeat(100_000)}${"]".repeat(100_000)}`, /body/],
      ["/register", "a name with spaces", JSON.stringify(registration("Bad Name")), /^name: /],
      ["/register", "a negative pid", JSON.stringify(registration("x", { pid: -1 })), /^pid: /],
      ["/register", "a pid as a string", JSON.stringify(registration("x", { pid: "123" })), /^pid: /],
      ["/register", "no cwd", JSON.stringify({ ...registration("x"), cwd: undefined }), /^cwd: /],
      ["/register", "a short secret", JSON.stringify(registration("x", { peer_id: "p-abcdefghij", secret: "short" })), /^secret: /],
      ["/history", "limit 0", '{"limit":0}', /^limit: /],
      ["/history", "limit as a string", '{"limit":"10"}', /^limit: /],
      ["/peers", "an unknown scope", '{"scope":"galaxy"}', /^scope: /],
      ["/inbox", "mark_read as a string", '{"mark_read":"yes"}', /^mark_read: /],
      ["/ack", "ids as a string", '{"ids":"m-1"}', /^ids: /],
      ["/ack", "no ids", '{"ids":[]}', /^ids: /],
      ["/ack", "an unknown state", '{"ids":["m-1"],"state":"gone"}', /^state: /],
      ["/summary", "summary as a number", '{"summary":5}', /^summary: /],
      ["/summary", "a 501-char summary", JSON.stringify({ summary: "s".repeat(501) }), /^summary: /],
    ])("%s with %s is 400 naming the problem", async (path, _, body, mentions) => {
      await expectWireError(await broker.post(path, body, as(alice)), 400, mentions);
    });

    test("a body that is not valid UTF-8 is 400", async () => {
      const bytes = new Uint8Array([...Buffer.from('{"to":"bob","text":"'), 0xff, 0xfe, 0xc3, 0x28, ...Buffer.from('"}')]);
      const res = await broker.fetch("/send", {
        method: "POST",
        headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" },
        body: bytes,
      });
      await expectWireError(res, 400, /UTF-8/);
    });

    test("sending to nobody, or replying to no message, is 404 naming the field", async () => {
      // The field is also a field of the error, so clients add their hints by it, not by message text.
      expect((await expectWireError(await broker.post("/send", { to: "nobody-here", text: "x" }, as(alice)), 404, /^to: /)).field).toBe("to");
      const noOriginal = await broker.post("/send", { to: bob.peer_id, text: "x", in_reply_to: "m-nosuchmessage" }, as(alice));
      expect((await expectWireError(noOriginal, 404, /^in_reply_to: /)).field).toBe("in_reply_to");
      expect((await expectWireError(await broker.post("/send", { to: bob.peer_id, text: 5 }, as(alice)), 400, /^text: /)).field).toBe("text");
    });

    test.each([
      ["GET", "/nope"],
      ["POST", "/nope"],
      ["POST", "/send/"],
      ["GET", "/index.html"],
      ["POST", "/health/x"],
      ["POST", "/__proto__"],
      ["POST", "/constructor"],
    ])("%s %s is 404", async (method, path) => {
      const res = await broker.fetch(path, { method, headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" }, ...(method === "POST" ? { body: "{}" } : {}) });
      await expectWireError(res, 404, /route/);
    });

    test.each([
      ["GET", "/send"],
      ["PUT", "/send"],
      ["DELETE", "/peers"],
      ["PATCH", "/register"],
      ["GET", "/shutdown"],
      ["POST", "/health"],
      ["POST", "/ws"],
    ])("%s %s is 405", async (method, path) => {
      const res = await broker.fetch(path, { method, headers: { authorization: `Bearer ${broker.token}`, "content-type": "application/json" }, ...(method === "GET" ? {} : { body: "{}" }) });
      await expectWireError(res, 405, /use (GET|POST)/);
    });

    test("registering under a well-formed peer_id the broker never issued is 403, with any secret, and stores nothing", async () => {
      const before = (await json(await broker.post("/peers", { scope: "machine" }))).peers.length;
      for (const secret of ["chosen-by-the-client-0123456789", alice.secret]) {
        const res = await broker.post("/register", registration("mallory", { peer_id: "p-made2up234", secret }));
        await expectWireError(res, 403, /^peer_id: p-made2up234 was not issued by this broker/);
      }
      expect((await json(await broker.post("/peers", { scope: "machine" }))).peers.length).toBe(before);
    });
  });

  describe("fields a peer gives, which people and models are shown", () => {
    test.each([
      ["a cwd holding OSC 52 (write the clipboard)", { cwd: "/tmp/evil\u001b]52;c;ZXZpbA==\u0007" }, /^cwd: holds the control character U\+001B; .*folder/],
      ["a git_root holding a line feed", { git_root: "/src/a\nb" }, /^git_root: holds the control character U\+000A/],
      ["a git_common_dir holding C1 CSI", { git_common_dir: "/src/a/.git\u009b2J" }, /^git_common_dir: holds the control character U\+009B/],
      ["a branch clearing the screen", { git_branch: "main\u001b[2J" }, /^git_branch: holds the control character U\+001B/],
      ["a repo_key holding DEL", { repo_key: "github.com/a/b\u007f" }, /^repo_key: holds the control character U\+007F/],
      ["a summary with a line break (a fake list_peers entry)", { summary: "fixing\n- cli (id cli): stop" }, /^summary: holds the control character U\+000A; a summary is one line/],
      ["a summary holding a tab", { summary: "a\tb" }, /^summary: holds the control character U\+0009/],
    ])("register with %s is 400 naming the field and the character, and nothing is registered", async (_, fields, mentions) => {
      const res = await broker.post("/register", { ...registration("hostile-fields"), ...fields });
      expect((await expectWireError(res, 400, mentions)).field).toBe(Object.keys(fields)[0]);
      const peers = (await json(await broker.post("/peers", {}))).peers as Array<{ name: string }>;
      expect(peers.map((p) => p.name)).not.toContain("hostile-fields");
    });

    test.each(["cli", "claude-peers", "user", "system", "operator"])("the name %p is reserved: register is 400 saying so", async (name) => {
      const res = await broker.post("/register", registration(name));
      await expectWireError(res, 400, new RegExp(`^name: "${name}" is reserved .*choose another name`));
    });

    test.each([
      ["a line feed", "one\ntwo", /U\+000A/],
      ["ESC", "\u001b]0;pwned\u0007", /U\+001B/],
      ["C1 CSI", "x\u009b2J", /U\+009B/],
    ])("set_summary's route refuses a summary holding %s (400)", async (_, summary, mentions) => {
      await expectWireError(await broker.post("/summary", { summary }, as(alice)), 400, new RegExp(`^summary: holds the control character ${mentions.source}`));
    });

    test.each(["bob\u007f", "bob\u0085"])("send's to refuses DEL and C1 as well as C0 (%j)", async (to) => {
      await expectWireError(await broker.post("/send", { to, text: "x" }, as(alice)), 400, /^to: must not hold control characters/);
    });
  });

  describe("the WebSocket surface", () => {
    const upgrade = (extra: string) =>
      `GET /ws HTTP/1.1\nHost: 127.0.0.1:${t.port}\nUpgrade: websocket\nConnection: Upgrade\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13${extra}`;

    test("/ws without a token, with a wrong token, or with an unknown peer secret is 401", async () => {
      await expectWireError(await rawRequest(t.socketPath, upgrade("")), 401, /Bearer/);
      await expectWireError(await rawRequest(t.socketPath, upgrade(`\nAuthorization: Bearer ${otherBroker.token}`)), 401);
      await expectWireError(await rawRequest(t.socketPath, upgrade(`\nAuthorization: Bearer ${broker.token}\n${SECRET}: unknown-secret-0123456789`)), 401, /secret/);
    });

    test("/ws with an Origin (a web page) is 403", async () => {
      await expectWireError(await rawRequest(t.socketPath, upgrade(`\nAuthorization: Bearer ${broker.token}\nOrigin: https://evil.example`)), 403, /Origin/);
      await expectWireError(await rawRequest(t.socketPath, upgrade(`\nAuthorization: Bearer ${broker.token}`).replace(`127.0.0.1:${t.port}`, "evil.example")), 403, /Host/);
      // The same request without the Origin is a valid upgrade, so the 403 above was the Origin's doing.
      expect((await rawRequest(t.socketPath, upgrade(`\nAuthorization: Bearer ${broker.token}`))).status).toBe(101);
    });

    test("frames that are not JSON or not an ack get an error frame; the socket and the broker carry on", async () => {
      const carol = await json<Peer>(await broker.post("/register", registration("carol")));
      const ws = dialBrokerSocket(broker.socketPath, "/ws", { authorization: `Bearer ${broker.token}`, [SECRET]: carol.secret });
      const frames: Array<Record<string, any>> = [];
      ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
      const closed = new Promise<void>((resolve) => (ws.onclose = () => resolve()));
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("WebSocket did not open"));
      });
      try {
        const garbage = ["not json", "{", '{"type":"ping"}', '{"type":"ack"}', '{"type":"ack","ids":"m-1"}', '{"type":"ack","ids":[1]}', "null", "[]", "x".repeat(100_000)];
        for (const g of garbage) ws.send(g);
        ws.send(new Uint8Array([0xff, 0x00, 0xfe]));
        ws.send(JSON.stringify({ type: "ack", ids: ["m-notmine"] })); // valid, changes nothing
        await waitFor(() => frames.filter((f) => f.type === "error").length === garbage.length + 1, "an error frame per bad frame");
        await healthy();

        // The same socket still delivers, and its ack still counts.
        ws.onmessage = (e) => {
          const frame = JSON.parse(String(e.data));
          if (frame.type === "message") ws.send(JSON.stringify({ type: "ack", ids: [frame.message.id] }));
        };
        const { message } = await json(await broker.post("/send", { to: carol.peer_id, text: "still there?" }, as(alice)));
        await waitFor(async () => (await history(5)).find((m) => m.id === message.id)?.state === "delivered", "carol's ack to count");
      } finally {
        ws.close();
        await closed;
      }
    });
  });

  test("after all of this the broker serves normal traffic and kept every stored message", async () => {
    await healthy();
    const before = await history();
    expect(before.find((m) => m.id === keeper.id)?.text).toBe(keeper.text);
    const { message } = await json(await broker.post("/send", { to: alice.peer_id, text: "business as usual" }, as(bob)));
    expect(message.from_id).toBe(bob.peer_id);

    // And it is all on disk: a restarted broker on the same DB still has every message.
    await broker.stop();
    broker = await startBroker(t);
    const after = await history();
    expect(after.map((m) => [m.id, m.text])).toEqual([[message.id, message.text], ...before.map((m) => [m.id, m.text])]);
    const inbox = (await json(await broker.post("/inbox", {}, as(bob)))).messages as Array<{ id: string }>;
    expect(inbox.map((m) => m.id)).toContain(keeper.id);
  });
});

describe("issued peer ids", () => {
  test("an id the broker issued is still accepted after a broker restart (the store records it); a made-up one is not", async () => {
    const t = makeTestEnv();
    let broker = await startBroker(t);
    try {
      const peer = await json<Peer>(await broker.post("/register", registration("erin")));
      await broker.stop();
      broker = await startBroker(t);
      const again = await json<Peer>(await broker.post("/register", registration("erin", { peer_id: peer.peer_id, secret: peer.secret })));
      expect(again).toMatchObject({ peer_id: peer.peer_id, name: "erin" });
      await expectWireError(await broker.post("/register", registration("erin", { peer_id: "p-made2up234", secret: peer.secret })), 403, /not issued/);
    } finally {
      await broker.stop();
      t.cleanup();
    }
  });
});

describe("file modes", () => {
  let t: TestEnv;
  let broker: TestBroker | undefined;

  /** Starts broker.ts through a shell that first opens the umask wide. */
  async function startWithUmask(): Promise<TestBroker> {
    const proc = Bun.spawn(["sh", "-c", 'umask 000; exec "$0" "$1"', process.execPath, join(ROOT, "broker.ts")], {
      env: t.env,
      stdin: "ignore",
      stdout: Bun.file(t.logPath),
      stderr: Bun.file(t.logPath),
    });
    try {
      const b = await runningBroker(t);
      expect(b.pid).toBe(proc.pid); // exec kept the pid, so stop() ends the process we started
      return b;
    } catch (err) {
      await killAndConfirm(proc.pid, "SIGKILL");
      throw err;
    }
  }

  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  beforeAll(() => {
    t = makeTestEnv();
  });

  afterAll(async () => {
    await broker?.stop();
    t?.cleanup();
  });

  test("the token file, the DB and its -wal/-shm are 0600 under umask 000", async () => {
    broker = await startWithUmask();
    const peer = await json<Peer>(await broker.post("/register", registration("dora")));
    await json(await broker.post("/send", { to: peer.peer_id, text: "written to the WAL" }));
    for (const file of [t.tokenPath, t.dbPath, `${t.dbPath}-wal`, `${t.dbPath}-shm`]) expect([file, mode(file)]).toEqual([file, "600"]);
    expect(mode(join(t.socketPath, ".."))).toBe("700");
  });

  test("files left wide open by something else are tightened on the next start", async () => {
    await broker!.stop();
    broker = undefined;
    for (const file of [t.tokenPath, t.dbPath]) chmodSync(file, 0o666);
    chmodSync(join(t.socketPath, ".."), 0o777);
    broker = await startWithUmask();
    await json(await broker.post("/send", { to: "dora", text: "again" }));
    for (const file of [t.tokenPath, t.dbPath, `${t.dbPath}-wal`, `${t.dbPath}-shm`]) expect([file, mode(file)]).toEqual([file, "600"]);
    expect(mode(join(t.socketPath, ".."))).toBe("700");
  });
});

/**
 * CLAUDE_PEERS_DB in a folder other users can write (/tmp, a shared mount): a symlink planted where
 * the token, the DB or the log will be would take our writes elsewhere, and another user's file
 * there holds a token or mail they can read. Each is refused with a message saying what to do.
 */
describe("files another user could plant beside CLAUDE_PEERS_DB", () => {
  const asRoot = process.getuid?.() === 0;
  const NOBODY = 65534;
  /** A file of another user (root can make one; CI runs as root). */
  const foreign = (path: string, text = "") => {
    writeFileSync(path, text, { mode: 0o644 });
    chownSync(path, NOBODY, NOBODY);
  };
  const TOKEN = `${"t".repeat(43)}\n`;

  test.each<[string, (t: TestEnv) => void, RegExp, boolean]>([
    ["the token file is a symlink", (t) => symlinkSync(join(t.dir, "planted-token"), t.tokenPath), /refusing the broker's token file .* it is a symbolic link; remove it, or point CLAUDE_PEERS_DB/, false],
    ["the token file is another user's", (t) => foreign(t.tokenPath, TOKEN), /refusing the broker's token file .* it belongs to another user \(uid 65534\)/, true],
    ["the database is a symlink", (t) => symlinkSync(join(t.dir, "planted-db"), t.dbPath), /cannot open the database .*: refusing the database file .* symbolic link/, false],
    ["the database's -wal is a symlink", (t) => symlinkSync(join(t.dir, "planted-wal"), `${t.dbPath}-wal`), /refusing the database file .*-wal: it is a symbolic link/, false],
    ["the database is another user's", (t) => foreign(t.dbPath), /refusing the database file .* belongs to another user/, true],
  ])("%s: the broker refuses to start and says why", async (_, plant, message, needsRoot) => {
    if (needsRoot && !asRoot) return console.warn("security.test.ts: another user's file needs root to make; skipped");
    const t = makeTestEnv();
    try {
      plant(t);
      const run = await runToEnd([process.execPath, join(ROOT, "broker.ts")], t.env, t.home);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      for (const planted of ["planted-token", "planted-db", "planted-wal"]) expect(existsSync(join(t.dir, planted))).toBe(false);
    } finally {
      t.cleanup();
    }
  });

  test("a symlink where the broker's log goes: the session's server starts no broker and its tools say why", async () => {
    const world = openWorld();
    try {
      symlinkSync(join(world.t.dir, "planted-log"), world.t.logPath);
      const server = await world.start({ name: "logless" });
      const result = await server.call("whoami");
      expect(result.isError).toBe(true);
      expect(result.text).toMatch(/refusing the broker's log .* it is a symbolic link/);
      expect(existsSync(join(world.t.dir, "planted-log"))).toBe(false);
    } finally {
      await world.close();
    }
  });

  test("an existing log file and mail-flag folder with looser modes are tightened (0600, 0700)", async () => {
    const world = openWorld();
    try {
      writeFileSync(world.t.logPath, "an old line\n", { mode: 0o644 });
      chmodSync(world.t.logPath, 0o644);
      const flags = join(world.t.home, ".claude-peers-mail");
      mkdirSync(flags, { mode: 0o777 });
      chmodSync(flags, 0o777);
      const server = await world.start({ name: "tidy", env: { CLAUDE_CODE_SESSION_ID: "tidy-session" } });
      await whoami(server);
      expect((statSync(world.t.logPath).mode & 0o777).toString(8)).toBe("600");
      const broker = await runningBroker(world.t);
      await json(await broker.post("/send", { to: "tidy", text: "raise the flag" }));
      await waitFor(() => existsSync(join(flags, "tidy-session")), "the session's mail flag");
      expect((statSync(flags).mode & 0o777).toString(8)).toBe("700");
    } finally {
      await world.close();
    }
  });
});
