/** Real PostgreSQL for tests: a private cluster per caller, or the shared one `.ci/run` starts (CLAUDE_PEERS_TEST_PG). */
import { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { freePort } from "./env.ts";
import { killAndConfirm, pidAlive, waitFor } from "./wait.ts";

/** Where `tests/pg-cluster.ts start` hands its cluster to the test run. */
export const SHARED_PG_ENV = "CLAUDE_PEERS_TEST_PG";
const TEMP_PREFIX = "claude-peers-pg-";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
// Durability is pointless for throwaway data; the connection cap leaves room for parallel pools.
const SETTINGS = ["listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"];
/** What a benchmark measures on: every commit flushed to disk, as a real deployment runs; pg_stat_statements counts the statements (bench/scale-db.ts). */
const DURABLE_SETTINGS = ["listen_addresses=127.0.0.1", "fsync=on", "synchronous_commit=on", "full_page_writes=on", "max_connections=200", "shared_preload_libraries=pg_stat_statements"];

export interface PgCluster {
  port: number;
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  adminUrl: string;
  dataDir: string;
  /** A fresh empty database on this cluster; returns its URL (same credentials). */
  createDatabase(): Promise<string>;
  /** Drops a database made by createDatabase (WITH (FORCE)). */
  dropDatabase(url: string): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster, wait until its pid is gone), then start again on the same port and data dir; resolves when it accepts connections again. */
  restart(): Promise<void>;
  /** Stops the postmaster by pid (only if this process started it), removes the temp dir. */
  stop(): Promise<void>;
}

/** A running postmaster, as CLAUDE_PEERS_TEST_PG holds it. After a restart, postmaster.pid names the current pid. */
export const PgServerSchema = z.object({
  port: z.number().int(),
  password: z.string(),
  dataDir: z.string(),
  binDir: z.string(),
  pid: z.number().int(),
  /** fsync on (bench/scale.ts): DURABLE_SETTINGS instead of the tests' throwaway ones. */
  durable: z.boolean().optional(),
});
export type PgServer = z.infer<typeof PgServerSchema>;

/** The dir holding initdb and postgres: `pg_config --bindir`, else the newest /usr/lib/postgresql/<version>/bin. */
export function postgresBinDir(): string | null {
  const hasInitdb = (dir: string) => existsSync(join(dir, "initdb"));
  if (Bun.which("pg_config")) {
    const out = Bun.spawnSync(["pg_config", "--bindir"], { stderr: "ignore" });
    const dir = out.stdout.toString().trim();
    // libpq-dev alone ships a pg_config whose bindir has no server.
    if (out.exitCode === 0 && dir && hasInitdb(dir)) return dir;
  }
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const newest = readdirSync(root)
    .filter((version) => hasInitdb(join(root, version, "bin")))
    .sort((a, b) => Number(b) - Number(a))[0];
  return newest ? join(root, newest, "bin") : null;
}

/** A private cluster, or the shared one named by CLAUDE_PEERS_TEST_PG; null (skip) when there is no PostgreSQL, except on CI. */
export async function usePostgres(): Promise<PgCluster | null> {
  const shared = process.env[SHARED_PG_ENV];
  if (shared) return clusterHandle(parseServer(shared), false);
  if (!postgresBinDir()) {
    if (process.env.CI) throw new Error(missingMessage());
    return null;
  }
  return clusterHandle(await startServer(), true);
}

/** A private cluster with durable settings (fsync on), for benchmarks. */
export async function durablePostgres(): Promise<PgCluster> {
  return clusterHandle(await startServer({ durable: true }), true);
}

export function parseServer(json: string): PgServer {
  try {
    return PgServerSchema.parse(JSON.parse(json));
  } catch (err) {
    throw new Error(`${SHARED_PG_ENV} is not {port, password, dataDir, binDir, pid} JSON: ${(err as Error).message}`);
  }
}

/** initdb into a new temp dir and start a postmaster; `detached` lets it outlive this process (the CLI). */
export async function startServer({ detached = false, durable = false } = {}): Promise<PgServer> {
  const binDir = postgresBinDir();
  if (!binDir) throw new Error(missingMessage());
  const dir = mkdtempSync(join(tmpdir(), TEMP_PREFIX));
  try {
    chownToPostgres(dir);
    const password = randomBytes(16).toString("hex");
    const pwfile = join(dir, "pwfile");
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    chownToPostgres(pwfile);
    const dataDir = join(dir, "data");
    const init = Bun.spawnSync(
      [...runAsPostgres(), join(binDir, "initdb"), "-D", dataDir, "-U", "postgres", "--auth=scram-sha-256",
        `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C", "--no-sync"],
      { cwd: dir, env: childEnv(), stdout: "pipe", stderr: "pipe" },
    );
    rmSync(pwfile);
    if (init.exitCode !== 0) throw new Error(`initdb failed (exit ${init.exitCode}): ${init.stdout}${init.stderr}`);
    const server: PgServer = { port: freePort(), password, dataDir, binDir, pid: 0, durable };
    server.pid = await launch(server, detached);
    return server;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Fast shutdown, then the same data dir and port again; returns the new postmaster's pid. */
export async function restartServer(server: PgServer, detached: boolean): Promise<number> {
  await shutdown(server);
  server.pid = await launch(server, detached);
  return server.pid;
}

/** Fast shutdown of the current postmaster, then its temp dir goes. */
export async function stopServer(server: PgServer): Promise<void> {
  await shutdown(server);
  removeTempDir(server.dataDir);
}

export const adminUrl = (server: PgServer) => databaseUrl(server, "postgres");

const databaseUrl = (server: PgServer, db: string) =>
  `postgres://postgres:${server.password}@127.0.0.1:${server.port}/${db}`;

function clusterHandle(server: PgServer, owned: boolean): PgCluster {
  const created = new Set<string>();
  let stopped = false;
  // A run that dies before stop() must not leave a private postmaster or its files behind.
  // Exit handlers cannot await: SIGQUIT (immediate shutdown) and a short synchronous wait.
  const killOnExit = () => {
    const pid = runningPid(server);
    if (pid) process.kill(pid, "SIGQUIT");
    const deadline = Date.now() + 2000;
    while (pid && pidAlive(pid) && Date.now() < deadline) Bun.sleepSync(10);
    removeTempDir(server.dataDir);
  };
  if (owned) process.on("exit", killOnExit);

  async function dropDatabase(url: string): Promise<void> {
    const name = new URL(url).pathname.slice(1);
    if (!/^t_[0-9a-f]{16}$/.test(name)) throw new Error(`dropDatabase: ${name} was not made by createDatabase`);
    await withAdmin(server, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    created.delete(url);
  }

  return {
    port: server.port,
    adminUrl: adminUrl(server),
    dataDir: server.dataDir,
    async createDatabase() {
      const name = `t_${randomBytes(8).toString("hex")}`; // ours, so safe to interpolate
      await withAdmin(server, (sql) => sql.unsafe(`CREATE DATABASE ${name}`));
      const url = databaseUrl(server, name);
      created.add(url);
      return url;
    },
    dropDatabase,
    // The shared cluster must outlive this test process, so its new postmaster is detached.
    async restart() {
      await restartServer(server, !owned);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!owned) {
        for (const url of created) await dropDatabase(url);
        return;
      }
      process.off("exit", killOnExit);
      await stopServer(server);
    },
  };
}

/** Starts the postmaster itself (not pg_ctl) so we hold its pid; resolves once a real login works. */
async function launch(server: PgServer, detached: boolean): Promise<number> {
  const dir = dirname(server.dataDir);
  const log = openSync(join(dir, "server.log"), "a");
  const proc = Bun.spawn(
    [...runAsPostgres(), join(server.binDir, "postgres"), "-D", server.dataDir, "-p", String(server.port),
      ...[...(server.durable ? DURABLE_SETTINGS : SETTINGS), `unix_socket_directories=${dir}`].flatMap((setting) => ["-c", setting])],
    { cwd: dir, env: childEnv(), stdin: "ignore", stdout: log, stderr: log, detached },
  );
  closeSync(log);
  if (detached) proc.unref();
  try {
    await waitFor(async () => {
      if (!pidAlive(proc.pid)) throw new Error(`postgres (pid ${proc.pid}) exited`);
      return canConnect(adminUrl(server));
    }, `postgres on port ${server.port}`, START_TIMEOUT_MS);
  } catch (err) {
    await killAndConfirm(proc.pid, "SIGQUIT", 2000);
    throw new Error(`${(err as Error).message}; server.log:\n${readLog(dir)}`);
  }
  return proc.pid;
}

/** Refusals while the server starts ("starting up", ECONNREFUSED) are expected: false means try again. */
async function canConnect(url: string): Promise<boolean> {
  const sql = new SQL({ url, max: 1, connectionTimeout: 2 });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.close();
  }
}

async function withAdmin<T>(server: PgServer, run: (sql: SQL) => Promise<T>): Promise<T> {
  const sql = new SQL({ url: adminUrl(server), max: 1 });
  try {
    return await run(sql);
  } finally {
    await sql.close();
  }
}

async function shutdown(server: PgServer): Promise<void> {
  const pid = runningPid(server);
  if (pid) await killAndConfirm(pid, "SIGINT", STOP_TIMEOUT_MS);
}

/** The live postmaster: postmaster.pid first (a restart elsewhere changes it), else the pid we were given. */
function runningPid(server: PgServer): number | null {
  let fromFile: number | undefined;
  try {
    fromFile = Number(readFileSync(join(server.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {}
  for (const pid of [fromFile, server.pid]) if (pid && isPostgres(pid)) return pid;
  return null;
}

/** A stale postmaster.pid may name a recycled pid: only signal a process that is postgres. */
function isPostgres(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres";
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

function removeTempDir(dataDir: string): void {
  const dir = dirname(dataDir);
  // The path can come from the environment: only ever delete a dir this module made.
  if (!basename(dir).startsWith(TEMP_PREFIX)) throw new Error(`refusing to remove ${dir}: not a ${TEMP_PREFIX}* dir`);
  rmSync(dir, { recursive: true, force: true });
}

const isRoot = () => process.getuid?.() === 0;

/** initdb refuses to run as root, so as root the cluster runs as the postgres system user. */
const runAsPostgres = () => (isRoot() ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] : []);

function chownToPostgres(path: string): void {
  if (!isRoot()) return;
  const id = (flag: string) => Bun.spawnSync(["id", flag, "postgres"], { stderr: "ignore" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.exitCode !== 0 || gid.exitCode !== 0) {
    throw new Error("running as root, but there is no postgres system user to run the cluster as (the postgresql package creates it)");
  }
  chownSync(path, Number(uid.stdout.toString()), Number(gid.stdout.toString()));
}

/** Nothing from the developer's shell (PG*, LANG) changes how the cluster starts. */
const childEnv = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin" });

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, "server.log"), "utf8");
  } catch {
    return "(no log)";
  }
}

function missingMessage(): string {
  return (
    "PostgreSQL server binaries not found (no initdb in `pg_config --bindir` or /usr/lib/postgresql/*/bin). " +
    "On CI the Postgres tests must not skip: .ci/run should have installed them (apt-get install postgresql)."
  );
}
