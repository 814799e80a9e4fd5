#!/usr/bin/env bun
/** The claude-peers broker daemon: one per user per machine, on a Unix socket of that user's (the console on 127.0.0.1); state in SQLite or a shared PostgreSQL. */
import { createBroker, type Broker } from "./shared/broker/app.ts";
import { BrokerNetwork } from "./shared/broker/network.ts";
import { probeBroker } from "./shared/broker-probe.ts";
import { ConfigError, loadConfig, type Config } from "./shared/config.ts";
import { PeersError, errorMessage } from "./shared/errors.ts";
import { createLog } from "./shared/log.ts";
import { StoreOpenError, type Store } from "./shared/store/store.ts";
import { openStore } from "./shared/store/open.ts";
import { loadOrCreateToken } from "./shared/token.ts";

const FORCED_EXIT_MS = 2000;
const log = createLog("claude-peers broker"); // stderr, which the launcher points at the log file

/** The store CLAUDE_PEERS_DB names and, on a shared database, the network of other hosts' brokers. */
async function openStorage(config: Config): Promise<{ store: Store; network?: BrokerNetwork }> {
  const { store, network } = await openStore(config);
  return { store, network: network && new BrokerNetwork(network, store, config.host, config.hostTimeoutMs, log) };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { store, network } = await openStorage(config);
  const token = loadOrCreateToken(config.tokenPath);
  let broker: Broker;
  try {
    broker = await createBroker({
      store,
      network,
      host: config.host,
      token,
      socketPath: config.socketPath,
      port: config.port,
      mailboxTtlMs: config.mailboxTtlMs,
      heldTtlMs: config.heldTtlMs,
      mailFlagDir: config.mailFlagDir,
      editFlagDir: config.editFlagDir,
      damping: {
        duplicateWindowMs: config.damping.duplicateWindowS * 1000,
        pairLimit: config.damping.loopLimit,
        pairWindowMs: config.damping.loopWindowS * 1000,
      },
      collisionWindowMs: config.collisions.windowS * 1000,
      log,
      onShutdownRequest: () => shutdown("kill-broker"),
      onSocketLost: () => shutdown(`${config.socketPath} was removed or replaced; another broker serves it now`),
    });
  } catch (err) {
    await store.close();
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    // Several starters may race; the one that bound the socket serves, the others leave quietly.
    const probe = await probeBroker(config.socketPath);
    if (probe.kind === "broker") {
      log(`another broker (pid ${probe.health.pid}) already serves ${config.socketPath}; exiting`);
      process.exit(0);
    }
    log(`${config.socketPath} is held by a program that is not a claude-peers broker; stop it, or remove the socket`);
    process.exit(1);
  }
  log(`listening on ${broker.url}, console ${broker.consoleUrl ?? "off"} (pid ${process.pid}) as host ${config.host}, database ${store.location}`);

  let stopping = false;
  async function shutdown(why: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    setTimeout(() => process.exit(0), FORCED_EXIT_MS).unref(); // never hang on a stuck socket
    await broker.stop();
    process.exit(0);
  }
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));
}

if (import.meta.main) {
  main().catch((err) => {
    log(err instanceof ConfigError || err instanceof StoreOpenError || err instanceof PeersError ? err.message : `cannot start: ${errorMessage(err)}`);
    process.exit(1);
  });
}
