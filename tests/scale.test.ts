/**
 * Many hosts on one PostgreSQL, black-box: the connections each broker holds (pg_stat_activity, by
 * the application name "claude-peers <host>" each broker connects with) and where notices go (a
 * test LISTENs on every broker's channel and on the common one).
 */
import { SQL } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { BrokerClient } from "../shared/broker-client.ts";
import { BrokerFrameSchema, StatusResultSchema, type PeerFrame } from "../shared/protocol.ts";
import { peerRegistration, startBroker, type TestBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { DEFAULT_HOST_TIMEOUT_S } from "../shared/config.ts";
import { TEST_HOST_TIMEOUT_S } from "./helpers/hosts.ts";
import { startPgCounter, type CountedTransaction } from "./helpers/pg-counter.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
if (!cluster) console.warn("scale.test.ts: skipped, PostgreSQL is not installed (.ci/run installs it)");
const describePg = cluster ? describe : describe.skip;

const SECRET = "x-claude-peers-secret";
interface Peer {
  peer_id: string;
  secret: string;
}
interface Host {
  name: string;
  t: TestEnv;
  broker: TestBroker;
  peer: Peer;
}

describePg("many hosts on one PostgreSQL", () => {
  let url: string;
  const hosts: Host[] = [];
  let admin: SQL | undefined;

  /** `count` brokers on a fresh database, each with one peer; `through` rewrites the URL the brokers get (a proxy). */
  async function startHosts(count: number, opts: { through?: (url: string) => string; hostTimeoutS?: string; registration?: Record<string, unknown> } = {}): Promise<Host[]> {
    url = await cluster!.createDatabase();
    admin = new SQL({ url, max: 1 });
    const brokerUrl = opts.through?.(url) ?? url;
    const start = async (i: number): Promise<Host> => {
      const name = `h${i}`;
      const t = makeTestEnv({ CLAUDE_PEERS_DB: brokerUrl, CLAUDE_PEERS_HOST: name, CLAUDE_PEERS_HOST_TIMEOUT: opts.hostTimeoutS ?? TEST_HOST_TIMEOUT_S });
      const broker = await startBroker(t);
      const host: Host = { name, t, broker, peer: undefined as unknown as Peer };
      hosts.push(host);
      host.peer = (await (await broker.post("/register", peerRegistration(`peer-${i}`, opts.registration))).json()) as Peer;
      return host;
    };
    // Four at a time: sixteen Bun start-ups at once on two shared cores outlast startBroker's patience.
    const started: Host[] = [];
    for (let i = 0; i < count; i += 4) started.push(...(await Promise.all(Array.from({ length: Math.min(4, count - i) }, (_, k) => start(i + k)))));
    return started;
  }

  afterEach(async () => {
    await admin?.close();
    await Promise.all(hosts.splice(0).map(async (h) => {
      await h.broker.stop();
      h.t.cleanup();
    }));
    await cluster!.dropDatabase(url);
  });

  test("16 brokers hold at most 2 connections each, however much work each is given at once", async () => {
    const all = await startHosts(16);
    // Every broker busy at once: sessions listing the network and sending across hosts in parallel.
    await Promise.all(
      all.flatMap((h, i) => {
        const to = all[(i + 1) % all.length]!.peer.peer_id;
        const as = { [SECRET]: h.peer.secret };
        return [
          ...Array.from({ length: 6 }, () => h.broker.post("/peers", { scope: "network" }, as).then((r) => expect(r.status).toBe(200))),
          ...Array.from({ length: 4 }, (_, n) => h.broker.post("/send", { to, text: `load ${n}` }, as).then((r) => expect(r.status).toBe(200))),
        ];
      }),
    );
    const database = new URL(url).pathname.slice(1);
    const rows = await admin!<Array<{ app: string; n: number }>>`
      SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
      WHERE datname = ${database} AND application_name LIKE 'claude-peers %' GROUP BY application_name ORDER BY 1`;
    const byHost = Object.fromEntries(rows.map((r) => [r.app.replace("claude-peers ", ""), r.n]));
    expect(Object.keys(byHost).sort()).toEqual(all.map((h) => h.name).sort());
    for (const host of all) expect({ host: host.name, connections: byHost[host.name]! <= 2 }).toEqual({ host: host.name, connections: true });
    expect(rows.reduce((sum, r) => sum + r.n, 0)).toBeLessThanOrEqual(32);
  });

  test("one broker at a time leads the sweeps of the shared data; when it stops, another takes over; status names it on every host", async () => {
    const all = await startHosts(3);
    /** Each host's `bun cli.ts status` line naming the leader, once every host names the same one. */
    const statusLines = async (hosts: Host[]) => {
      const outs = await Promise.all(hosts.map((h) => runCli(h.t, ["status"])));
      return outs.map((r) => ({ code: r.code, line: /^leader +(.*)$/m.exec(r.stdout)?.[1] ?? null }));
    };
    const namedBy = (lines: Array<{ line: string | null }>, leader: string) =>
      lines.every((l) => l.line === `this broker (${leader}) runs the shared sweeps (expiry, prune, overdue replies)` || l.line === `the broker on ${leader} runs the shared sweeps; this one does not`);
    const leaders = async (hosts: Host[]) => {
      const statuses = await Promise.all(hosts.map(async (h) => ((await (await h.broker.post("/status", {})).json()) as { broker: { leader: boolean } }).broker.leader));
      return hosts.filter((_, i) => statuses[i]).map((h) => h.name);
    };
    const first = await waitFor(async () => {
      const now = await leaders(all);
      return now.length === 1 ? now[0] : null;
    }, "exactly one leader among three brokers");
    const leader = all.find((h) => h.name === first)!;
    const before = await waitFor(async () => {
      const lines = await statusLines(all);
      return namedBy(lines, first!) ? lines : null;
    }, `bun cli.ts status on every host naming ${first} the leader`);
    expect(before.map((l) => l.code)).toEqual([0, 0, 0]);
    expect(before.filter((l) => l.line!.startsWith("this broker")).length).toBe(1);
    await leader.broker.stop("SIGKILL"); // no goodbye: the others learn from its silence
    const rest = all.filter((h) => h !== leader);
    const next = await waitFor(async () => {
      const now = await leaders(rest);
      return now.length === 1 ? now[0] : null;
    }, "another broker to take the lead once the first reads as offline");
    await waitFor(async () => namedBy(await statusLines(rest), next!), `bun cli.ts status on both hosts left naming ${next} the leader`);
  });

  test("a notice reaches only the broker it is for: a wake-up the recipient's, its ack the sender's, none the bystander's", async () => {
    const [a, b, c] = await startHosts(3);
    const ids = new Map((await admin!<Array<{ id: string; host: string }>>`SELECT id, host FROM brokers`).map((r) => [r.host, r.id]));
    // Each broker's own channel, as postgres-network.ts names it, and the one every broker hears.
    const channel = (host: Host) => `claude_peers_${ids.get(host.name)!.replace("-", "_")}`;
    const heard = new Map<string, Array<Record<string, unknown>>>();
    const listener = new SQL({ url, max: 1 });
    try {
      for (const name of [channel(a!), channel(b!), channel(c!), "claude_peers"]) {
        heard.set(name, []);
        await listener.listen(name, (payload) => heard.get(name)!.push(JSON.parse(payload)));
      }
      const sent = (await (await a!.broker.post("/send", { to: b!.peer.peer_id, text: "for b only" }, { [SECRET]: a!.peer.secret })).json()) as { message: { id: string } };
      const messageId = sent.message.id as string;
      // b's peer polls: b tells a at once that no push will come, so a's sender stops waiting.
      await waitFor(() => heard.get(channel(a!))!.some((n) => n.kind === "acked" && (n.ids as string[]).includes(messageId)), "the ack on a's channel");
      expect(heard.get(channel(b!))).toEqual([{ kind: "message", broker: ids.get("h1"), peer: b!.peer.peer_id, message: messageId, from: ids.get("h0") }]);
      expect(heard.get(channel(a!))).toEqual([{ kind: "acked", ids: [messageId] }]);
      expect(heard.get(channel(c!))).toEqual([]);
      expect(heard.get("claude_peers")).toEqual([]);
      // What each broker says it heard (bench/scale.ts counts notices per message from this): the same.
      const received = async (h: Host) => StatusResultSchema.parse(await (await h.broker.post("/status", {})).json()).broker.notices_received;
      expect([await received(a!), await received(b!), await received(c!)]).toEqual([1, 1, 0]);
    } finally {
      await listener.close();
    }
  });

  test("a cross-host message costs at most 4 transactions from send to read: store and wake, fetch to push, ack, read", async () => {
    // Every statement of both brokers goes through a proxy that reads the wire protocol and records each
    // transaction as the server ends it: exact and at once (pg_stat_database's counters come up to 10 s late).
    const counter = startPgCounter(cluster!.port);
    try {
      // A long host timeout: heartbeats every 10 s rather than 3 a second, so the run has few to set aside.
      const [a, b] = await startHosts(2, { through: (u) => u.replace(`:${cluster!.port}/`, `:${counter.port}/`), hostTimeoutS: "30" });
      const client = (h: Host) => new BrokerClient({ socketPath: h.t.socketPath, token: h.broker.token, secret: h.peer.secret });
      const sender = client(a!);
      const reader = client(b!);
      const pushed = new Map<string, () => void>();
      const socket = reader.openSocket();
      socket.onmessage = (event) => {
        const frame = BrokerFrameSchema.safeParse(JSON.parse(String(event.data)));
        if (!frame.success || frame.data.type !== "message") return;
        // Acknowledged as server.ts does once the message is written to Claude.
        socket.send(JSON.stringify({ type: "ack", ids: [frame.data.message.id] } satisfies PeerFrame));
        pushed.get(frame.data.message.text)?.();
      };
      await new Promise((resolve, reject) => ((socket.onopen = resolve), (socket.onerror = reject)));
      /** send (as server.ts: with an idempotency key), pushed and acked, then read with check_messages. */
      const message = async (text: string, to: string) => {
        const arrived = new Promise<void>((resolve) => pushed.set(text, resolve));
        const sent = await sender.call("/send", { to, text, idempotency_key: crypto.randomUUID() });
        await arrived;
        expect(sent.message.state).toBe("delivered");
        const { messages } = await reader.call("/inbox", { mark_read: true, wait_s: 0 });
        expect(messages.map((m) => [m.text, m.state])).toEqual([[text, "read"]]);
      };
      // Warm: prepared statements, the sender's duplicate memory and the recipient's mailbox allowance.
      for (let i = 0; i < 3; i++) await message(`warm ${i}`, "peer-1");

      const first = counter.transactions.length;
      const N = 20;
      // By name and by id, as sessions address each other.
      for (let i = 0; i < N; i++) await message(`counted ${i}`, i % 2 === 0 ? "peer-1" : b!.peer.peer_id);
      // The last read's transaction has ended: its answer came back, so ReadyForQuery came before it.
      const counted = counter.transactions.slice(first);
      // Set aside what runs on a timer whatever the traffic: heartbeats, the leader's sweeps, LISTEN,
      // and any transaction that neither touches a message nor sends a notice (the prune's and the
      // edit refresh's reads of who is live, at any moment of the run). Every transaction a message
      // costs does one or the other, so none of them is set aside by that.
      const timer = (tx: CountedTransaction) =>
        tx.statements.some((s) => /INSERT INTO brokers|reply_status = 'overdue'|SET state = 'expired'|^LISTEN|^UNLISTEN|edit_touches|edit_claims/.test(s)) ||
        !tx.statements.some((s) => /\bmessages\b|pg_notify/.test(s));
      const perMessage = counted.filter((tx) => !timer(tx));
      const rate = perMessage.length / N;
      // The transactions of the last message, statement by statement, for whoever reads a failure.
      const last = perMessage.slice(-Math.ceil(rate)).map((tx) => tx.statements.map((s) => s.replace(/\s+/g, " ").slice(0, 100)));
      // Statements too (BEGIN and COMMIT included): each is a round trip on the broker's one connection.
      const statements = perMessage.reduce((n, tx) => n + tx.statements.length, 0) / N;
      console.log(`scale.test: ${rate} transactions and ${statements} statements per cross-host message (send, push, ack, read); the last message's: ${JSON.stringify(last, null, 1)}`);
      expect(rate).toBeLessThanOrEqual(4);
      socket.close();
    } finally {
      counter.stop();
    }
  });

  test.each([1, 2])("an idle host costs the database at most 1 transaction a second (%i hosts)", async (count) => {
    const counter = startPgCounter(cluster!.port);
    const sockets: WebSocket[] = [];
    try {
      // The default host timeout, as users run it: a heartbeat every third of it. Each host's session
      // works in a repository, so its broker keeps the edit hooks' stake files too.
      await startHosts(count, {
        through: (u) => u.replace(`:${cluster!.port}/`, `:${counter.port}/`),
        hostTimeoutS: String(DEFAULT_HOST_TIMEOUT_S),
        registration: { repo_key: "origin:example.com/acme/app" },
      });
      // Each session holds its push connection, as an idle Claude Code session does: it stays live.
      for (const h of hosts) {
        const socket = new BrokerClient({ socketPath: h.t.socketPath, token: h.broker.token, secret: h.peer.secret }).openSocket();
        sockets.push(socket);
        await new Promise((resolve, reject) => ((socket.onopen = resolve), (socket.onerror = reject)));
      }
      const beatS = DEFAULT_HOST_TIMEOUT_S / 3;
      const isBeat = (tx: CountedTransaction) => tx.statements.some((s) => s.includes("INSERT INTO brokers"));
      /** Where (after which transaction) the n-th heartbeat seen ended, or null before it. */
      const afterBeat = (n: number) => {
        let seen = 0;
        for (let i = 0; i < counter.transactions.length; i++) if (isBeat(counter.transactions[i]!) && ++seen === n) return i + 1;
        return null;
      };
      const beats = () => counter.transactions.filter(isBeat).length;
      // Past the start-up (joins, the first prune, registrations, each statement's first Describe):
      // from each host's second heartbeat on, over BEATS heartbeats of each host.
      const BEATS = 3;
      const start = beats() + 2 * count;
      const first = await waitFor(() => afterBeat(start), "each host's second heartbeat after the start", 30_000);
      const last = await waitFor(() => afterBeat(start + count * BEATS), `${BEATS} more heartbeats of each host`, 60_000);
      const idle = counter.transactions.slice(first, last);
      // The window is BEATS heartbeat intervals of each host, counted by its heartbeats: no timing in the assertion.
      const perHostPerSecond = idle.length / count / (BEATS * beatS);
      const kinds = idle.map((tx) => tx.statements.map((s) => s.replace(/\s+/g, " ").slice(0, 60)).join(" ; "));
      console.log(`scale.test: ${count} idle host(s): ${perHostPerSecond.toFixed(2)} transactions/s per host (${idle.length} in ${BEATS} heartbeat intervals of ${beatS} s): ${JSON.stringify(kinds)}`);
      expect(perHostPerSecond).toBeLessThanOrEqual(1);
    } finally {
      for (const socket of sockets) socket.close();
      counter.stop();
    }
  });
});
