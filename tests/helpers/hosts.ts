/**
 * Several "machines" on this one: each host is a world with its own HOME, port, broker and
 * CLAUDE_PEERS_HOST, and all of them share one fresh database on a real PostgreSQL cluster.
 */
import type { PgCluster } from "./postgres.ts";
import { openWorld, type World } from "./world.ts";

/** Brokers read a silent host as offline after this long (CLAUDE_PEERS_HOST_TIMEOUT, seconds). */
export const TEST_HOST_TIMEOUT_S = "1";

export interface SharedDatabase {
  url: string;
  /** Starts a machine named `name` on the shared database; `extraEnv` may override anything. */
  host(name: string, extraEnv?: Record<string, string>): World;
  /** Closes every host (servers, then brokers, by pid), then drops the database. */
  close(): Promise<void>;
}

export async function sharedDatabase(cluster: PgCluster): Promise<SharedDatabase> {
  const url = await cluster.createDatabase();
  const hosts: World[] = [];
  return {
    url,
    host(name, extraEnv = {}) {
      const world = openWorld({ CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: name, CLAUDE_PEERS_HOST_TIMEOUT: TEST_HOST_TIMEOUT_S, ...extraEnv });
      hosts.push(world);
      return world;
    },
    async close() {
      await Promise.all(hosts.map((h) => h.close()));
      await cluster.dropDatabase(url);
    },
  };
}
