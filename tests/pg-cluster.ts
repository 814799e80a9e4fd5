/** The shared PostgreSQL cluster for a whole test run: `.ci/run` evals `start`'s output and calls `stop` on exit. */
import { parseServer, SHARED_PG_ENV, startServer, stopServer } from "./helpers/postgres.ts";

const command = process.argv[2];
if (command === "start") {
  const server = await startServer({ detached: true });
  const quoted = JSON.stringify(server).replaceAll("'", `'\\''`); // a temp path may hold a quote
  console.log(`export ${SHARED_PG_ENV}='${quoted}'`);
  console.error(`pg-cluster: postgres (pid ${server.pid}) on 127.0.0.1:${server.port}, data in ${server.dataDir}`);
} else if (command === "stop") {
  const shared = process.env[SHARED_PG_ENV];
  if (!shared) {
    console.error(`pg-cluster: ${SHARED_PG_ENV} is not set; nothing to stop`);
    process.exit(1);
  }
  await stopServer(parseServer(shared));
} else {
  console.error('usage: bun tests/pg-cluster.ts start|stop   (eval "$(bun tests/pg-cluster.ts start)")');
  process.exit(2);
}
