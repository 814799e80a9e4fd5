#!/usr/bin/env bun
/**
 * Growth: the same measurements on an empty database and on one that already holds 100k old
 * messages and 5k known peer names, written before the broker starts. Some of what is seeded is
 * past its keep time (read mail over 7 days old, peers unseen for 30 days), so the broker's start-up
 * prune has real work; the rest stays and must not slow the hot path (indexes).
 */
import { Database } from "bun:sqlite";
import { startBroker } from "../tests/helpers/broker.ts";
import type { World } from "../tests/helpers/world.ts";
import { whoami } from "../tests/helpers/server.ts";
import { StatusResultSchema } from "../shared/protocol.ts";
import { openSqliteStore } from "../shared/store/sqlite.ts";
import { awaitQuiet, formatSpread, header, inWorld, runsArg, spread, timeCalls } from "./lib.ts";
import { measureLatency } from "./latency.ts";

const KEPT_MESSAGES = 100_000;
const KEPT_PEERS = 5_000;
/** Past their keep time: the start-up prune deletes these. */
const STALE_MESSAGES = 20_000;
const STALE_PEERS = 1_000;
/** Unread mail waiting in the mailboxes of offline names. */
const MAILBOX_MESSAGES = 2_000;
const LATENCY_MESSAGES = 500;
const LIST_CALLS = 100;
const DAY_MS = 24 * 60 * 60 * 1000;

interface GrowthRun {
  brokerStart: number;
  latencyP50: number;
  latencyP99: number;
  listMcp: number;
  /** send_message to the name of a session that has ended: a mailbox lookup among the known names. */
  sendOffline: number;
  status: number;
  stored: number;
  peersStored: number;
}

function storedPeers(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM peers").get()!.n;
  } finally {
    db.close();
  }
}

const pad = (n: number, width = 10) => n.toString(36).padStart(width, "0").slice(-width);

/** Writes the schema with the real store, then the old data in one transaction. */
function seed(dbPath: string): void {
  void openSqliteStore(dbPath).close(); // creates and migrates: the seed uses the real schema
  const db = new Database(dbPath);
  const now = Date.now();
  const peer = db.query(
    `INSERT INTO peers (id, secret_hash, name, pid, cwd, git_root, git_common_dir, git_branch, summary, registered_at, last_seen)
     VALUES (?, ?, ?, 999999, ?, NULL, NULL, NULL, 'an old session', ?, ?)`,
  );
  const message = db.query(
    `INSERT INTO messages (id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state, created_at, delivered_at, read_at, expires_at)
     VALUES (?, ?, ?, 'an old session', '/old', ?, ?, ?, NULL, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < KEPT_PEERS + STALE_PEERS; i++) {
      const seen = i < KEPT_PEERS ? now - (i % 29) * DAY_MS - 1000 : now - 31 * DAY_MS - i;
      peer.run(`p-${pad(i)}`, `hash-${i}`, `old-${i}`, `/old/${i}`, seen - 1000, seen);
    }
    for (let i = 0; i < KEPT_MESSAGES + STALE_MESSAGES + MAILBOX_MESSAGES; i++) {
      const from = i % KEPT_PEERS;
      const to = (i * 7 + 1) % KEPT_PEERS;
      const kept = i < KEPT_MESSAGES;
      const unread = i >= KEPT_MESSAGES + STALE_MESSAGES;
      const at = unread ? now - (i % 3) * DAY_MS : kept ? now - ((i % 6) + 0.5) * DAY_MS : now - 8 * DAY_MS - i;
      const text = `old message ${i}: ${"x".repeat(i % 200)}`;
      message.run(`m-${pad(i, 12)}`, `p-${pad(from)}`, `old-${from}`, `p-${pad(to)}`, `old-${to}`, text, unread ? "queued" : "read", at, unread ? null : at + 10, unread ? null : at + 1000, at + 7 * DAY_MS);
    }
  })();
  db.close();
}

async function measureGrowth(world: World, seeded: boolean): Promise<GrowthRun> {
  if (seeded) seed(world.t.dbPath);
  const t0 = performance.now();
  const broker = await startBroker(world.t);
  const brokerStart = performance.now() - t0;
  const latency = await measureLatency(world, LATENCY_MESSAGES);
  const gone = await world.start({ name: "gone-peer" }); // a known name whose session has ended
  await whoami(gone);
  await gone.stop();
  const s = await world.start({ name: "bench-viewer" });
  await timeCalls(10, () => s.call("list_peers"));
  const listMcp = await timeCalls(LIST_CALLS, () => s.call("list_peers"));
  const sendOffline = await timeCalls(LIST_CALLS, async () => {
    const r = await s.call("send_message", { to: "gone-peer", message: "for an offline name" });
    if (r.isError) throw new Error(r.text);
  });
  const status = await timeCalls(20, async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()));
  const counts = StatusResultSchema.parse(await (await broker.post("/status", {})).json()).messages;
  return {
    brokerStart,
    latencyP50: latency.push.p50,
    latencyP99: latency.push.p99,
    listMcp: listMcp.p50,
    sendOffline: sendOffline.p50,
    status: status.p50,
    stored: Object.values(counts).reduce((a, b) => a + b, 0),
    peersStored: storedPeers(world.t.dbPath),
  };
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`growth: empty database vs ${KEPT_MESSAGES / 1000}k old messages and ${KEPT_PEERS / 1000}k known names`, runs);
  const results = { empty: [] as GrowthRun[], seeded: [] as GrowthRun[] };
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    for (const kind of ["empty", "seeded"] as const) {
      const r = await inWorld((world) => measureGrowth(world, kind === "seeded"));
      console.log(
        `run ${i + 1} ${kind.padEnd(6)}: broker start ${r.brokerStart.toFixed(0)} ms, push p50 ${r.latencyP50.toFixed(2)} p99 ${r.latencyP99.toFixed(2)} ms, ` +
          `list_peers ${r.listMcp.toFixed(2)} ms, send to offline name ${r.sendOffline.toFixed(2)} ms, /status ${r.status.toFixed(2)} ms, ${r.stored} messages and ${r.peersStored} peers stored after prune`,
      );
      results[kind].push(r);
    }
  }
  console.log(`\n${"median over runs (min–max)".padEnd(38)} ${"empty DB".padEnd(24)} seeded DB`);
  const row = (label: string, f: (r: GrowthRun) => number, digits = 2) =>
    console.log(`  ${label.padEnd(36)} ${formatSpread(spread(results.empty.map(f)), digits).padEnd(24)} ${formatSpread(spread(results.seeded.map(f)), digits)}`);
  row("broker start → /health, ms", (r) => r.brokerStart, 0);
  row(`push latency p50 (${LATENCY_MESSAGES} msgs), ms`, (r) => r.latencyP50);
  row("push latency p99, ms", (r) => r.latencyP99);
  row("list_peers via MCP p50, ms", (r) => r.listMcp);
  row("send_message to offline name p50, ms", (r) => r.sendOffline);
  row("POST /status p50, ms", (r) => r.status);
  row("messages stored after start-up prune", (r) => r.stored, 0);
  row("peers stored after start-up prune", (r) => r.peersStored, 0);
}

if (import.meta.main) await main();
