/**
 * Several machines on one PostgreSQL. Each "host" is a world of its own (HOME, port, broker,
 * CLAUDE_PEERS_HOST) and all share one database on a real PostgreSQL cluster: cross-host message
 * and reply, network and repo scopes, name@host, a host going offline and coming back, and
 * PostgreSQL restarted under a stream of messages.
 */
import { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type TestEnv } from "./helpers/env.ts";
import { makeRepo } from "./helpers/git.ts";
import { sharedDatabase, type SharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { startTcpProxy } from "./helpers/tcp-proxy.ts";
import { brokerPids, runningBroker } from "./helpers/broker.ts";
import { listedPeers, sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { runCli } from "./helpers/cli.ts";
import { killAndConfirm, pidAlive, waitFor } from "./helpers/wait.ts";

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
if (!cluster) console.warn("network.test.ts: skipped, PostgreSQL is not installed (.ci/run installs it)");
const describePg = cluster ? describe : describe.skip;

/** The peers a session lists in `scope`, as "name@host". */
const listed = (server: TestServer, scope: string) => listedPeers(server, scope, { withHost: true });

/** Runs `bun cli.ts ...args` on a host. */
const cli = (t: TestEnv, args: string[]) => runCli(t, args, t.home);

const signal = (pids: number[], sig: NodeJS.Signals) => pids.forEach((pid) => process.kill(pid, sig));

describePg("several hosts sharing one PostgreSQL", () => {
  let db: SharedDatabase;
  const host = (name: string, extraEnv?: Record<string, string>) => db.host(name, extraEnv);

  /** alice on host laptop and bob on host devbox, each registered and seeing the other. */
  async function aliceAndBob(extraEnv?: Record<string, string>) {
    const laptop = host("laptop", extraEnv);
    const devbox = host("devbox", extraEnv);
    const [alice, bob] = await Promise.all([laptop.start({ name: "alice" }), devbox.start({ name: "bob" })]);
    await Promise.all([whoami(alice), whoami(bob)]);
    await waitFor(async () => (await listed(alice, "network")).includes("bob@devbox"), "alice to see bob on the network");
    return { laptop, devbox, alice, bob };
  }

  beforeEach(async () => {
    db = await sharedDatabase(cluster!);
  });

  afterEach(() => db.close());

  test("a message and its reply cross hosts by channel push; machine and network scopes; the CLI shows hosts", async () => {
    const { laptop, alice, bob } = await aliceAndBob();
    const bobId = (await whoami(bob)).id;
    expect(await listed(alice, "machine")).toEqual([]);
    expect(await listed(bob, "network")).toEqual(["alice@laptop"]);

    const sent = await alice.call("send_message", { to: "bob", message: "which port does the API use?" });
    expect(sent.isError).toBe(false);
    // The ack crossed back through PostgreSQL before send_message returned.
    expect(sent.text).toContain(`delivered to bob (${bobId})`);
    const question = await bob.waitForChannel((m) => m.content === "which port does the API use?", "bob's channel push");
    expect(question.meta).toMatchObject({ from_name: "alice", message_id: sentMessageId(sent.text) });

    const reply = await bob.call("send_message", { to: question.meta.from_id!, message: "8080", in_reply_to: question.meta.message_id! });
    expect(reply.isError).toBe(false);
    const answer = await alice.waitForChannel((m) => m.content === "8080", "alice's channel push");
    expect(answer.meta).toMatchObject({ from_name: "bob", in_reply_to: question.meta.message_id });

    const table = await cli(laptop.t, ["peers", "--scope", "network"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/HOST/);
    expect(table.stdout).toMatch(/bob\s+devbox/);
    const status = await cli(laptop.t, ["status"]);
    expect(status.stdout).toMatch(/host\s+laptop/);
    expect(status.stdout).toContain("1 on other hosts");
    expect(status.stdout).not.toContain(cluster!.adminUrl.split(":")[2]!.split("@")[0]!); // no password
  });

  test("names are unique on the network, and name@host addresses one host", async () => {
    const laptop = host("laptop");
    const devbox = host("devbox");
    const first = await laptop.start({ name: "api" });
    expect((await whoami(first)).name).toBe("api");
    const second = await devbox.start({ name: "api" });
    expect((await whoami(second)).name).toBe("api-2");
    const caller = await devbox.start({ name: "caller" });
    await whoami(caller);

    expect((await caller.call("send_message", { to: "api@laptop", message: "to the laptop" })).isError).toBe(false);
    await first.waitForChannel((m) => m.content === "to the laptop", "api@laptop's push");
    const wrongHost = await caller.call("send_message", { to: "api@devbox", message: "nobody" });
    expect(wrongHost.isError).toBe(true);
    expect(wrongHost.text).toContain('no peer with id or name "api@devbox"');
    expect(wrongHost.text).toContain("api@laptop"); // the hint lists peers of other hosts with their host
  });

  test("scope repo finds the same repository on another host by its origin URL, not its path", async () => {
    const laptop = host("laptop");
    const devbox = host("devbox");
    const origin = (root: string, url: string) => Bun.spawnSync(["git", "remote", "add", "origin", url], { cwd: root });
    const here = makeRepo(laptop.t.home, "app");
    origin(here, "git@github.com:Acme/App.git");
    const there = makeRepo(devbox.t.home, "checkout-elsewhere");
    origin(there, "https://github.com/acme/app");
    const unrelated = makeRepo(devbox.t.home, "other");
    origin(unrelated, "git@github.com:acme/other.git");

    const a = await laptop.start({ name: "a", cwd: here });
    const b = await devbox.start({ name: "b", cwd: there });
    const c = await devbox.start({ name: "c", cwd: unrelated });
    await Promise.all([a, b, c].map(whoami));
    await waitFor(async () => (await listed(a, "network")).length === 2, "a to see both devbox sessions");
    expect(await listed(a, "repo")).toEqual(["b@devbox"]);
    expect(await listed(b, "repo")).toEqual(["a@laptop"]);
    expect(await listed(c, "repo")).toEqual([]);
  });

  test("a host whose broker stops heartbeating goes offline for the others, then comes back", async () => {
    const { devbox, alice, bob } = await aliceAndBob();

    // A frozen broker (a laptop asleep): no heartbeats, its sockets still open.
    const broker = await runningBroker(devbox.t);
    process.kill(broker.pid, "SIGSTOP");
    try {
      await waitFor(async () => (await listed(alice, "network")).length === 0, "bob to read as offline");
    } finally {
      process.kill(broker.pid, "SIGCONT");
    }
    await waitFor(async () => (await listed(alice, "network")).includes("bob@devbox"), "bob to come back");
  });

  test("a host back from sleep finds its session's name taken: it takes a free one, names stay unique", async () => {
    const { laptop, devbox, alice } = await aliceAndBob();
    const broker = await runningBroker(devbox.t);
    process.kill(broker.pid, "SIGSTOP");
    let newBob: TestServer;
    try {
      await waitFor(async () => (await listed(alice, "network")).length === 0, "bob to read as offline");
      newBob = await laptop.start({ name: "bob" });
      expect((await whoami(newBob)).name).toBe("bob"); // free while devbox is away
    } finally {
      process.kill(broker.pid, "SIGCONT");
    }
    await waitFor(async () => (await listed(alice, "network")).join() === "bob-2@devbox,bob@laptop", "devbox's bob to come back as bob-2");
    expect((await alice.call("send_message", { to: "bob", message: "for the bob on my host" })).isError).toBe(false);
    await newBob.waitForChannel((m) => m.content === "for the bob on my host", "the new bob's push");
  });

  test("a host's broker killed while its sessions sleep: offline, mail waits, and all returns when they wake", async () => {
    const { devbox, alice, bob } = await aliceAndBob();

    // Frozen sessions cannot start a new broker, so the host stays dark until they wake.
    signal([bob.pid], "SIGSTOP");
    try {
      await killAndConfirm((await runningBroker(devbox.t)).pid, "SIGKILL");
      await waitFor(async () => (await listed(alice, "network")).length === 0, "bob to read as offline");
      const queued = await alice.call("send_message", { to: "bob", message: "for when you wake" });
      expect(queued.isError).toBe(false);
      expect(queued.text).toContain("mailbox");
    } finally {
      signal([bob.pid], "SIGCONT");
    }
    await bob.waitForChannel((m) => m.content === "for when you wake", "the mailbox message, pushed once bob is back");
    await waitFor(async () => (await listed(alice, "network")).includes("bob@devbox"), "bob to come back");
    expect(brokerPids(devbox.t)).toHaveLength(1);
  });

  test("PostgreSQL restarted mid-stream: every acknowledged message arrives exactly once", async () => {
    // 120 messages from one session to another, on loop damping's defaults: a one-way stream is never held.
    const { laptop, devbox, alice, bob } = await aliceAndBob();

    const total = 120;
    const acknowledged: string[] = [];
    const refused: string[] = [];
    let restart: Promise<void> | undefined;
    for (let i = 0; i < total; i++) {
      if (i === total / 3) restart = cluster!.restart(); // the stream goes on while it restarts
      const text = `stream ${i}`;
      const r = await alice.call("send_message", { to: "bob", message: text });
      if (!r.isError) acknowledged.push(text);
      else {
        // Refused sends must say so plainly and be safe to retry.
        expect(r.text).toMatch(/retry|try again/i);
        refused.push(text);
      }
    }
    await restart;
    const missing = () => acknowledged.filter((text) => !bob.channel.some((m) => m.content === text));
    await waitFor(() => missing().length === 0, "every acknowledged message at bob", 30_000).catch(async (err) => {
      // Say which ones and where they are stuck, with both brokers' logs.
      const res = await (await runningBroker(laptop.t)).post("/history", { limit: 1000 });
      const states = ((await res.json()) as { messages: Array<{ text: string; state: string }> }).messages.filter((m: { text: string }) => missing().includes(m.text)).map((m: { text: string; state: string }) => `${m.text}: ${m.state}`);
      const logs = [laptop, devbox].map((h) => `--- ${h.t.env.CLAUDE_PEERS_HOST} broker log:\n${readFileSync(h.t.logPath, "utf8")}`);
      throw new Error(`${(err as Error).message}; missing ${missing().length}: ${states.join(", ")}\n${logs.join("\n")}`);
    });
    const received = bob.channel.map((m) => m.content).filter((c) => c.startsWith("stream "));
    expect(new Set(received).size).toBe(received.length); // no duplicates
    console.log(`PostgreSQL restart mid-stream: ${acknowledged.length}/${total} acknowledged, ${refused.length} refused (retryable), ${received.length} received, 0 duplicated`);
  });

  test("the database out of reach: tools say to retry; brokers and servers carry on and work again once it is back", async () => {
    const proxy = startTcpProxy(cluster!.port); // the hosts reach PostgreSQL only through it
    try {
      const viaProxy = db.url.replace(`:${cluster!.port}/`, `:${proxy.port}/`);
      const laptop = host("laptop", { CLAUDE_PEERS_DB: viaProxy });
      const devbox = host("devbox", { CLAUDE_PEERS_DB: viaProxy });
      const [alice, bob] = await Promise.all([laptop.start({ name: "alice" }), devbox.start({ name: "bob" })]);
      await Promise.all([whoami(alice), whoami(bob)]);
      await waitFor(async () => (await listed(alice, "network")).includes("bob@devbox"), "alice to see bob");
      const brokers = [...brokerPids(laptop.t), ...brokerPids(devbox.t)];

      proxy.cut();
      const refused = await alice.call("send_message", { to: "bob", message: "while cut off" });
      expect(refused.isError).toBe(true);
      expect(refused.text).toMatch(/the shared database postgres:\/\/postgres:\*\*\*@\S+ is unreachable .*retry in a few seconds/);
      expect((await alice.call("list_peers", { scope: "network" })).text).toMatch(/unreachable .*retry/);

      proxy.restore();
      await waitFor(async () => !(await alice.call("send_message", { to: "bob", message: "back again" })).isError, "a send to go through again", 30_000);
      await bob.waitForChannel((m) => m.content === "back again", "bob's push after the outage", 30_000);
      await waitFor(async () => (await listed(bob, "network")).includes("alice@laptop"), "bob to see alice again", 30_000);
      expect([...brokerPids(laptop.t), ...brokerPids(devbox.t)]).toEqual(brokers); // the same brokers, reconnected
    } finally {
      proxy.stop();
    }
  });

  test("a wrong password or an unreachable URL: the session's tools say what is wrong, naming CLAUDE_PEERS_DB", async () => {
    const wrong = db.url.replace(/:\/\/([^:]+):[^@]+@/, "://$1:not-the-password@");
    const laptop = host("laptop", { CLAUDE_PEERS_DB: wrong });
    const s = await laptop.start({ name: "alice" });
    const r = await waitFor(async () => {
      const result = await s.call("list_peers");
      return result.isError && /CLAUDE_PEERS_DB/.test(result.text) ? result : null;
    }, "list_peers to report the database error");
    expect(r.text).toMatch(/password|authentication/i);
    expect(r.text).not.toContain("not-the-password");

    const nowhere = host("devbox", { CLAUDE_PEERS_DB: "postgres://postgres:secret@127.0.0.1:1/peers" });
    const t = await nowhere.start({ name: "bob" });
    const r2 = await waitFor(async () => {
      const result = await t.call("list_peers");
      return result.isError && /CLAUDE_PEERS_DB/.test(result.text) ? result : null;
    }, "list_peers to report the unreachable database");
    expect(r2.text).not.toContain("secret");
  });

  test("NOTIFY from a role that may only CONNECT: no payload stops a broker, and mail still crosses hosts", async () => {
    const { laptop, devbox, alice, bob } = await aliceAndBob();
    const pids = [(await runningBroker(laptop.t)).pid, (await runningBroker(devbox.t)).pid];
    // PUBLIC may CONNECT to a new database by default, and whoever connects may NOTIFY any channel.
    const role = `intruder_${randomBytes(4).toString("hex")}`;
    const admin = new SQL(cluster!.adminUrl);
    await admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'intruder'`);
    const url = new URL(db.url);
    url.username = role;
    url.password = "intruder";
    const intruder = new SQL(url.toString(), { max: 1 });
    try {
      const payloads = [
        "null", "{}", "[]", "42", '"text"', "not json at all {", "\u001b[2J", '{"k":"msg","b":null}', '{"k":"ack","ids":null}',
        '{"kind":"acked","ids":null}', '{"kind":"acked","ids":["m-x",{"a":1}]}', '{"kind":"events","broker":"b-x","events":[null]}',
        '{"kind":"message","broker":"b-x"}', '{"kind":"watching","broker":{"toString":1}}', '{"__proto__":{"kind":"acked"}}',
        JSON.stringify({ kind: "acked", ids: Array.from({ length: 700 }, (_, i) => `m-${i}`) }),
        `{"kind":"events","broker":"b-x","events":[${"[".repeat(3000)}`,
        "x".repeat(7990),
      ];
      for (const payload of payloads) await intruder`SELECT pg_notify('claude_peers', ${payload})`;
      // A payload over PostgreSQL's limit never reaches the brokers: the server refuses it.
      expect(await intruder`SELECT pg_notify('claude_peers', ${"y".repeat(9000)})`.then(() => "sent", () => "refused")).toBe("refused");
    } finally {
      await intruder.close();
      await admin.unsafe(`DROP ROLE ${role}`);
      await admin.close();
    }

    // The wake-up for this message is committed after every notice above, so each broker has read them all first.
    const sent = await alice.call("send_message", { to: "bob", message: "still here?" });
    expect(sent.isError).toBe(false);
    await bob.waitForChannel((m) => m.content === "still here?", "bob's channel push after the stray notices");
    const reply = await bob.call("send_message", { to: "alice", message: "yes" });
    expect(reply.isError).toBe(false);
    await alice.waitForChannel((m) => m.content === "yes", "alice's channel push after the stray notices");
    expect(pids.every(pidAlive)).toBe(true);
    expect([(await runningBroker(laptop.t)).pid, (await runningBroker(devbox.t)).pid]).toEqual(pids);
    for (const t of [laptop.t, devbox.t]) {
      const strays = readFileSync(t.logPath, "utf8").split("\n").filter((line) => line.includes("not a broker's"));
      expect(strays).toHaveLength(1); // one line, however many arrive
    }
  });
});
