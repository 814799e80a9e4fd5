#!/usr/bin/env bun
/**
 * One PostgreSQL as hosts are added (issue 24): 1, 2, 4, 8 and 16 real broker processes, each with
 * its own HOME, port and CLAUDE_PEERS_HOST, on one private PostgreSQL 15 with durable settings
 * (fsync on), two raw peers each (HTTP and WebSocket, no MCP): a sender and a receiver. Per setup:
 * the connections each broker holds, what an idle host costs (transactions, writes, statements,
 * WAL, broker CPU), then open-loop sends at a fixed rate across hosts (host i's sender to host
 * i+1's receiver, which acks the push and marks it read) and per message: transactions, writes (WAL
 * flushes), statements, notices delivered, WAL bytes, CPU, push p50/p99 from the scheduled time (a
 * stall delays the schedule's later sends' latencies instead of hiding). Then list_peers and
 * registration beside stand-in rows for 1,000 and 10,000 sessions on hosts that are not running,
 * and a cost model from these figures to 50 and 500 hosts × 20 sessions (bench/scale-model.ts).
 * Floors in the same run: a round trip, a durable commit, commits/s without and with NOTIFY, an
 * idle database. How each count is read: bench/scale-db.ts.
 *
 *   bun bench/scale.ts [--hosts 1,2,4,8,16 | --hosts 32] [--rate 20] [--messages 200] [--idle-s 10] [--sizes 1000,10000 | none]
 */
import { SQL } from "bun";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { BrokerClient } from "../shared/broker-client.ts";
import { durablePostgres } from "../tests/helpers/postgres.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { awaitQuiet, cpuSeconds, distribution, header, timeCalls, type Distribution } from "./lib.ts";
import { DatabaseCounters, measureFloors, type Counters, type Floors } from "./scale-db.ts";
import { arrivals, noticesReceived, reading, startHosts, stopHosts, type Host } from "./scale-hosts.ts";
import { CostModel, type IdleLoad, type PerMessage, type SetupFigures } from "./scale-model.ts";

const CALLS = 50;
/** The workload the model projects to: 20 sessions a host, one message each every two minutes. */
const WORKLOAD = { sessionsPerHost: 20, intervalS: 120 };
const PROJECT_TO = [50, 500];
/** How long the last sends may take to arrive and be read before the run counts them lost. */
const DRAIN_TIMEOUT_MS = 60_000;

const { values: args } = parseArgs({
  options: {
    hosts: { type: "string", default: "16" },
    rate: { type: "string", default: "20" },
    messages: { type: "string", default: "200" },
    "idle-s": { type: "string", default: "10" },
    /** Network sizes for list_peers and registration; "none" skips them. */
    sizes: { type: "string", default: "1000,10000" },
  },
  strict: true,
});

/** "1,2,8" as given, or a maximum N: 1, 2, 4, 8, … up to N. */
function hostCounts(arg: string): number[] {
  if (arg.includes(",")) return arg.split(",").map(positive);
  const max = positive(arg);
  const counts: number[] = [];
  for (let n = 1; n <= max; n *= 2) counts.push(n);
  return counts;
}

function positive(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected a positive number, got "${text}"`);
  return n;
}

interface SetupResult extends SetupFigures {
  idleWindowS: number;
  push: Distribution;
  /** How late the bench fired its sends at worst (its own event loop), and how many never arrived. */
  lateMs: number;
  lost: number;
  topStatements: Array<[query: string, perMessage: number]>;
  /** Idle statements per second of the whole setup, by statement. */
  idleStatements: Array<[query: string, perSecond: number]>;
}

/** One moment of a setup: the database's counters, the notices all brokers heard and their CPU. */
interface Sample {
  db: Counters;
  notices: number;
  brokerCpu: number;
  /** Calls per statement, read after the /status round that counted the notices. */
  calls: Map<string, number>;
}

async function sample(counters: DatabaseCounters, database: string, hosts: Host[]): Promise<Sample> {
  const brokerCpu = hosts.reduce((s, h) => s + cpuSeconds(h.broker.pid), 0);
  const notices = await noticesReceived(hosts);
  const calls = await counters.statementCalls(database);
  return { db: await counters.read(database), notices, brokerCpu, calls };
}

/**
 * The statements a /status call runs in the database (the bench's own, to leave out of every
 * count): those that moved by at least one call per broker in each of two /status rounds.
 */
async function statusStatements(counters: DatabaseCounters, database: string, hosts: Host[]): Promise<Set<string>> {
  const round = async () => {
    const before = await counters.statementCalls(database);
    await noticesReceived(hosts);
    const after = await counters.statementCalls(database);
    return new Set([...after].filter(([q, n]) => n - (before.get(q) ?? 0) >= hosts.length).map(([q]) => q));
  };
  const first = await round();
  const second = await round();
  return new Set([...first].filter((q) => second.has(q)));
}

/** Calls of the bench's own /status statements between two samples: each is one statement and one (read-only) transaction. */
function ownCalls(own: Set<string>, a: Sample, b: Sample): number {
  let n = 0;
  for (const q of own) n += (b.calls.get(q) ?? 0) - (a.calls.get(q) ?? 0);
  return n;
}

/** Per second between two samples, of the whole setup, the bench's own /status statements left out. */
function perSecond(a: Sample, b: Sample, own: Set<string>): IdleLoad {
  const s = (b.db.at - a.db.at) / 1000;
  const mine = ownCalls(own, a, b);
  return {
    transactions: (b.db.transactions - a.db.transactions - mine) / s,
    writes: (b.db.writes - a.db.writes) / s,
    statements: (b.db.statements - a.db.statements - mine) / s,
    walBytes: (b.db.wal - a.db.wal) / s,
    notices: (b.notices - a.notices) / s,
    brokerCpu: (b.brokerCpu - a.brokerCpu) / s,
    databaseCpu: (b.db.databaseCpu - a.db.databaseCpu) / s,
  };
}

/**
 * `messages` sends at `rate` a second, each at its scheduled time whatever the earlier ones do (open
 * loop), round the hosts: host k's sender to host k+1's receiver (host 0's own with one host), so
 * every pair is one-way (the loop rule never holds it) and every host sends and receives.
 */
async function openLoop(hosts: Host[], messages: number, rate: number): Promise<{ push: Distribution; lateMs: number; lost: number }> {
  const latencies: number[] = [];
  const arrived: Array<Promise<void>> = [];
  let lateMs = 0;
  const t0 = performance.now() + 50;
  for (let k = 0; k < messages; k++) {
    const scheduled = t0 + (k * 1000) / rate;
    const wait = scheduled - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    lateMs = Math.max(lateMs, performance.now() - scheduled);
    const from = hosts[k % hosts.length]!.sender;
    const to = hosts[(k + 1) % hosts.length]!.receiver;
    const text = `scale probe ${hosts.length}-${k}`;
    const { promise, resolve } = Promise.withResolvers<number>();
    arrivals.set(text, resolve);
    arrived.push(promise.then((at) => void latencies.push(at - scheduled)));
    from.client.call("/send", { to: to.id, text }).catch((err) => console.log(`send ${k} failed: ${err}`));
  }
  await Promise.race([Promise.all(arrived), Bun.sleep(DRAIN_TIMEOUT_MS)]);
  arrivals.clear();
  await Promise.all([...reading]);
  return { push: distribution(latencies), lateMs, lost: messages - latencies.length };
}

/** Waits until the brokers' notice counts stop moving (the last acks travel after the reads answer). */
async function noticesAtRest(hosts: Host[]): Promise<void> {
  let last = -1;
  await waitFor(async () => {
    const now = await noticesReceived(hosts);
    const still = now === last;
    last = now;
    if (!still) await Bun.sleep(200);
    return still;
  }, "the brokers' notice counts to stop moving", 10_000);
}

async function measureSetup(counters: DatabaseCounters, url: string, n: number, messages: number, rate: number, idleS: number): Promise<SetupResult> {
  const database = new URL(url).pathname.slice(1);
  const hosts: Host[] = [];
  try {
    await startHosts(url, n, hosts);
    await awaitQuiet(20, 10_000);
    const own = await statusStatements(counters, database, hosts);
    const s0 = await sample(counters, database, hosts);
    await Bun.sleep(idleS * 1000);
    const s1 = await sample(counters, database, hosts);
    const idle = perSecond(s0, s1, own);
    const idleStatements = byStatement(s0.calls, s1.calls, (s1.db.at - s0.db.at) / 1000, own);
    const { push, lateMs, lost } = await openLoop(hosts, messages, rate);
    await noticesAtRest(hosts);
    const s2 = await sample(counters, database, hosts);
    const mine = ownCalls(own, s1, s2);
    const connections = [...(await counters.connectionsPerHost(database)).values()];
    const windowS = (s2.db.at - s1.db.at) / 1000;
    // The window's counts less what the setup does idle over the same time, per message.
    const each = (delta: number, idleRate: number) => (delta - idleRate * windowS) / messages;
    const perMessage: PerMessage = {
      transactions: each(s2.db.transactions - s1.db.transactions - mine, idle.transactions),
      writes: each(s2.db.writes - s1.db.writes, idle.writes),
      statements: each(s2.db.statements - s1.db.statements - mine, idle.statements),
      notices: each(s2.notices - s1.notices, idle.notices),
      walBytes: each(s2.db.wal - s1.db.wal, idle.walBytes),
      brokerCpuMs: each(s2.brokerCpu - s1.brokerCpu, idle.brokerCpu) * 1000,
      databaseCpuMs: each(s2.db.databaseCpu - s1.db.databaseCpu, idle.databaseCpu) * 1000,
    };
    const topStatements = byStatement(s1.calls, s2.calls, messages, own);
    return { hosts: n, connections: { min: Math.min(...connections), max: Math.max(...connections) }, idle, idleWindowS: (s1.db.at - s0.db.at) / 1000, perMessage, push, lateMs, lost, topStatements, idleStatements };
  } finally {
    await stopHosts(hosts);
  }
}

/** Calls of each statement between two readings, divided by `per` (messages or seconds), most first. */
function byStatement(before: Map<string, number>, after: Map<string, number>, per: number, leaveOut = new Set<string>()): Array<[string, number]> {
  return [...after]
    .filter(([query]) => !leaveOut.has(query))
    .map(([query, calls]) => [query, (calls - (before.get(query) ?? 0)) / per] as [string, number])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 14);
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

/**
 * list_peers and registration on 2 running hosts beside stand-in rows for `sizes` sessions; then
 * what those 2 hosts cost the database idle at that size, and the idle statements that take its
 * time: a periodic read of the whole network shows here, as it does not with 16 small hosts.
 */
async function measureAtSize(counters: DatabaseCounters, url: string, sizes: number[], idleS: number): Promise<void> {
  const database = new URL(url).pathname.slice(1);
  const idleLines: string[] = [];
  const hosts: Host[] = [];
  const sql = new SQL({ url, max: 1 });
  console.log("| sessions on the network | list_peers network p50 / p99 | list_peers machine p50 / p99 | registration p50 / p99 |\n|---|---|---|---|");
  try {
    await startHosts(url, 2, hosts);
    const peer = hosts[0]!.sender;
    const anonymous = new BrokerClient({ socketPath: hosts[0]!.t.socketPath, token: hosts[0]!.broker.token });
    let have = 0;
    let registered = 0;
    for (const size of sizes) {
      await addStandIns(sql, have, size);
      have = size;
      // Every session of the network in one answer: on a busy machine past the client's usual timeout.
      const network = await timeCalls(CALLS, () => peer.client.call("/peers", { scope: "network" }, { waitMs: 60_000 }));
      const machine = await timeCalls(CALLS, () => peer.client.call("/peers", { scope: "machine" }));
      const registration = await timeCalls(CALLS, async () => {
        const r = await anonymous.call("/register", { name: `joiner-${registered++}`, pid: process.pid, cwd: "/bench", git_root: null, git_common_dir: null, git_branch: null, summary: "joins" });
        await new BrokerClient({ socketPath: hosts[0]!.t.socketPath, token: hosts[0]!.broker.token, secret: r.secret }).call("/unregister", {});
      });
      const f = (d: Distribution) => `${d.p50.toFixed(1)} / ${d.p99.toFixed(1)} ms`;
      console.log(`| ${size.toLocaleString("en")} | ${f(network)} | ${f(machine)} | ${f(registration)} |`);
      const times0 = await counters.statementTimes(database);
      const cpu0 = counters.databaseCpu();
      const t0 = performance.now();
      await Bun.sleep(idleS * 1000);
      const seconds = (performance.now() - t0) / 1000;
      const cores = (counters.databaseCpu() - cpu0) / seconds;
      const heaviest = byStatement(times0, await counters.statementTimes(database), seconds * hosts.length).slice(0, 4);
      idleLines.push(`at ${size.toLocaleString("en")} sessions, idle: database CPU ${f2((cores / hosts.length) * 100)} % of a core per running host; heaviest idle statements, ms of execution per second per host:`,
        ...heaviest.map(([q, ms]) => `  ${ms.toFixed(2).padStart(7)}  ${q.replace(/\s+/g, " ").slice(0, 140)}`));
    }
  } finally {
    await sql.close();
    await stopHosts(hosts);
  }
  console.log(`\n${idleLines.join("\n")}`);
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

function printTables(results: SetupResult[], floors: Floors, floorIdle: number, rate: number): void {
  console.log(`\nfloors (same run, same server): round trip p50 ${f2(floors.roundTrip.p50)} / p99 ${f2(floors.roundTrip.p99)} ms; durable commit p50 ${f2(floors.commit.p50)} / p99 ${f2(floors.commit.p99)} ms; ` +
    `${Math.round(floors.commitsPerSecond)} commits/s and ${Math.round(floors.notifyCommitsPerSecond)} commits with NOTIFY/s from ${floors.parallel} connections; idle database ${f2(floorIdle)} transactions/s`);
  console.log("\nper host, idle (the whole setup's load over the idle window, divided by hosts):\n");
  console.log("| hosts | connections per broker | transactions/s | writes/s | statements/s | WAL B/s | notices/s | broker CPU (% of a core) |\n|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const i = r.idle;
    const per = (x: number) => x / r.hosts;
    const conns = r.connections.min === r.connections.max ? `${r.connections.max}` : `${r.connections.min}–${r.connections.max}`;
    console.log(`| ${r.hosts} | ${conns} | ${f2(per(i.transactions))} | ${f2(per(i.writes))} | ${f2(per(i.statements))} | ${Math.round(per(i.walBytes))} | ${f2(per(i.notices))} | ${f2(per(i.brokerCpu) * 100)} |`);
  }
  console.log(`\nper cross-host message (send → push → ack → read; open loop at ${rate} msg/s round the hosts; idle load subtracted):\n`);
  console.log("| hosts | transactions | writes (WAL flushes) | statements | notices delivered | WAL bytes | broker CPU ms (all) | database CPU ms | push p50 / p99 from schedule | lost |\n|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    const m = r.perMessage;
    console.log(`| ${r.hosts} | ${f1(m.transactions)} | ${f1(m.writes)} | ${f1(m.statements)} | ${f2(m.notices)} | ${Math.round(m.walBytes)} | ${f2(m.brokerCpuMs)} | ${f2(m.databaseCpuMs)} | ${f2(r.push.p50)} / ${f2(r.push.p99)} ms | ${r.lost} |`);
  }
  const last = results.at(-1)!;
  console.log(`\nstatements per message at ${last.hosts} host(s), by statement (pg_stat_statements; the heartbeat's share of the window included):\n`);
  const show = (rows: Array<[string, number]>) => {
    for (const [query, n] of rows) console.log(`  ${n.toFixed(2).padStart(6)}  ${query.replace(/\s+/g, " ").slice(0, 150)}`);
  };
  show(last.topStatements);
  console.log(`\nstatements per second per host at ${last.hosts} host(s), idle, by statement (the leader's sweeps are the network's, not each host's):\n`);
  show(last.idleStatements.map(([q, perS]) => [q, perS / last.hosts]));

  const model = new CostModel(results, floors, WORKLOAD);
  const slope = model.slopes(results);
  console.log(`\nprojection (cost model, bench/scale-model.ts): per-message counts from ${last.hosts} hosts (slope per added host: transactions ${slope.transactions.toFixed(3)}, ` +
    `writes ${slope.writes.toFixed(3)}, statements ${slope.statements.toFixed(3)}, notices ${slope.notices.toFixed(3)}); idle load and database CPU per message fitted as a + b·hosts:\n`);
  console.log(model.table(PROJECT_TO));
  console.log(`\nlimits as hosts are added (${WORKLOAD.sessionsPerHost} sessions each, one message per ${WORKLOAD.intervalS} s), first reached first:`);
  for (const l of model.limits(availableParallelism())) console.log(`  ${l.hosts === null ? "not within 100,000 hosts" : `at ${l.hosts.toLocaleString("en")} hosts`}: ${l.what}`);
}

async function main(): Promise<void> {
  const counts = hostCounts(args.hosts!);
  const rate = positive(args.rate!);
  const messages = positive(args.messages!);
  const idleS = positive(args["idle-s"]!);
  await header(`one PostgreSQL (fsync on) as hosts are added: ${counts.join(", ")} brokers; ${messages} cross-host messages each, open loop at ${rate}/s`, 1);
  console.log(`command: bun bench/scale.ts --hosts ${counts.join(",")} --rate ${rate} --messages ${messages} --idle-s ${idleS} --sizes ${args.sizes}`);
  const cluster = await durablePostgres();
  const counters = await DatabaseCounters.open(cluster.adminUrl, cluster.dataDir);
  const results: SetupResult[] = [];
  try {
    const floorUrl = await cluster.createDatabase();
    const floors = await measureFloors(floorUrl);
    // An empty database over the same idle window: what the server itself counts.
    const floorDb = new URL(floorUrl).pathname.slice(1);
    const a = await counters.read(floorDb);
    await Bun.sleep(idleS * 1000);
    const b = await counters.read(floorDb);
    const floorIdle = (b.transactions - a.transactions) / ((b.at - a.at) / 1000);
    await cluster.dropDatabase(floorUrl);
    console.log(`floors done: durable commit p50 ${f2(floors.commit.p50)} ms, ${Math.round(floors.commitsPerSecond)} commits/s, ${Math.round(floors.notifyCommitsPerSecond)} with NOTIFY/s`);

    for (const n of counts) {
      const url = await cluster.createDatabase();
      try {
        const r = await measureSetup(counters, url, n, messages, rate, idleS);
        results.push(r);
        const m = r.perMessage;
        console.log(`${n} host(s): ≤ ${r.connections.max} connections each, idle ${f2(r.idle.transactions / n)} tx/s per host; per message ${f1(m.transactions)} tx, ${f1(m.writes)} writes, ` +
          `${f1(m.statements)} statements, ${f2(m.notices)} notices, ${Math.round(m.walBytes)} WAL bytes; push p50 ${f2(r.push.p50)} / p99 ${f2(r.push.p99)} ms (sends up to ${f1(r.lateMs)} ms late, ${r.lost} lost)`);
      } finally {
        await cluster.dropDatabase(url);
      }
    }
    printTables(results, floors, floorIdle, rate);
    const sizes = args.sizes === "none" ? [] : args.sizes!.split(",").map(positive);
    if (sizes.length) {
      console.log("\nlist_peers and registration, 2 hosts running beside stand-in rows:\n");
      const url = await cluster.createDatabase();
      try {
        await measureAtSize(counters, url, sizes, idleS);
      } catch (err) {
        console.log(`list_peers and registration at size failed: ${(err as Error).message}`);
      } finally {
        await cluster.dropDatabase(url);
      }
    }
  } finally {
    await counters.close();
    await cluster.stop();
  }
}

if (import.meta.main) await main();
