/**
 * The loop rule on the default settings, through real server.ts sessions and real brokers: a pair
 * is held only when both directions are active, and the check and the store of a send are atomic
 * (sends in flight at once can neither pass the limit nor store the same text twice). One contract,
 * run on one host (SQLite) and across two hosts sharing a PostgreSQL.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { HistoryResultSchema } from "../shared/protocol.ts";
import { runningBroker } from "./helpers/broker.ts";
import { sharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { listedPeers, whoami, type TestServer } from "./helpers/server.ts";
import type { TestEnv } from "./helpers/env.ts";
import { waitFor } from "./helpers/wait.ts";
import { suiteWorld } from "./helpers/world.ts";

/** The default pair limit (CLAUDE_PEERS_LOOP_LIMIT unset); each side must send half of it. */
const LIMIT = 30;

/** Two live sessions that see each other, and their names; `t` is alice's host (for its broker's history). */
interface Pair {
  alice: TestServer;
  bob: TestServer;
  names: { alice: string; bob: string };
  t: TestEnv;
  close(): Promise<void>;
}

type Result = { text: string; isError: boolean };
const isHeld = (r: Result) => !r.isError && / is held, not delivered\./.test(r.text);
const send = (from: TestServer, to: string, message: string) => from.call("send_message", { to, message });

/** The stored messages with this text, as the broker's history shows them. */
async function storedWith(t: TestEnv, text: string): Promise<Array<{ state: string }>> {
  const res = await (await runningBroker(t)).post("/history", { limit: 1000, text });
  return HistoryResultSchema.parse(await res.json()).messages.filter((m) => m.text === text);
}

/** Alternates sends (`order`: "a" alice → bob, "b" bob → alice), one after another; every one must pass. */
async function bounce(pair: Pair, order: string, label: string): Promise<void> {
  for (const [i, side] of [...order].entries()) {
    const r = side === "a" ? await send(pair.alice, pair.names.bob, `${label} ${i}`) : await send(pair.bob, pair.names.alice, `${label} ${i}`);
    if (r.isError || isHeld(r)) throw new Error(`${label} ${i} did not pass: ${r.text}`);
  }
}

function loopRuleContract(name: string, pairOf: () => Promise<Pair>): void {
  describe(name, () => {
    test("a one-way stream of 200 sends, one after another: every one delivered, none held", async () => {
      const pair = await pairOf();
      try {
        const results: Result[] = [];
        for (let i = 0; i < 200; i++) results.push(await send(pair.alice, pair.names.bob, `task ${i}`));
        expect(results.filter((r) => r.isError || isHeld(r)).map((r) => r.text)).toEqual([]);
        const got = () => new Set(pair.bob.channel.map((m) => m.content).filter((c) => c.startsWith("task ")));
        await waitFor(() => got().size === 200, "all 200 tasks at bob", 30_000);
      } finally {
        await pair.close();
      }
    });

    test(`two sessions bouncing 40 distinct messages: the first ${LIMIT} delivered, held from message ${LIMIT + 1} on`, async () => {
      const pair = await pairOf();
      try {
        const held: boolean[] = [];
        for (let i = 0; i < 40; i++) {
          const r = i % 2 === 0 ? await send(pair.alice, pair.names.bob, `thanks ${i}`) : await send(pair.bob, pair.names.alice, `thanks ${i}`);
          expect(r.isError).toBe(false);
          held.push(isHeld(r));
        }
        expect(held.indexOf(true) + 1).toBe(LIMIT + 1);
        expect(held.slice(LIMIT).every(Boolean)).toBe(true);
      } finally {
        await pair.close();
      }
    });

    test("sends in flight at once never pass the limit: with bob at half of it, one of alice's passes", async () => {
      const pair = await pairOf();
      try {
        // bob sends 15 and alice 14 (one short of half the limit), then alice sends 10 at once.
        await bounce(pair, "ba".repeat(LIMIT / 2 - 1) + "b", "setup");
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(pair.alice, pair.names.bob, `at once ${i}`)));
        expect(results.filter((r) => r.isError).map((r) => r.text)).toEqual([]);
        expect(results.filter((r) => !isHeld(r))).toHaveLength(1);
      } finally {
        await pair.close();
      }
    });

    test("both sides sending at once (on two hosts: two brokers) pass no more than the limit: the side that reaches half of it last stops there", async () => {
      const pair = await pairOf();
      try {
        await bounce(pair, "ab".repeat(LIMIT / 2 - 1), "setup"); // 14 each
        const fire = (from: TestServer, to: string) => Promise.all(Array.from({ length: 10 }, (_, i) => send(from, to, `both ${i}`)));
        const [fromAlice, fromBob] = await Promise.all([fire(pair.alice, pair.names.bob), fire(pair.bob, pair.names.alice)]);
        const passed = (rs: Result[]) => LIMIT / 2 - 1 + rs.filter((r) => !r.isError && !isHeld(r)).length;
        expect([...fromAlice, ...fromBob].filter((r) => r.isError).map((r) => r.text)).toEqual([]);
        // Whatever the order, the pair is held once both have sent 15: the later of the two has sent exactly 15.
        expect(Math.min(passed(fromAlice), passed(fromBob))).toBe(LIMIT / 2);
      } finally {
        await pair.close();
      }
    });

    test("the same text sent 10 times at once is stored once; the others are refused as duplicates", async () => {
      const pair = await pairOf();
      try {
        const text = "please rebase onto main";
        const results = await Promise.all(Array.from({ length: 10 }, () => send(pair.alice, pair.names.bob, text)));
        expect(results.filter((r) => !r.isError)).toHaveLength(1);
        for (const r of results.filter((r) => r.isError)) expect(r.text).toContain(`the same text went to ${pair.names.bob} as`);
        expect(await storedWith(pair.t, text)).toHaveLength(1);
        await pair.bob.waitForChannel((m) => m.content === text, "the one copy at bob");
      } finally {
        await pair.close();
      }
    });
  });
}

// ---- one host, SQLite ---------------------------------------------------------------------------

describe("one host (SQLite)", () => {
  const world = suiteWorld();
  let round = 0;

  /** A fresh pair per test: names are what the rule counts, so each test's alice and bob are new names. */
  async function pairOf(): Promise<Pair> {
    round++;
    const names = { alice: `alice${round}`, bob: `bob${round}` };
    const [alice, bob] = await Promise.all([world.start({ name: names.alice }), world.start({ name: names.bob })]);
    await Promise.all([whoami(alice), whoami(bob)]);
    return {
      alice,
      bob,
      names,
      t: world.t,
      close: async () => void (await Promise.all([alice.stop(), bob.stop()])),
    };
  }

  loopRuleContract("the loop rule", pairOf);
});

// ---- two hosts, one PostgreSQL ------------------------------------------------------------------

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
if (!cluster) console.warn("loop-rule.test.ts: the PostgreSQL half is skipped, PostgreSQL is not installed (.ci/run installs it)");

(cluster ? describe : describe.skip)("two hosts on one PostgreSQL (alice on laptop, bob on devbox)", () => {
  loopRuleContract("the loop rule", async () => {
    const db = await sharedDatabase(cluster!);
    try {
      const [laptop, devbox] = [db.host("laptop"), db.host("devbox")];
      const [alice, bob] = await Promise.all([laptop.start({ name: "alice" }), devbox.start({ name: "bob" })]);
      await Promise.all([whoami(alice), whoami(bob)]);
      await waitFor(async () => (await listedPeers(alice, "network")).includes("bob"), "alice to see bob on the network");
      await waitFor(async () => (await listedPeers(bob, "network")).includes("alice"), "bob to see alice on the network");
      return { alice, bob, names: { alice: "alice", bob: "bob" }, t: laptop.t, close: () => db.close() };
    } catch (err) {
      await db.close();
      throw err;
    }
  });
});
