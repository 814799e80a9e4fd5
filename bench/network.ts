#!/usr/bin/env bun
/**
 * Push latency across hosts: session A on host "laptop" sends to session B on host "devbox"; the
 * two brokers share one PostgreSQL on loopback, and B's broker is woken by LISTEN/NOTIFY. Beside
 * it, the same measurement with both sessions on one broker: on PostgreSQL, and on SQLite (the
 * single-machine default). Each "host" is its own HOME, port and broker on this machine.
 */
import { startBroker } from "../tests/helpers/broker.ts";
import { usePostgres } from "../tests/helpers/postgres.ts";
import { openWorld, type World } from "../tests/helpers/world.ts";
import { awaitQuiet, header, inWorld, runsArg } from "./lib.ts";
import { measureLatency, report, type LatencyRun } from "./latency.ts";

const MESSAGES = 1000;

type Setup = "cross-host (PostgreSQL)" | "one host (PostgreSQL)" | "one host (SQLite)";

async function main(): Promise<void> {
  const runs = runsArg();
  const cluster = await usePostgres();
  if (!cluster) throw new Error("PostgreSQL is not installed: apt-get install postgresql (see README, Several machines)");
  await header(`cross-host push latency: ${MESSAGES} sequential messages through PostgreSQL on loopback`, runs);
  const results = new Map<Setup, LatencyRun[]>();
  const record = (setup: Setup, run: LatencyRun) => {
    results.set(setup, [...(results.get(setup) ?? []), run]);
    const p = run.push;
    console.log(`  ${setup}: push p50 ${p.p50.toFixed(2)}  p90 ${p.p90.toFixed(2)}  p99 ${p.p99.toFixed(2)}  max ${p.max.toFixed(2)} ms`);
  };
  try {
    for (let i = 0; i < runs; i++) {
      console.log(`run ${i + 1}:`);
      const url = await cluster.createDatabase();
      const host = (name: string) => openWorld({ CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: name });
      const hosts: World[] = [host("laptop"), host("devbox")];
      try {
        await Promise.all(hosts.map((h) => startBroker(h.t)));
        await awaitQuiet();
        record("cross-host (PostgreSQL)", await measureLatency(hosts[0]!, MESSAGES, hosts[1]!));
      } finally {
        await Promise.all(hosts.map((h) => h.close()));
      }
      await inWorld(async (world) => {
        await startBroker(world.t);
        await awaitQuiet();
        record("one host (PostgreSQL)", await measureLatency(world));
      }, { CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: "laptop" });
      await cluster.dropDatabase(url);
      await inWorld(async (world) => {
        await startBroker(world.t);
        await awaitQuiet();
        record("one host (SQLite)", await measureLatency(world));
      });
    }
  } finally {
    await cluster.stop();
  }
  for (const [setup, setupRuns] of results) {
    console.log(`\n### ${setup}`);
    report(setupRuns);
  }
}

if (import.meta.main) await main();
