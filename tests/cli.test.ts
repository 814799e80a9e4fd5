/** The real CLI as a subprocess, against a real broker and real sessions: output, JSON and exit codes. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { HistoryResultSchema, ListPeersResultSchema, StatusResultSchema } from "../shared/protocol.ts";
import { peerRegistration, startBroker, type TestBroker } from "./helpers/broker.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { startServer, whoami, type TestServer } from "./helpers/server.ts";
import { CLI, runCli } from "./helpers/cli.ts";
import { killAndConfirm, pidAlive, waitFor } from "./helpers/wait.ts";

const cli = runCli;

interface Streaming {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout: () => string;
  stderr: () => string;
}

/** Starts a long-running CLI command (watch) whose output is read as it comes. */
function spawnCli(t: TestEnv, args: string[], started: Streaming[]): Streaming {
  const proc = Bun.spawn([process.execPath, CLI, ...args], { env: t.env, cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const collect = (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    })();
    return () => text;
  };
  const s = { proc, stdout: collect(proc.stdout), stderr: collect(proc.stderr) };
  started.push(s);
  return s;
}

async function stopAll(started: Streaming[]): Promise<void> {
  await Promise.all(started.map((s) => killAndConfirm(s.proc.pid, "SIGTERM")));
}

describe("cli without a broker", () => {
  let t: TestEnv;
  beforeAll(() => {
    t = makeTestEnv();
  });
  afterAll(() => t.cleanup());

  test("help and no command print the usage with the env vars, exit 0", async () => {
    for (const args of [[], ["help"], ["--help"]]) {
      const r = await cli(t, args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("usage: bun cli.ts <command>");
      expect(r.stdout).toContain("CLAUDE_PEERS_PORT");
      expect(r.stdout).toContain("CLAUDE_PEERS_DB");
    }
  });

  test.each([
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["status", "--bogus"], "--bogus"],
    [["status", "--limit", "3"], "status does not take --limit"],
    [["peers", "--scope", "galaxy"], "--scope must be machine, network, directory or repo"],
    [["history", "--limit", "0"], "--limit must be a whole number"],
    [["send", "bob"], "send needs a peer id or name and a message"],
    [["constructor"], 'unknown command "constructor"'],
  ])("%p is a usage error: exit 2, the message and one usage line on stderr", async (args, message) => {
    const r = await cli(t, args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2); // the error stays on screen, not under the 45-line help
    expect(lines[0]).toContain(message);
    expect(lines[1]).toStartWith("usage: bun cli.ts ");
  });

  test("a usage error names the command's own usage line", async () => {
    const r = await cli(t, ["history", "--limit", "x"]);
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      'claude-peers: --limit must be a whole number from 1 to 1000, got "x"',
      "usage: bun cli.ts history [--limit 1..1000] [--peer <id or name>] [--json]   (every command: bun cli.ts help)",
    ]);
  });

  test("status says no broker runs and exits 1", async () => {
    const r = await cli(t, ["status"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`no claude-peers broker on ${t.socketPath}`);
    expect(r.stderr).toContain("bun broker.ts");
  });

  test("a database whose socket path would be too long for a Unix socket: status names the limit and the fix", async () => {
    const deep = join(t.dir, "d".repeat(120), "peers.db");
    const r = await runCli({ ...t, env: { ...t.env, CLAUDE_PEERS_DB: deep } }, ["status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a Unix socket may have; set CLAUDE_PEERS_DB to a file in a shorter folder");
  });

  test("kill-broker with no broker says so and exits 0", async () => {
    const r = await cli(t, ["kill-broker"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no claude-peers broker");
  });

  test("a socket held by something else is named; the console's TCP port is never asked", async () => {
    mkdirSync(dirname(t.socketPath), { recursive: true, mode: 0o700 });
    const seen: string[] = [];
    const tcp = Bun.serve({ hostname: "127.0.0.1", port: t.port, fetch: (req) => (seen.push(req.url), Response.json({ service: "claude-peers-broker" })) });
    const other = Bun.serve({ unix: t.socketPath, fetch: () => new Response("not a broker", { status: 404 }) });
    try {
      const r = await cli(t, ["peers"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(t.socketPath);
      expect(r.stderr).toContain("not a claude-peers broker");
      expect(seen).toEqual([]);
    } finally {
      await other.stop(true);
      await tcp.stop(true);
    }
  });
});

describe("cli with a broker and two live sessions", () => {
  let t: TestEnv;
  let broker: TestBroker;
  let alice: TestServer;
  let bob: TestServer;
  let aliceId: string;
  let bobId: string;
  const started: Streaming[] = [];
  const sent: string[] = [];

  beforeAll(async () => {
    t = makeTestEnv();
    broker = await startBroker(t);
    [alice, bob] = await Promise.all([startServer(t, { name: "alice" }), startServer(t, { name: "bob" })]);
    [aliceId, bobId] = [(await whoami(alice)).id, (await whoami(bob)).id];
    await waitFor(async () => {
      const s = StatusResultSchema.parse(await (await broker.post("/status", {})).json());
      return s.peers.push === 2;
    }, "both sessions to hold push connections");
  });

  afterAll(async () => {
    await stopAll(started);
    await Promise.all([alice?.stop(), bob?.stop()]);
    await broker?.stop();
    t.cleanup();
  });

  test("status shows the broker and its counts; --json is the broker's JSON only", async () => {
    const r = await cli(t, ["status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`unix:${t.socketPath}`);
    expect(r.stdout).toMatch(new RegExp(`^console +http://127\\.0\\.0\\.1:${t.port}$`, "m"));
    expect(r.stdout).toMatch(new RegExp(`^pid +${broker.pid}$`, "m"));
    expect(r.stdout).toContain(t.dbPath);
    expect(r.stdout).toContain("2 live (2 push, 0 poll)");
    // Alone on SQLite this broker runs every sweep: no leader to name (scale.test.ts names it on PostgreSQL).
    expect(r.stdout).not.toMatch(/^leader/m);

    const j = await cli(t, ["status", "--json"]);
    expect(j.code).toBe(0);
    const status = StatusResultSchema.parse(JSON.parse(j.stdout));
    expect(status.broker.pid).toBe(broker.pid);
    expect(status.peers).toEqual({ live: 2, push: 2, poll: 0, other_hosts: 0 });
  });

  test("peers prints an aligned table; --json lists both", async () => {
    const r = await cli(t, ["peers"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID +NAME +HOST +AGENT +MAIL +LAST SEEN +BRANCH +GROUPS +CWD +SUMMARY$/);
    expect(lines).toHaveLength(3);
    const nameAt = lines[0]!.indexOf("NAME");
    expect(lines[1]!.slice(nameAt)).toStartWith("alice ");
    expect(lines[2]!.slice(nameAt)).toStartWith("bob ");
    expect(lines[1]).toStartWith(aliceId);
    expect(lines[2]).toStartWith(bobId);
    expect(lines[1]!.slice(lines[0]!.indexOf("MAIL"))).toStartWith("channel "); // its session shows channel push (it registered so)
    expect(lines[1]!.slice(lines[0]!.indexOf("AGENT"))).toStartWith("claude-code ");

    const j = await cli(t, ["peers", "--json"]);
    const { peers } = ListPeersResultSchema.parse(JSON.parse(j.stdout));
    expect(peers.map((p) => [p.name, p.id, p.push, p.agent])).toEqual([
      ["alice", aliceId, true, "claude-code"],
      ["bob", bobId, true, "claude-code"],
    ]);
  });

  test("peers --scope directory is measured from the CLI's own cwd", async () => {
    const here = await cli(t, ["peers", "--scope", "directory", "--json"], t.home);
    expect(ListPeersResultSchema.parse(JSON.parse(here.stdout)).peers).toHaveLength(2);
    const elsewhere = await cli(t, ["peers", "--scope", "directory"], ROOT);
    expect(elsewhere.code).toBe(0);
    expect(elsewhere.stdout).toContain("no live peers in");
  });

  test("send by name reaches the session as a channel notification from cli", async () => {
    const r = await cli(t, ["send", "bob", "hello", "from", "the", "cli"]);
    expect(r.code).toBe(0);
    // "delivered" once bob's session acks within the broker's wait; "queued" on a slow machine.
    const match = /^sent (m-\S+) to bob \((p-\S+)\): (delivered|queued)/m.exec(r.stdout);
    expect(match?.[2]).toBe(bobId);
    const id = match![1]!;
    sent.push(id);
    const inbound = await bob.waitForChannel((m) => m.meta.message_id === id, "bob to get the CLI's message");
    expect(inbound.content).toBe("hello from the cli");
    expect(inbound.meta.from_name).toBe("cli");
  });

  test("send by id reaches the session", async () => {
    const r = await cli(t, ["send", aliceId, "by id"]);
    expect(r.code).toBe(0);
    const id = /^sent (m-\S+) to alice/m.exec(r.stdout)![1]!;
    sent.push(id);
    await alice.waitForChannel((m) => m.meta.message_id === id && m.content === "by id", "alice to get the message");
  });

  test("send to an unknown peer fails with the broker's message", async () => {
    const r = await cli(t, ["send", "nobody", "hi"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('no peer with id or name "nobody"');
    expect(r.stderr).toContain("alice, bob");
  });

  test("send of a message over 64 KiB is refused, not truncated", async () => {
    const r = await cli(t, ["send", "bob", "x".repeat(64 * 1024 + 1)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("64 KiB");
  });

  test("history lists the sent messages oldest first, with their states", async () => {
    await waitFor(async () => {
      const { messages } = HistoryResultSchema.parse(await (await broker.post("/history", {})).json());
      return messages.filter((m) => sent.includes(m.id) && m.state === "delivered").length === sent.length;
    }, "both sessions to ack their messages");
    const r = await cli(t, ["history"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TIME +ID +FROM +TO +STATE +TEXT$/);
    const rows = lines.slice(1);
    expect(rows.map((l) => /\b(m-\S+)/.exec(l)?.[1])).toEqual(sent);
    expect(rows[0]).toMatch(/ cli +bob +delivered +hello from the cli$/);
    expect(rows[1]).toMatch(/ cli +alice +delivered +by id$/);

    const newest = await cli(t, ["history", "--limit", "1", "--json"]);
    expect(HistoryResultSchema.parse(JSON.parse(newest.stdout)).messages.map((m) => m.id)).toEqual([sent[1]!]);
    const bobs = await cli(t, ["history", "--peer", "bob", "--json"]);
    expect(HistoryResultSchema.parse(JSON.parse(bobs.stdout)).messages.map((m) => m.id)).toEqual([sent[0]!]);
  });

  test("send's hints fit what was typed: groups for '#x', quoting for a shell-expanded * or an eaten #group", async () => {
    const group = await cli(t, ["send", "#nope", "hi"]);
    expect([group.code, group.stderr]).toEqual([1, expect.stringContaining("no group #nope")]);
    expect(group.stderr).toContain("See `bun cli.ts groups`");
    // `send * hi` in the clone: the shell hands over the folder's first file name instead of *.
    const star = await cli(t, ["send", "README.md", "hi"], ROOT);
    expect(star.code).toBe(1);
    expect(star.stderr).toContain(`"README.md" is a file here: if you typed * unquoted, the shell replaced it; write '*'`);
    // `send #ui hi`: the shell passes nothing from # on.
    const eaten = await cli(t, ["send"]);
    expect([eaten.code, eaten.stderr]).toEqual([2, expect.stringContaining("an unquoted #group is a comment to the shell: write '#ui'")]);
  });

  test("history --peer with no such peer says so", async () => {
    const r = await cli(t, ["history", "--peer", "nobody"]);
    expect([r.code, r.stdout.trim()]).toEqual([0, 'no messages from or to "nobody": no peer id or name by that sent or got mail here (live sessions: bun cli.ts peers)']);
  });

  test("a person may say the same thing twice: the duplicate rule is for sessions", async () => {
    for (let i = 0; i < 2; i++) expect((await cli(t, ["send", "bob", "ok"])).code).toBe(0);
  });

  test("a pause shows in status, peers and history (held (paused)), and the sender is told it is a pause, not a loop", async () => {
    expect((await cli(t, ["pause", "bob"])).code).toBe(0);
    try {
      const sent = (await alice.client.callTool({ name: "send_message", arguments: { to: "bob", message: "while paused" } })) as { content: Array<{ text: string }> };
      const text = sent.content[0]!.text;
      expect(text).toContain("A person paused bob");
      expect(text).not.toContain("loop");
      expect((await cli(t, ["status"])).stdout).toMatch(/^paused +bob \(since /m);
      expect((await cli(t, ["peers"])).stdout).toContain("bob (paused)");
      expect((await cli(t, ["history", "--peer", "bob"])).stdout).toMatch(/ alice +bob +held \(paused\) +while paused$/m);
    } finally {
      expect((await cli(t, ["resume", "bob"])).code).toBe(0);
    }
  });

  test("watch --json prints a sent event as one JSON line, and stops cleanly on SIGTERM", async () => {
    const w = spawnCli(t, ["watch", "--json"], started);
    await waitFor(() => w.stderr().includes("watching"), "watch to connect");
    const r = await cli(t, ["send", "alice", "watch me"]);
    expect(r.code).toBe(0);
    const event = await waitFor(
      () =>
        w
          .stdout()
          .split("\n")
          .filter((l) => l.endsWith("}"))
          .map((l) => JSON.parse(l))
          .find((f) => f.event === "sent" && f.message?.text === "watch me"),
      "a sent event on watch's stdout",
    );
    expect(event).toMatchObject({ type: "event", event: "sent", message: { from_name: "cli", to_name: "alice" } });
    await killAndConfirm(w.proc.pid, "SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });

  /** What a terminal acts on: C0 but line feed, DEL, C1, and the bidi overrides and isolates. */
  const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  test("a message's control characters never reach the terminal raw: watch, watch --json and history write them visibly", async () => {
    const hostile = "clip\u001b]52;c;ZXZpbA==\u0007 clear\u001b[2J csi\u009b31m back\r over\u202etxt.exe";
    const plain = spawnCli(t, ["watch"], started);
    const json = spawnCli(t, ["watch", "--json"], started);
    await waitFor(() => plain.stderr().includes("watching") && json.stderr().includes("watching"), "both watches to connect");
    const { message } = (await (await broker.post("/send", { to: "alice", text: hostile })).json()) as { message: { id: string } };
    const line = await waitFor(() => plain.stdout().split("\n").find((l) => l.includes(message.id) && l.includes(" sent ")), "the sent event in watch");
    const jsonLine = await waitFor(() => json.stdout().split("\n").find((l) => l.includes(message.id) && l.includes('"sent"')), "the sent event in watch --json");
    const history = await cli(t, ["history", "--peer", "alice"]);
    expect(history.code).toBe(0);
    for (const out of [plain.stdout(), json.stdout(), history.stdout]) expect(out).not.toMatch(RAW_CONTROL);
    expect(line).toContain("clip\\x1b]52;c;ZXZpbA==\\x07 clear\\x1b[2J csi\\x9b31m back over\\u202etxt.exe");
    expect(history.stdout).toContain("clip\\x1b]52;c;");
    expect(JSON.parse(jsonLine).message.text).toBe(hostile); // the JSON still carries the text whole
  });

  test("peers never prints a session's terminal escapes: the broker refuses a folder or branch holding them", async () => {
    const hostile = { ...peerRegistration("evil"), cwd: "/tmp/x\u001b]52;c;ZXZpbA==\u0007\u001b[2J", git_branch: "main\u001b]0;pwned\u0007" };
    const res = await broker.post("/register", hostile);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^cwd: holds the control character U\+001B/);
    for (const args of [["peers"], ["peers", "--json"]]) {
      const r = await cli(t, args);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(RAW_CONTROL);
      expect(r.stdout).not.toContain("evil");
    }
  });
});

describe("the claude-peers command (package.json bin)", () => {
  test("after bun link, claude-peers runs the CLI: status, peers and --help as bun cli.ts does", async () => {
    const t = makeTestEnv();
    const broker = await startBroker(t);
    const bunDir = dirname(process.execPath);
    try {
      // BUN_INSTALL: bun link writes the bin link under it, not under the developer's ~/.bun.
      const env = { ...t.env, BUN_INSTALL: join(t.dir, "bun"), PATH: `${join(t.dir, "bun", "bin")}:${bunDir}:/usr/bin:/bin` };
      const link = Bun.spawnSync([process.execPath, "link"], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
      expect(link.exitCode).toBe(0);
      const run = (...args: string[]) => Bun.spawnSync(["claude-peers", ...args], { cwd: t.home, env, stdout: "pipe", stderr: "pipe" });
      const status = run("status");
      expect({ code: status.exitCode, out: status.stdout.toString() }).toMatchObject({ code: 0, out: expect.stringContaining(`http://127.0.0.1:${t.port}`) });
      expect(run("peers").stdout.toString()).toBe("no live peers on this machine\n");
      expect(run("--help").stdout.toString()).toContain("claude-peers <command> [options]");
    } finally {
      await broker.stop();
      t.cleanup();
    }
  });
});

describe("kill-broker", () => {
  let t: TestEnv;
  let broker: TestBroker;
  const started: Streaming[] = [];

  beforeAll(async () => {
    t = makeTestEnv();
    broker = await startBroker(t);
  });

  afterAll(async () => {
    await stopAll(started);
    await broker?.stop();
    t.cleanup();
  });

  test("stops the broker (its pid is gone); a running watch says so, waits, and watches the next broker", async () => {
    const w = spawnCli(t, ["watch"], started);
    await waitFor(() => w.stderr().includes("watching the claude-peers broker"), "watch to connect");

    const r = await cli(t, ["kill-broker"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`broker stopped (pid ${broker.pid}, store ${t.dbPath})`);
    expect(pidAlive(broker.pid)).toBe(false);

    await waitFor(() => w.stderr().includes("went away"), "watch to say the broker went away");
    expect(w.stderr()).toContain("waiting for it to come back");
    expect(pidAlive(w.proc.pid)).toBe(true);
    broker = await startBroker(t);
    await waitFor(() => w.stderr().includes(`watching again: the broker is back (pid ${broker.pid})`), "watch to reconnect");
    await killAndConfirm(w.proc.pid, "SIGTERM");
    expect(await w.proc.exited).toBe(0);
  });
});
