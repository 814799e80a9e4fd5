#!/usr/bin/env bun
/**
 * Scale and idle cost: 500 connected idle peers. They are registered over HTTP and hold their push
 * WebSockets from this one process (as server.ts does: POST /register, then GET /ws with the token
 * and peer secret), plus 3 real server.ts driven over MCP stdio. Then: the broker's CPU over 30 s
 * of quiet, its memory, and how long list_peers takes (through MCP and straight over HTTP).
 */
import { startBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { whoami } from "../tests/helpers/server.ts";
import type { World } from "../tests/helpers/world.ts";
import { ListPeersResultSchema } from "../shared/protocol.ts";
import { awaitQuiet, cpuPercentDuring, formatSpread, header, inWorld, rssMiB, runsArg, spread, timeCalls, type Distribution } from "./lib.ts";
import { connectRawPeer, type RawPeer } from "./raw-peer.ts";

const RAW_PEERS = 500;
const REAL_SERVERS = 3;
const IDLE_SECONDS = 30;
const LIST_CALLS = 100;
/** Registrations in flight at once while the 500 connect. */
const CONNECT_BATCH = 50;

export interface IdleRun {
  brokerCpu: number;
  /** One real server.ts's CPU over the same quiet 30 s. */
  serverCpu: number;
  rssEmpty: number;
  rss: number;
  /** One real server.ts, idle, after its share of list_peers calls. */
  serverRss: number;
  listMcp: Distribution;
  listHttp: Distribution;
  peersListed: number;
}

async function connectMany(world: World, broker: TestBroker, count: number): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  for (let i = 0; i < count; i += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - i) }, (_, j) => connectRawPeer({ socketPath: world.t.socketPath, token: broker.token, name: `idle-${i + j}` }));
    peers.push(...(await Promise.all(batch)));
  }
  return peers;
}

export async function measureIdle(world: World, rawPeers = RAW_PEERS): Promise<IdleRun> {
  const broker = await startBroker(world.t);
  const rssEmpty = rssMiB(broker.pid);
  const peers = await connectMany(world, broker, rawPeers);
  try {
    const servers = await Promise.all(Array.from({ length: REAL_SERVERS }, (_, i) => world.start({ name: `real-${i}` })));
    await Promise.all(servers.map(whoami));
    const viewer = servers[0]!;
    const listed = await viewer.call("list_peers");
    const peersListed = Number(/^(\d+) peers/.exec(listed.text)?.[1]);
    if (peersListed !== rawPeers + REAL_SERVERS - 1) throw new Error(`list_peers shows ${peersListed} peers, expected ${rawPeers + REAL_SERVERS - 1}`);

    await Bun.sleep(1000); // let registration's garbage settle before the quiet window
    let serverCpu = 0;
    const { percent: brokerCpu } = await cpuPercentDuring(broker.pid, async () => {
      serverCpu = (await cpuPercentDuring(viewer.pid, () => Bun.sleep(IDLE_SECONDS * 1000))).percent;
    });
    const rss = rssMiB(broker.pid);

    await timeCalls(10, () => viewer.call("list_peers")); // warm-up
    const listMcp = await timeCalls(LIST_CALLS, async () => {
      const r = await viewer.call("list_peers");
      if (r.isError) throw new Error(r.text);
    });
    const listHttp = await timeCalls(LIST_CALLS, async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()));
    return { brokerCpu, serverCpu, rssEmpty, rss, serverRss: rssMiB(viewer.pid), listMcp, listHttp, peersListed };
  } finally {
    for (const p of peers) p.close();
  }
}

async function main(): Promise<void> {
  const runs = runsArg();
  await header(`idle cost: ${RAW_PEERS} WebSocket peers + ${REAL_SERVERS} server.ts, ${IDLE_SECONDS} s quiet`, runs);
  const results: IdleRun[] = [];
  for (let i = 0; i < runs; i++) {
    await awaitQuiet();
    const r = await inWorld((world) => measureIdle(world));
    console.log(
      `run ${i + 1}: broker CPU ${r.brokerCpu.toFixed(2)} %, one server.ts ${r.serverCpu.toFixed(2)} %, broker RSS ${r.rssEmpty.toFixed(0)} → ${r.rss.toFixed(0)} MiB, server.ts RSS ${r.serverRss.toFixed(0)} MiB, ` +
        `list_peers (${r.peersListed} peers) MCP p50 ${r.listMcp.p50.toFixed(2)} ms p99 ${r.listMcp.p99.toFixed(2)} ms, HTTP p50 ${r.listHttp.p50.toFixed(2)} ms`,
    );
    results.push(r);
  }
  const s = (f: (r: IdleRun) => number, digits = 2, unit = "") => formatSpread(spread(results.map(f)), digits, unit);
  console.log(`\nmedian over runs (min–max)`);
  console.log(`  broker CPU, idle ${IDLE_SECONDS} s, ${RAW_PEERS + REAL_SERVERS} peers   ${s((r) => r.brokerCpu, 2, " %")} of one core`);
  console.log(`  one idle server.ts CPU              ${s((r) => r.serverCpu, 2, " %")} of one core`);
  console.log(`  broker RSS, no peers                ${s((r) => r.rssEmpty, 0, " MiB")}`);
  console.log(`  broker RSS, ${RAW_PEERS + REAL_SERVERS} peers               ${s((r) => r.rss, 0, " MiB")}`);
  console.log(`  one server.ts RSS                   ${s((r) => r.serverRss, 0, " MiB")}`);
  console.log(`  list_peers via MCP, p50             ${s((r) => r.listMcp.p50, 2, " ms")}`);
  console.log(`  list_peers via MCP, p99             ${s((r) => r.listMcp.p99, 2, " ms")}`);
  console.log(`  POST /peers straight to the broker  ${s((r) => r.listHttp.p50, 2, " ms")} (p50)`);
}

if (import.meta.main) await main();
