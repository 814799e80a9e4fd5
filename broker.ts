#!/usr/bin/env bun
/** The claude-peers broker daemon: one per user, on 127.0.0.1, state in SQLite. */
import { createBroker } from "./shared/broker-app.ts";
import { probeBroker } from "./shared/broker-probe.ts";
import { ConfigError, loadConfig } from "./shared/config.ts";
import { errorMessage } from "./shared/errors.ts";
import { createLog } from "./shared/log.ts";
import { openSqliteStore } from "./shared/store-sqlite.ts";
import { loadOrCreateToken } from "./shared/token.ts";

const log = createLog("claude-peers broker");

async function main(): Promise<number> {
  const config = loadConfig();
  const store = openSqliteStore(config.dbPath);
  const token = loadOrCreateToken(config.tokenPath);
  let broker;
  try {
    broker = createBroker({ store, token, port: config.port, mailboxTtlMs: config.mailboxTtlMs, log, onShutdownRequest: () => shutdown("kill-broker") });
  } catch (err) {
    await store.close();
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    const probe = await probeBroker(config.port);
    if (probe.kind === "broker") {
      log(`another broker (pid ${probe.health.pid}) already serves port ${config.port}; exiting`);
      return 0;
    }
    log(`port ${config.port} is taken by another program; set CLAUDE_PEERS_PORT to a free port`);
    return 1;
  }
  log(`listening on ${broker.url} (pid ${process.pid}), database ${config.dbPath}`);

  let stopping = false;
  async function shutdown(why: string) {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    setTimeout(() => process.exit(0), 2000).unref(); // never hang on a stuck socket
    await broker!.stop();
    process.exit(0);
  }
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));
  return -1; // keep running
}

if (import.meta.main) {
  main().then(
    (code) => code >= 0 && process.exit(code),
    (err) => {
      log(err instanceof ConfigError ? err.message : `cannot start: ${errorMessage(err)}`);
      process.exit(1);
    },
  );
}
