/** Chooses the store from CLAUDE_PEERS_DB: a file path is SQLite (one machine), a postgres:// URL the shared database. */
import type { Config } from "../config.ts";
import { openSqliteStore } from "./sqlite.ts";
import type { NetworkStore, Store } from "./store.ts";

export interface OpenedStore {
  store: Store;
  /** With a shared database: what brokers on several hosts share through it. */
  network?: NetworkStore;
}

export async function openStore(config: Pick<Config, "db" | "shared" | "host">): Promise<OpenedStore> {
  if (!config.shared) return { store: openSqliteStore(config.db) };
  // Loaded only here: a broker on SQLite never needs them.
  const [{ openPostgresStore }, { PostgresNetworkStore }] = await Promise.all([import("./postgres.ts"), import("./postgres-network.ts")]);
  const store = await openPostgresStore(config.db, config.host);
  return { store, network: new PostgresNetworkStore(store.connection, store.location) };
}
