/** Tables for the pure logic: names, config, request guards, the token file, tool texts, channel meta. */
import type { BodyInit } from "bun";
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { MAX_BODY_BYTES, assertLocalRequest, assertToken, readJson } from "../shared/broker/guard.ts";
import { ConfigError, DEFAULT_HOST_TIMEOUT_S, DEFAULT_PORT, loadConfig } from "../shared/config.ts";
import { WireError } from "../shared/errors.ts";
import { normalizeRemoteUrl, type GitInfo } from "../shared/git.ts";
import { deriveName, sanitizeName } from "../shared/server/identity.ts";
import { channelMeta } from "../shared/server/mcp-server.ts";
import { PeerInfoSchema, PeerNameSchema, StatusResultSchema, type Message, type MessageState } from "../shared/protocol.ts";
import { SendPace } from "../shared/broker/send-pace.ts";
import { loadOrCreateToken } from "../shared/token.ts";
import { describePeers, describeSent, unreadFooter } from "../shared/tool-text.ts";
import { ROOT } from "./helpers/env.ts";
import { thrown } from "./helpers/wait.ts";

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "claude-peers-units-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("sanitizeName", () => {
  test.each([
    ["alice", "alice"],
    ["Alice", "alice"],
    ["UPPER_CASE", "upper_case"],
    ["My Project", "my-project"],
    ["my   project\tfolder", "my-project-folder"],
    ["  padded  ", "padded"],
    ["feature/login", "feature-login"],
    ["my.repo_v2", "my.repo_v2"],
    [".hidden", "hidden"],
    ["--leading-dashes", "leading-dashes"],
    ["trailing...", "trailing"],
    ["café", "cafe"],
    ["Ünïcödé Tëst", "unicode-test"],
    ["ﬁle", "file"],
    ["日本語-app", "app"],
    ["emoji 😀 name", "emoji-name"],
    ["日本語", "peer"],
    ["😀", "peer"],
    ["", "peer"],
    ["---", "peer"],
    ["a".repeat(100), "a".repeat(48)],
    [`${"a".repeat(47)}-b`, "a".repeat(47)],
  ])("%p → %p", (raw, expected) => {
    const name = sanitizeName(raw);
    expect(name).toBe(expected);
    expect(PeerNameSchema.safeParse(name).success).toBe(true);
  });
});

describe("deriveName", () => {
  const git = (over: Partial<GitInfo>): GitInfo => ({ root: "/src/backend", commonDir: "/src/backend/.git", branch: "main", isWorktree: false, repoKey: null, ...over });

  test.each<[string, Parameters<typeof deriveName>[0], string]>([
    ["an explicit name", { explicit: "reviewer", cwd: "/src/backend", git: git({}) }, "reviewer"],
    ["an explicit name is sanitized", { explicit: "Reviewer Bot", cwd: "/x", git: null }, "reviewer-bot"],
    ["a plain folder", { cwd: "/home/u/notes", git: null }, "notes"],
    ["a folder with spaces and capitals", { cwd: "/home/u/My Project", git: null }, "my-project"],
    ["a unicode folder", { cwd: "/home/u/Résumé Builder", git: null }, "resume-builder"],
    ["a folder of only non-Latin letters", { cwd: "/home/u/日本語", git: null }, "peer"],
    ["the filesystem root", { cwd: "/", git: null }, "root"],
    ["a repository checkout (no branch)", { cwd: "/src/backend", git: git({}) }, "backend"],
    ["a subfolder of a checkout", { cwd: "/src/backend/api/v2", git: git({}) }, "backend"],
    ["a checkout on a feature branch", { cwd: "/src/backend", git: git({ branch: "feature/x" }) }, "backend"],
    [
      "a worktree: <repo>-<branch>",
      { cwd: "/src/backend-login", git: git({ root: "/src/backend-login", branch: "feature/login", isWorktree: true }) },
      "backend-feature-login",
    ],
    [
      "a worktree of a capitalized repo",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: "/src/My Repo/.git", branch: "Fix-Bug", isWorktree: true }) },
      "my-repo-fix-bug",
    ],
    [
      "a worktree on a detached HEAD",
      { cwd: "/w/wt", git: git({ root: "/w/wt", branch: null, isWorktree: true }) },
      "backend",
    ],
    [
      "a worktree of a bare repository",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: "/srv/project.git", branch: "main", isWorktree: true }) },
      "project-main",
    ],
    [
      "a long worktree name is cut at 48",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: `/src/${"r".repeat(40)}/.git`, branch: "b".repeat(40), isWorktree: true }) },
      `${"r".repeat(40)}-${"b".repeat(7)}`,
    ],
  ])("%s", (_, input, expected) => {
    expect(deriveName(input)).toBe(expected);
  });
});

describe("loadConfig", () => {
  const HOME = "/home/tester";

  test("defaults come from the given home, not $HOME", () => {
    const c = loadConfig({ HOME: "/not/this/one" }, HOME);
    expect(c).toEqual({
      port: DEFAULT_PORT,
      db: "/home/tester/.claude-peers.db",
      shared: false,
      host: expect.any(String),
      hostTimeoutMs: DEFAULT_HOST_TIMEOUT_S * 1000,
      tokenPath: "/home/tester/.claude-peers.db.token",
      logPath: "/home/tester/.claude-peers.db.log",
      lockPath: `/home/tester/.claude-peers-${DEFAULT_PORT}.lock`,
      peerName: undefined,
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
      summaryModel: "gpt-4o-mini",
      mailboxTtlMs: 7 * 24 * 60 * 60 * 1000,
      push: true,
    });
  });

  test.each([
    ["8080", 8080],
    [" 8080 ", 8080],
    ["1", 1],
    ["65535", 65535],
    ["", DEFAULT_PORT],
    ["  ", DEFAULT_PORT],
  ])("CLAUDE_PEERS_PORT=%p → %p", (raw, port) => {
    expect(loadConfig({ CLAUDE_PEERS_PORT: raw }, HOME).port).toBe(port);
  });

  test.each(["abc", "0", "65536", "-1", "80.5", "0x1F90", "1e3", "8080abc", "80 80"])("CLAUDE_PEERS_PORT=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_PORT: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_PORT");
    expect(err.message).toContain(`"${raw}"`);
  });

  test.each([
    ["~/data/peers.db", "/home/tester/data/peers.db"],
    ["~/peers.db", "/home/tester/peers.db"],
    ["/var/tmp/peers.db", "/var/tmp/peers.db"],
    ["  /var/tmp/peers.db  ", "/var/tmp/peers.db"],
    ["relative/peers.db", resolve("relative/peers.db")],
    ["/var/tmp/../tmp/peers.db", "/var/tmp/peers.db"],
    ["", "/home/tester/.claude-peers.db"],
  ])("CLAUDE_PEERS_DB=%p → %p, with the token and log beside it", (raw, dbPath) => {
    const c = loadConfig({ CLAUDE_PEERS_DB: raw, CLAUDE_PEERS_PORT: "9001" }, HOME);
    expect(c.db).toBe(dbPath);
    expect(c.shared).toBe(false);
    expect(c.tokenPath).toBe(`${dbPath}.token`);
    expect(c.logPath).toBe(`${dbPath}.log`);
    expect(c.lockPath).toBe(join(dbPath, "..", ".claude-peers-9001.lock"));
  });

  test.each([
    ["off", false],
    ["OFF", false],
    [" off ", false],
    ["on", true],
    ["", true],
    [undefined, true],
  ])("CLAUDE_PEERS_PUSH=%p → push %p", (raw, push) => {
    expect(loadConfig({ CLAUDE_PEERS_PUSH: raw }, HOME).push).toBe(push);
  });

  test("optional strings are trimmed, and blank means unset", () => {
    const c = loadConfig({ CLAUDE_PEERS_NAME: "  bob ", OPENAI_API_KEY: "  ", OPENAI_BASE_URL: " http://127.0.0.1:9/v1 ", CLAUDE_PEERS_SUMMARY_MODEL: " " }, HOME);
    expect(c).toMatchObject({ peerName: "bob", openaiApiKey: undefined, openaiBaseUrl: "http://127.0.0.1:9/v1", summaryModel: "gpt-4o-mini" });
  });

  test.each([
    ["0.5", 12 * 60 * 60 * 1000],
    ["30", 30 * 24 * 60 * 60 * 1000],
  ])("CLAUDE_PEERS_MAILBOX_DAYS=%p → %p ms", (raw, ms) => {
    expect(loadConfig({ CLAUDE_PEERS_MAILBOX_DAYS: raw }, HOME).mailboxTtlMs).toBe(ms);
  });

  test.each(["0", "-1", "soon"])("CLAUDE_PEERS_MAILBOX_DAYS=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_MAILBOX_DAYS: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_MAILBOX_DAYS");
  });

  test.each(["postgres://u:pw@db.example.com:5432/peers", "postgresql://db/peers?sslmode=require", "POSTGRES://db/x"])(
    "CLAUDE_PEERS_DB=%p is a shared PostgreSQL URL, kept as given, with the token and log in HOME",
    (url) => {
      const c = loadConfig({ CLAUDE_PEERS_DB: ` ${url} ` }, HOME);
      expect(c).toMatchObject({ db: url, shared: true, tokenPath: "/home/tester/.claude-peers.token", logPath: "/home/tester/.claude-peers.log" });
      expect(c.lockPath).toBe(`/home/tester/.claude-peers-${DEFAULT_PORT}.lock`);
    },
  );

  test("CLAUDE_PEERS_HOST names this machine; CLAUDE_PEERS_HOST_TIMEOUT is in seconds", () => {
    expect(loadConfig({ CLAUDE_PEERS_HOST: " dev-box.lan ", CLAUDE_PEERS_HOST_TIMEOUT: "1.5" }, HOME)).toMatchObject({ host: "dev-box.lan", hostTimeoutMs: 1500 });
    expect(loadConfig({}, HOME).host).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  });

  test.each([
    ["CLAUDE_PEERS_HOST", "me@laptop"],
    ["CLAUDE_PEERS_HOST", "-dash"],
    ["CLAUDE_PEERS_HOST_TIMEOUT", "0"],
    ["CLAUDE_PEERS_HOST_TIMEOUT", "soon"],
  ])("%s=%p is a ConfigError naming the variable", async (name, raw) => {
    const err = await thrown(() => loadConfig({ [name]: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(name);
  });
});

describe("normalizeRemoteUrl: one spelling per repository, so hosts agree on `repo`", () => {
  test.each([
    ["git@github.com:Acme/App.git", "github.com/acme/app"],
    ["ssh://git@github.com/Acme/App", "github.com/acme/app"],
    ["https://github.com/Acme/App.git/", "github.com/acme/app"],
    ["https://user:secret@GitHub.com:443/acme/app", "github.com/acme/app"],
    ["github.com:acme/app", "github.com/acme/app"],
    ["/srv/git/Repo.git", "/srv/git/Repo"],
    ["file:///srv/git/Repo.git", "/srv/git/Repo"],
  ])("%p → %p", (url, key) => {
    expect(normalizeRemoteUrl(url)).toBe(key);
  });
});

describe("answers from a 0.1 broker (still running after an upgrade) still parse", () => {
  const peer = { id: "p-abcdefghij", name: "api", summary: "", pid: 1, cwd: "/w", git_root: null, git_branch: null, registered_at: "2026-01-01T00:00:00.000Z", last_seen: "2026-01-01T00:00:00.000Z", push: true };

  test("a peer without a host has host \"\", and list_peers text leaves it out", () => {
    const parsed = PeerInfoSchema.parse(peer);
    expect(parsed.host).toBe("");
    expect(describePeers([parsed], "machine")).toContain("- api (id p-abcdefghij): ");
    expect(describePeers([{ ...parsed, host: "devbox" }], "network")).toContain("- api (id p-abcdefghij, host devbox): ");
  });

  test("a status without host and other_hosts", () => {
    const health = { service: "claude-peers-broker", version: "0.1.0", protocol: 1, pid: 1, started_at: "2026-01-01T00:00:00.000Z" };
    const status = StatusResultSchema.parse({ broker: { ...health, url: "http://127.0.0.1:7899", db: "/x.db", uptime_s: 1 }, peers: { live: 1, push: 1, poll: 0 }, messages: { queued: 0, delivered: 0, read: 0, expired: 0 } });
    expect(status.broker.host).toBe("");
    expect(status.peers.other_hosts).toBe(0);
  });
});

describe("request guards", () => {
  const request = (headers: Record<string, string>, body?: BodyInit) =>
    new Request("http://127.0.0.1:7899/send", { method: "POST", headers, ...(body === undefined ? {} : { body }) });

  async function wireError(fn: () => unknown): Promise<WireError> {
    const err = await thrown(fn);
    expect(err).toBeInstanceOf(WireError);
    return err as WireError;
  }

  describe("assertLocalRequest", () => {
    test.each(["127.0.0.1", "127.0.0.1:7899", "localhost", "localhost:7899", "LocalHost:7899", "[::1]", "[::1]:7899"])("Host %p passes", (host) => {
      expect(() => assertLocalRequest(request({ host }))).not.toThrow();
    });

    test.each([
      ["evil.example", /Host "evil.example"/],
      ["evil.example:7899", /Host/],
      ["localhost.evil.example", /Host/],
      ["127.0.0.1.evil.example:7899", /Host/],
      ["127.0.0.2", /Host/],
      ["0.0.0.0:7899", /Host/],
      ["::1", /Host/],
      ["localhost:", /Host/],
      ["127.0.0.1:7899:80", /Host/],
    ])("Host %p is 403", async (host, mentions) => {
      const err = await wireError(() => assertLocalRequest(request({ host })));
      expect([err.status, err.code]).toEqual([403, "forbidden"]);
      expect(err.message).toMatch(mentions);
    });

    test("no Host is 403", async () => {
      expect((await wireError(() => assertLocalRequest(request({})))).status).toBe(403);
    });

    test.each(["https://evil.example", "null", "http://127.0.0.1:7899"])("an Origin (%p) is 403 even with a loopback Host", async (origin) => {
      const err = await wireError(() => assertLocalRequest(request({ host: "127.0.0.1:7899", origin })));
      expect(err.status).toBe(403);
      expect(err.message).toContain("Origin");
    });
  });

  describe("assertToken", () => {
    const TOKEN = "tok_0123456789abcdefghijklmnopqrstuvwxyz";

    test.each([`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER   ${TOKEN}`])("%p passes", (authorization) => {
      expect(() => assertToken(request({ authorization }), TOKEN)).not.toThrow();
    });

    test.each([
      ["no header", undefined, /missing Authorization/],
      ["an empty header", "", /missing Authorization/],
      ["no scheme", TOKEN, /missing Authorization/],
      ["another scheme", `Basic ${TOKEN}`, /missing Authorization/],
      ["a bare Bearer", "Bearer", /missing Authorization/],
      ["two tokens", `Bearer ${TOKEN} ${TOKEN}`, /missing Authorization/],
      ["a wrong token", "Bearer tok_wrong", /wrong token/],
      ["the token with a suffix", `Bearer ${TOKEN}x`, /wrong token/],
      ["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`, /wrong token/],
    ])("%s is 401", async (_, authorization, mentions) => {
      const err = await wireError(() => assertToken(request(authorization === undefined ? {} : { authorization }), TOKEN));
      expect([err.status, err.code]).toEqual([401, "unauthorized"]);
      expect(err.message).toMatch(mentions);
    });
  });

  describe("readJson", () => {
    const Schema = z.object({ to: z.string().min(1), count: z.number().int().default(1) });
    const json = (body: BodyInit, type = "application/json") => request({ "content-type": type }, body);

    test.each(["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ;charset=utf-8"])("Content-Type %p is read", async (type) => {
      expect(await readJson(json('{"to":"bob"}', type), Schema)).toEqual({ to: "bob", count: 1 });
    });

    test.each(["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "application/json-seq", ""])(
      "Content-Type %p is 415",
      async (type) => {
        const err = await wireError(() => readJson(type ? json('{"to":"bob"}', type) : request({}, new Uint8Array(Buffer.from('{"to":"bob"}'))), Schema));
        expect([err.status, err.code]).toEqual([415, "unsupported_media_type"]);
        expect(err.message).toContain("application/json");
      },
    );

    test("an empty body is an empty object, so defaults apply and required fields are named", async () => {
      const err = await wireError(() => readJson(json(""), Schema));
      expect(err.message).toMatch(/^to: /);
      expect(await readJson(json(""), z.object({ mark_read: z.boolean().default(false) }))).toEqual({ mark_read: false });
    });

    test.each<[string, BodyInit, RegExp]>([
      ["truncated JSON", '{"to":', /not valid UTF-8 JSON/],
      ["a trailing comma", '{"to":"bob",}', /not valid UTF-8 JSON/],
      ["single quotes", "{'to':'bob'}", /not valid UTF-8 JSON/],
      ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x74, 0x6f, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), /UTF-8/],
      ["a wrong type", '{"to":5}', /^to: /],
      ["a missing field", '{"count":2}', /^to: /],
      ["an empty field", '{"to":""}', /^to: /],
      ["a fraction for an int", '{"to":"bob","count":1.5}', /^count: /],
      ["an array", "[]", /^body: /],
      ["null", "null", /^body: /],
    ])("%s is 400 naming the problem", async (_, body, mentions) => {
      const err = await wireError(() => readJson(json(body), Schema));
      expect([err.status, err.code]).toEqual([400, "bad_request"]);
      expect(err.message).toMatch(mentions);
    });

    const sized = (bytes: number) => {
      const head = '{"to":"';
      return `${head}${"a".repeat(bytes - head.length - 2)}"}`;
    };

    test("a body of exactly MAX_BODY_BYTES is read; one byte more is 413", async () => {
      expect(Buffer.byteLength(sized(MAX_BODY_BYTES))).toBe(MAX_BODY_BYTES);
      expect((await readJson(json(sized(MAX_BODY_BYTES)), Schema)).to).toHaveLength(MAX_BODY_BYTES - 9);
      const err = await wireError(() => readJson(json(sized(MAX_BODY_BYTES + 1)), Schema));
      expect([err.status, err.code]).toEqual([413, "payload_too_large"]);
    });

    test("a declared Content-Length over the limit is 413 before anything is read", async () => {
      const req = request({ "content-type": "application/json", "content-length": String(MAX_BODY_BYTES + 1) }, '{"to":"bob"}');
      expect((await wireError(() => readJson(req, Schema))).status).toBe(413);
    });

    test("a streamed body is cut off at the limit with 413", async () => {
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x61));
        },
      });
      const err = await wireError(() => readJson(json(endless), Schema));
      expect(err.status).toBe(413);
      expect(pulled).toBeLessThan(20); // it stopped reading, it did not buffer everything first
    });
  });
});

describe("SendPace", () => {
  // 10 a second (a token every 100 ms), a burst of 3, and a sender may borrow up to 250 ms ahead.
  const limiter = (clock: { now: number }) => new SendPace({ perSecond: 10, burst: 3, maxWaitMs: 250 }, () => clock.now);

  test.each([
    // [ms since start of each take, expected pace]
    ["a burst is granted at once, then calls wait their turn in order", [0, 0, 0, 0, 0], [0, 0, 0, 100, 200]],
    ["tokens come back at the sustained rate", [0, 0, 0, 100, 100], [0, 0, 0, 0, 100]],
    ["a quiet sender gets its whole burst back, never more", [0, 0, 0, 10_000, 10_000, 10_000, 10_000], [0, 0, 0, 0, 0, 0, 100]],
    ["past the longest wait a call is turned away, taking nothing", [0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 100, 200, "retry 50", "retry 50"]],
    ["a turned-away sender that waits as told is taken again", [0, 0, 0, 0, 0, 0, 50], [0, 0, 0, 100, 200, "retry 50", 250]],
  ] as const)("%s", (_, times, paces) => {
    const clock = { now: 0 };
    const l = limiter(clock);
    const seen = times.map((t) => {
      clock.now = t;
      const pace = l.take("a");
      return "waitMs" in pace ? pace.waitMs : `retry ${pace.retryAfterMs}`;
    });
    expect(seen).toEqual([...paces]);
  });

  test("senders have separate buckets", () => {
    const l = limiter({ now: 0 });
    for (let i = 0; i < 3; i++) l.take("flooder");
    expect(l.take("flooder")).toEqual({ waitMs: 100 });
    expect(l.take("calm")).toEqual({ waitMs: 0 });
  });
});

describe("loadOrCreateToken", () => {
  const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,128}$/;

  test("creates a 0600 token once and returns the same one after", () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "peers.db.token");
    const previous = process.umask(0); // a wide umask must not widen the file
    let token: string;
    try {
      token = loadOrCreateToken(path);
    } finally {
      process.umask(previous);
    }
    expect(token).toMatch(TOKEN_SHAPE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8").trim()).toBe(token);
    expect(loadOrCreateToken(path)).toBe(token);
    expect(readdirSync(tmp.dir)).toEqual(["peers.db.token"]);
  });

  test("an existing token file left readable by others is tightened to 0600", () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "t.token");
    const token = loadOrCreateToken(path);
    chmodSync(path, 0o644);
    expect(loadOrCreateToken(path)).toBe(token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("eight processes creating it at the same instant all agree on one token", async () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "race.token");
    const startAt = Date.now() + 400; // every process spins until the same moment, then creates
    const code = `import { loadOrCreateToken } from ${JSON.stringify(join(ROOT, "shared/token.ts"))};
      while (Date.now() < ${startAt}) {}
      process.stdout.write(loadOrCreateToken(${JSON.stringify(path)}));`;
    const procs = Array.from({ length: 8 }, () => Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } }));
    const outputs = await Promise.all(procs.map(async (p) => ({ out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text(), code: await p.exited })));
    for (const o of outputs) expect(o).toMatchObject({ code: 0, err: "" });
    const tokens = new Set(outputs.map((o) => o.out));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toBe(readFileSync(path, "utf8").trim());
    expect(readdirSync(tmp.dir)).toEqual(["race.token"]); // no temp files left behind
  });

  test.each([
    ["empty", ""],
    ["too short", "abc\n"],
    ["not a token", "this is not a token, it has spaces and commas\n"],
    ["binary", "\u0000\u0001\u0002".repeat(20)],
  ])("a damaged (%s) file is a clear error and is left as it is", async (_, content) => {
    using tmp = tempDir();
    const path = join(tmp.dir, "bad.token");
    writeFileSync(path, content, { mode: 0o600 });
    const err = await thrown(() => loadOrCreateToken(path));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/damaged/);
    expect(readFileSync(path, "utf8")).toBe(content);
  });
});

describe("tool text", () => {
  test.each([
    [undefined, ""],
    [0, ""],
    [1, "\n\n(1 unread peer message waiting: call check_messages.)"],
    [3, "\n\n(3 unread peer messages waiting: call check_messages.)"],
  ])("unreadFooter(%p)", (unread, expected) => {
    expect(unreadFooter(unread)).toBe(expected);
  });

  const message = (over: Partial<Message> = {}): Message => ({
    id: "m-abc123",
    from_id: "p-alice",
    from_name: "alice",
    from_summary: "working on auth",
    from_cwd: "/src/api",
    to_id: "p-bob",
    to_name: "bob",
    text: "hello",
    in_reply_to: null,
    state: "queued",
    sent_at: "2026-01-02T03:04:05.000Z",
    delivered_at: null,
    read_at: null,
    ...over,
  });

  test.each<[string, Partial<Message>, RegExp[]]>([
    ["delivered", { state: "delivered" }, [/^Message m-abc123 delivered to bob \(p-bob\)\.$/]],
    ["read", { state: "read" }, [/^Message m-abc123 read by bob \(p-bob\)\.$/]],
    ["queued for a live id", { state: "queued" }, [/^Message m-abc123 queued for bob \(p-bob\)/, /kept until that session reads it/]],
    ["queued in a mailbox", { state: "queued", to_id: null }, [/^Message m-abc123 queued in bob's mailbox/, /no session named bob is live/, /delivered when one starts/]],
    ["expired", { state: "expired" }, [/^Message m-abc123 expired before bob \(p-bob\) read it\.$/]],
  ])("describeSent: %s", (_, over, patterns) => {
    const text = describeSent(message(over));
    for (const p of patterns) expect(text).toMatch(p);
    expect(text).not.toContain("\n");
  });

  test("describeSent covers every state", () => {
    const states: MessageState[] = ["queued", "delivered", "read", "expired"];
    for (const state of states) expect(describeSent(message({ state }))).toContain("m-abc123");
  });

  describe("channelMeta", () => {
    test("identifier keys and string values, in_reply_to only when set", () => {
      const plain = channelMeta(message());
      expect(plain).toEqual({
        message_id: "m-abc123",
        from_id: "p-alice",
        from_name: "alice",
        from_summary: "working on auth",
        from_cwd: "/src/api",
        sent_at: "2026-01-02T03:04:05.000Z",
      });
      expect("in_reply_to" in plain).toBe(false);

      const reply = channelMeta(message({ in_reply_to: "m-earlier" }));
      expect(reply.in_reply_to).toBe("m-earlier");
      for (const meta of [plain, reply]) {
        for (const [key, value] of Object.entries(meta)) {
          expect(key).toMatch(/^[A-Za-z0-9_]+$/);
          expect(typeof value).toBe("string");
        }
      }
    });

    test("an empty summary or cwd is still a string value", () => {
      const meta = channelMeta(message({ from_summary: "", from_cwd: "" }));
      expect(meta).toMatchObject({ from_summary: "", from_cwd: "" });
    });
  });
});
