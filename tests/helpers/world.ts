/** One test's private network: its env, the servers it started, and cleanup of all of them by pid. */
import { afterAll } from "bun:test";
import { readFileSync } from "node:fs";
import { probeBroker } from "../../shared/broker-probe.ts";
import { brokerPids, processPids } from "./broker.ts";
import { makeTestEnv, type TestEnv } from "./env.ts";
import { startServer, type ServerOptions, type TestServer } from "./server.ts";
import { killAndConfirm, waitFor } from "./wait.ts";

export interface World {
  t: TestEnv;
  /** Starts a server.ts in this world; close() stops it. */
  start(opts?: ServerOptions): Promise<TestServer>;
  /** Stops every server, then every broker serving this world's database, then removes the temp dir. */
  close(): Promise<void>;
}

export function openWorld(extraEnv: Record<string, string> = {}): World {
  const t = makeTestEnv(extraEnv);
  const servers: TestServer[] = [];
  return {
    t,
    async start(opts) {
      const server = await startServer(t, opts);
      servers.push(server);
      return server;
    },
    async close() {
      await Promise.all(servers.map((s) => s.stop()));
      // Servers an agent CLI started (claude, codex, gemini) end with it, but maybe a moment after
      // it: one still running would start a broker once these are stopped. Wait until none is left.
      const strays = () => processPids((argv) => argv.some((a) => a.endsWith("server.ts")), [`HOME=${t.home}`]);
      await waitFor(
        async () => {
          await Promise.all(strays().map((pid) => killAndConfirm(pid, "SIGTERM")));
          return strays().length === 0;
        },
        "this world's servers to exit",
      );
      // Servers start brokers detached; find them by database (several may have raced) and by socket.
      const probe = await probeBroker(t.socketPath);
      const pids = new Set([...brokerPids(t), ...(probe.kind === "broker" ? [probe.health.pid] : [])]);
      await Promise.all([...pids].map((pid) => killAndConfirm(pid, "SIGTERM")));
      reportBrokerFailures(t.logPath);
      t.cleanup();
    },
  };
}

/**
 * A broker's 500 says only "see its log file", and the log goes with the temp folder: its
 * internal errors are printed before that, so a failed run says why.
 */
function reportBrokerFailures(logPath: string): void {
  let log: string;
  try {
    log = readFileSync(logPath, "utf8");
  } catch {
    return; // no broker ever wrote here
  }
  const failures = log.split("\n").filter((line) => /internal error|unhandled error/.test(line));
  if (failures.length) console.error(`broker log ${logPath}, its failures:\n${failures.slice(-20).join("\n")}`);
}

/** A world for the tests of the enclosing describe block, closed after its last test. */
export function suiteWorld(extraEnv: Record<string, string> = {}): World {
  const world = openWorld(extraEnv);
  afterAll(() => world.close());
  return world;
}
