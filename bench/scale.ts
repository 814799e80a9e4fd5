#!/usr/bin/env bun
/**
 * One PostgreSQL as hosts are added (issue 24): 1, 2, 4 and 8 real broker processes (16 with
 * --hosts 16), each with its own HOME, port and CLAUDE_PEERS_HOST, on one local PostgreSQL with
 * durable settings (fsync on), one raw peer each (HTTP and WebSocket, no MCP). Per setup: the
 * connections each broker holds, the idle transactions per second of the whole database, and per
 * cross-host message (send, push, ack) its transactions and push p50/p99. Then list_peers and
 * registration beside stand-in rows for 1,000 and 10,000 sessions on hosts that are not running.
 * Beside them, floors measured in the same run: one round trip and one durable commit from here.
 * Transactions come from pg_stat_database, which backends report up to 10 s late (PostgreSQL 15):
 * each count is read after a settle and the idle rate is subtracted.
 */
import { SQL } from "bun";
import { BrokerClient } from "../shared/broker-client.ts";
import { startBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { makeTestEnv, type TestEnv } from "../tests/helpers/env.ts";
import { durablePostgres, type PgCluster } from "../tests/helpers/postgres.ts";
import { awaitQuiet, distribution, header, timeCalls, type Distribution } from "./lib.ts";
import { connectRawPeer, type RawPeer } from "./raw-peer.ts";

/** PostgreSQL 15 flushes a backend's statistics when it has been idle this long at the latest. */
const STATS_SETTLE_MS = 11_000;
const IDLE_SAMPLE_MS = 20_000;
const MESSAGES = 200;
const CALLS = 50;

interface Host {
  name: string;
  t: TestEnv;
  broker: TestBroker;
  peer: RawPeer;
  /** h0's second peer: the recipient when there is one host. */
  second?: RawPeer;
}

interface SetupResult {
  hosts: number;
  maxConnections: number;
  idleTxPerSecond: number;
  txPerMessage: number;
  push: Distribution;
}

/** Resolves when a peer is pushed the message with this text; one waiter per text. */
const arrivals = new Map<string, () => void>();

function hostsArg(): number[] {
  const i = process.argv.indexOf("--hosts");
  const max = i > 0 ? Number(process.argv[i + 1]) : 8;
  return [1, 2, 4, 8, 16].filter((n) => n <= max);
}

async function startHosts(url: string, count: number): Promise<Host[]> {
  const start = async (i: number): Promise<Host> => {
    const name = `h${i}`;
    const t = makeTestEnv({ CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: name });
    const broker = await startBroker(t);
    const connect = (peerName: string) => connectRawPeer({ socketPath: t.socketPath, token: broker.token, name: peerName, onMessage: (m) => arrivals.get(m.text)?.() });
    return { name, t, broker, peer: await connect(`peer-${i}`), second: i === 0 ? await connect("peer-0b") : undefined };
  };
  const hosts: Host[] = [];
  // Four at a time: Bun start-ups on a small machine.
  for (let i = 0; i < count; i += 4) hosts.push(...(await Promise.all(Array.from({ length: Math.min(4, count - i) }, (_, k) => start(i + k)))));
  return hosts;
}

async function stopHosts(hosts: Host[]): Promise<void> {
  await Promise.all(hosts.map(async (h) => {
    h.peer.close();
    h.second?.close();
    await h.broker.stop();
    h.t.cleanup();
  }));
}

/** Commits and rollbacks of `database` so far, asked from another database so the asking is not counted. */
async function transactions(admin: SQL, database: string): Promise<number> {
  const [row] = await admin<Array<{ n: bigint | number }>>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = ${database}`;
  return Number(row?.n ?? 0);
}

/** Transactions per second of `database` over IDLE_SAMPLE_MS, nothing else running but what is up. */
async function idleRate(admin: SQL, database: string): Promise<number> {
  await Bun.sleep(STATS_SETTLE_MS);
  const before = await transactions(admin, database);
  const t0 = Date.now();
  await Bun.sleep(IDLE_SAMPLE_MS);
  await Bun.sleep(STATS_SETTLE_MS);
  const after = await transactions(admin, database);
  return (after - before) / ((Date.now() - t0) / 1000);
}

async function connectionsPerHost(admin: SQL, database: string): Promise<Map<string, number>> {
  const rows = await admin<Array<{ app: string; n: number }>>`
    SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
    WHERE datname = ${database} AND application_name LIKE 'claude-peers %' GROUP BY application_name`;
  return new Map(rows.map((r) => [r.app.replace("claude-peers ", ""), r.n]));
}

/** MESSAGES sends, one at a time, from h0's peer to the last host's (h0's second peer with one host). */
async function measureMessages(admin: SQL, database: string, hosts: Host[], idle: number): Promise<{ txPerMessage: number; push: Distribution }> {
  const from = hosts[0]!;
  const to = hosts.length === 1 ? from.second! : hosts[hosts.length - 1]!.peer;
  const times: number[] = [];
  const before = await transactions(admin, database);
  const t0 = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    const text = `scale probe ${hosts.length}-${i}`;
    const { promise, resolve } = Promise.withResolvers<void>();
    arrivals.set(text, resolve);
    const start = performance.now();
    await from.peer.client.call("/send", { to: to.id, text });
    await promise;
    times.push(performance.now() - start);
    arrivals.delete(text);
  }
  await Bun.sleep(STATS_SETTLE_MS);
  const after = await transactions(admin, database);
  const elapsedS = (Date.now() - t0) / 1000;
  return { txPerMessage: (after - before - idle * elapsedS) / MESSAGES, push: distribution(times) };
}

/** Peer and presence rows for `sessions` sessions on sessions/20 brokers that are not running, live for a day (their heartbeat set ahead), never leaders. */
async function addStandIns(sql: SQL, from: number, to: number): Promise<void> {
  const now = Date.now();
  await sql`
    INSERT INTO brokers (id, host, pid, started_at, heartbeat_at)
    SELECT 'b-standin' || g, 'standin' || g, 1, now() + interval '1 day', now() + interval '1 day'
    FROM generate_series(${from / 20}, ${to / 20 - 1}) g`;
  await sql`
    INSERT INTO peers (id, secret_hash, name, pid, cwd, host, registered_at, last_seen)
    SELECT 'p-standin' || g, 'standin-hash-' || g, 'standin-' || g, 1, '/standin/' || g, 'standin' || (g / 20), ${now}, ${now}
    FROM generate_series(${from}, ${to - 1}) g`;
  await sql`
    INSERT INTO presence (peer_id, name, broker_id, host, push)
    SELECT 'p-standin' || g, 'standin-' || g, 'b-standin' || (g / 20), 'standin' || (g / 20), true
    FROM generate_series(${from}, ${to - 1}) g`;
}

async function measureAtSize(sql: SQL, hosts: Host[], sessions: number[]): Promise<void> {
  const peer = hosts[0]!.peer;
  const anonymous = new BrokerClient({ socketPath: hosts[0]!.t.socketPath, token: hosts[0]!.broker.token });
  let have = 0;
  let registered = 0;
  console.log("\n| sessions on the network | list_peers network p50 / p99 | list_peers machine p50 / p99 | registration p50 / p99 |\n|---|---|---|---|");
  for (const size of sessions) {
    await addStandIns(sql, have, size);
    have = size;
    const network = await timeCalls(CALLS, () => peer.client.call("/peers", { scope: "network" }));
    const machine = await timeCalls(CALLS, () => peer.client.call("/peers", { scope: "machine" }));
    const registration = await timeCalls(CALLS, async () => {
      const r = await anonymous.call("/register", { name: `joiner-${registered++}`, pid: process.pid, cwd: "/bench", git_root: null, git_common_dir: null, git_branch: null, summary: "joins" });
      await new BrokerClient({ socketPath: hosts[0]!.t.socketPath, token: hosts[0]!.broker.token, secret: r.secret }).call("/unregister", {});
    });
    const f = (d: Distribution) => `${d.p50.toFixed(1)} / ${d.p99.toFixed(1)} ms`;
    console.log(`| ${size.toLocaleString("en")} | ${f(network)} | ${f(machine)} | ${f(registration)} |`);
  }
}

async function main(): Promise<void> {
  const counts = hostsArg();
  await header(`one PostgreSQL (fsync on) as hosts are added: ${counts.join(", ")} brokers, ${MESSAGES} cross-host messages each`, 1);
  const cluster: PgCluster = await durablePostgres();
  const admin = new SQL({ url: cluster.adminUrl, max: 1 });
  const results: SetupResult[] = [];
  try {
    // Floors, same run, same server: one round trip and one durable commit from this process.
    const floorUrl = await cluster.createDatabase();
    const floorDb = new SQL({ url: floorUrl, max: 1 });
    await floorDb`CREATE TABLE floor (x int)`;
    const roundTrip = await timeCalls(500, () => floorDb`SELECT 1`);
    const commit = await timeCalls(500, () => floorDb`INSERT INTO floor VALUES (1)`);
    await floorDb.close();
    const floorIdle = await idleRate(admin, new URL(floorUrl).pathname.slice(1));
    await cluster.dropDatabase(floorUrl);
    console.log(`floor: round trip p50 ${roundTrip.p50.toFixed(2)} / p99 ${roundTrip.p99.toFixed(2)} ms; durable commit p50 ${commit.p50.toFixed(2)} / p99 ${commit.p99.toFixed(2)} ms; idle database ${floorIdle.toFixed(2)} transactions/s`);

    for (const n of counts) {
      const url = await cluster.createDatabase();
      const database = new URL(url).pathname.slice(1);
      const hosts = await startHosts(url, n);
      try {
        await awaitQuiet();
        const idle = await idleRate(admin, database);
        const { txPerMessage, push } = await measureMessages(admin, database, hosts, idle);
        const connections = await connectionsPerHost(admin, database);
        const result = { hosts: n, maxConnections: Math.max(...connections.values()), idleTxPerSecond: idle, txPerMessage, push };
        results.push(result);
        console.log(`${n} host(s): ≤ ${result.maxConnections} connections each, idle ${(idle / n).toFixed(2)} tx/s per host, ${txPerMessage.toFixed(1)} tx per message, push p50 ${push.p50.toFixed(2)} / p99 ${push.p99.toFixed(2)} ms`);
        if (n === 2) {
          const sql = new SQL({ url, max: 1 });
          await measureAtSize(sql, hosts, [1000, 10_000]);
          await sql.close();
        }
      } finally {
        await stopHosts(hosts);
        await cluster.dropDatabase(url);
      }
    }
  } finally {
    await admin.close();
    await cluster.stop();
  }
  console.log("\n| hosts | connections per broker | idle tx/s per host | tx per message | push p50 / p99 |\n|---|---|---|---|---|");
  for (const r of results) {
    console.log(`| ${r.hosts} | ${r.maxConnections} | ${(r.idleTxPerSecond / r.hosts).toFixed(2)} | ${r.txPerMessage.toFixed(1)} | ${r.push.p50.toFixed(2)} / ${r.push.p99.toFixed(2)} ms |`);
  }
}

if (import.meta.main) await main();
