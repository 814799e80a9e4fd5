/** A private world per test: free console port, temp HOME and DB (and so its own broker socket), and the env a child process gets. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPostgresUrl, loadConfig } from "../../shared/config.ts";

export const ROOT = join(import.meta.dir, "..", "..");
/** The binaries of the test tools (tests/package.json: the agent CLIs, pinned), which `bun run test` installs. */
export const TEST_TOOLS_BIN = join(ROOT, "tests", "node_modules", ".bin");

export interface TestEnv {
  dir: string;
  home: string;
  /** CLAUDE_PEERS_DB: a SQLite file in `dir`, or the postgres:// URL given in `extra`. */
  dbPath: string;
  tokenPath: string;
  logPath: string;
  /** The broker's API socket, derived from HOME and CLAUDE_PEERS_DB as every client derives it. */
  socketPath: string;
  /** The console's TCP port (CLAUDE_PEERS_PORT). */
  port: number;
  /** Exactly what children get: no inherited CLAUDE_PEERS_* or OPENAI_* from the developer's shell. */
  env: Record<string, string>;
  cleanup(): void;
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export function makeTestEnv(extra: Record<string, string> = {}): TestEnv {
  const dir = mkdtempSync(join(tmpdir(), "claude-peers-test-"));
  const home = join(dir, "home");
  Bun.spawnSync(["mkdir", "-p", home]);
  const port = freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    USER: process.env.USER ?? "test",
    CLAUDE_PEERS_PORT: String(port),
    CLAUDE_PEERS_DB: join(dir, "peers.db"),
    ...extra,
  };
  const dbPath = env.CLAUDE_PEERS_DB!;
  // With a shared PostgreSQL the token and log live in HOME (config.ts).
  const files = isPostgresUrl(dbPath) ? join(home, ".claude-peers") : dbPath;
  return {
    dir,
    home,
    dbPath,
    tokenPath: `${files}.token`,
    logPath: `${files}.log`,
    socketPath: loadConfig(env, home).socketPath,
    port,
    env,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
