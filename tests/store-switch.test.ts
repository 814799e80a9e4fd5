/**
 * Moving a machine from SQLite to the shared PostgreSQL as README's "Several machines" says: a
 * session runs on the default SQLite broker, the person exports CLAUDE_PEERS_DB and runs
 * `bun cli.ts kill-broker`, and a new session runs on PostgreSQL. The old session's fate is stated
 * (it stays on SQLite until restarted) and checked; a session whose CLAUDE_PEERS_DB differs from the
 * broker on its socket says so and what to do.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { probeBroker } from "../shared/broker-probe.ts";
import { loadConfig } from "../shared/config.ts";
import { redactUrl } from "../shared/store-location.ts";
import { processPids } from "./helpers/broker.ts";
import { runCliWith } from "./helpers/cli.ts";
import { makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { listedPeers, startServer, whoami, type TestServer } from "./helpers/server.ts";
import { killAndConfirm, pidAlive, waitFor } from "./helpers/wait.ts";

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
if (!cluster) console.warn("store-switch.test.ts: skipped, PostgreSQL is not installed (.ci/run installs it)");
const describePg = cluster ? describe : describe.skip;

describePg("switching a machine from SQLite to the shared PostgreSQL", () => {
  let t: TestEnv;
  const servers: TestServer[] = [];

  /** A test world on the default SQLite file (~/.claude-peers.db): CLAUDE_PEERS_DB unset, as for a new user. */
  function defaultWorld(): TestEnv {
    const base = makeTestEnv();
    const { CLAUDE_PEERS_DB: _, ...env } = base.env;
    const sqlite = join(base.home, ".claude-peers.db");
    return { ...base, env, dbPath: sqlite, tokenPath: `${sqlite}.token`, logPath: `${sqlite}.log`, socketPath: loadConfig(env, base.home).socketPath };
  }

  async function start(env: Record<string, string>, name: string): Promise<TestServer> {
    const server = await startServer(t, { name, env });
    servers.push(server);
    return server;
  }

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    // Every broker of this HOME, whichever store it ran (the sessions start them detached).
    const brokers = () => processPids((argv) => argv.some((a) => a.endsWith("broker.ts")), [`HOME=${t.home}`]);
    await Promise.all(brokers().map((pid) => killAndConfirm(pid, "SIGTERM")));
    t.cleanup();
  });

  test("export the URL, kill-broker stops the SQLite broker and says so; new sessions run on PostgreSQL, open ones stay on SQLite until restarted", async () => {
    t = defaultWorld();
    const url = await cluster!.createDatabase();
    const old = await start({}, "alice");
    await whoami(old);
    const sqliteBroker = await probeBroker(t.socketPath);
    if (sqliteBroker.kind !== "broker") throw new Error("the session started no SQLite broker");
    expect(sqliteBroker.health.db).toBe(t.dbPath);

    // README's step 2: the URL in the environment, then kill-broker.
    const pg = { CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: "laptop" };
    const r = await runCliWith(t, ["kill-broker"], pg);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`no broker for ${redactUrl(url)} was running; stopped the broker of ${t.dbPath} instead (pid ${sqliteBroker.health.pid}), which served 1 session(s).`);
    expect(r.stdout).toContain("close them and open them again");
    expect(pidAlive(sqliteBroker.health.pid)).toBe(false);

    // A session opened now runs on the shared database.
    const fresh = await start(pg, "bob");
    await whoami(fresh);
    const pgSocket = loadConfig({ ...t.env, ...pg }, t.home).socketPath;
    const pgBroker = await probeBroker(pgSocket);
    expect(pgBroker.kind === "broker" && pgBroker.health.db).toBe(redactUrl(url));
    expect(await listedPeers(fresh, "network")).toEqual([]);

    // The session opened before keeps its SQLite store: it starts that broker again and works on,
    // apart from the PostgreSQL sessions, until it is restarted with the URL.
    const restarted = await waitFor(async () => {
      const probe = await probeBroker(t.socketPath);
      return probe.kind === "broker" && probe.health.pid !== sqliteBroker.health.pid ? probe.health : null;
    }, "the old session to start its SQLite broker again");
    expect(restarted.db).toBe(t.dbPath);
    expect((await whoami(old)).name).toBe("alice");
    expect(await listedPeers(old, "machine")).toEqual([]);

    // Restarted with the URL, it joins the others.
    await old.stop();
    const moved = await start(pg, "alice");
    await whoami(moved);
    await waitFor(async () => (await listedPeers(fresh, "machine")).includes("alice"), "bob to see alice on PostgreSQL");
    await cluster!.dropDatabase(url);
  });

  test("a session whose CLAUDE_PEERS_DB differs from the broker on its socket says which store each is and what to do", async () => {
    t = defaultWorld();
    const [first, second] = [await cluster!.createDatabase(), await cluster!.createDatabase()];
    const a = await start({ CLAUDE_PEERS_DB: first }, "alice");
    await whoami(a);
    const b = await start({ CLAUDE_PEERS_DB: second }, "bob");
    const result = await b.call("whoami");
    expect(result.isError).toBe(true);
    expect(result.text).toContain(`runs the store ${redactUrl(first)}, but this session's CLAUDE_PEERS_DB is ${redactUrl(second)}`);
    expect(result.text).toContain("bun cli.ts kill-broker");
    expect(result.text).not.toContain(new URL(first).password);

    // Following the advice: close the sessions still on the first store (alice's would start its
    // broker again and win the socket), then kill-broker with the second URL; bob starts its own.
    await a.stop();
    const r = await runCliWith(t, ["kill-broker"], { CLAUDE_PEERS_DB: second });
    expect(r.stdout).toContain(`store ${redactUrl(first)}`);
    await waitFor(async () => !(await b.call("whoami")).isError, "bob's session to start the broker of its own store");
    await Promise.all([cluster!.dropDatabase(first), cluster!.dropDatabase(second)]);
  });
});
