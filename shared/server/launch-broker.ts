/** Finds the broker, or starts it detached: one starter at a time, whoever binds the socket serves. */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { socketPathProblem, unsafeSocketMessage } from "../broker-address.ts";
import { probeBroker, type Probe } from "../broker-probe.ts";
import type { Config } from "../config.ts";
import { PeersError, errorMessage } from "../errors.ts";
import type { Health } from "../protocol.ts";
import { processAlive } from "../process-alive.ts";
import { guardPrivateFile } from "../private-file.ts";
import { storeLocation } from "../store-location.ts";
import { readToken } from "../token.ts";

export const BROKER_SCRIPT = join(import.meta.dir, "..", "..", "broker.ts");
const START_TIMEOUT_MS = 8000;
/** A start lock older than this belongs to a starter that died; take it over. */
const STALE_LOCK_MS = 5000;
const PROBE_EVERY_MS = 25;
const MAX_LOG_BYTES = 5 * 1024 * 1024;

export interface RunningBroker {
  health: Health;
  token: string;
}

/** Returns the running broker and its token, starting one if nothing listens on the socket. */
export async function ensureBroker(config: Config): Promise<RunningBroker> {
  const pathProblem = socketPathProblem(config.socketPath);
  if (pathProblem) throw new PeersError("socket_path", pathProblem);
  const deadline = Date.now() + START_TIMEOUT_MS;
  let startFailure: string | undefined;
  while (Date.now() < deadline) {
    const probe = await probeBroker(config.socketPath);
    if (probe.kind === "broker") {
      refuseOtherStore(config, probe.health);
      return { health: probe.health, token: tokenOf(config) };
    }
    refuseProbe(config, probe);
    if (startFailure) throw new PeersError("broker_start_failed", startFailure);
    if (takeLock(config.lockPath)) {
      // Probe again with the lock held: another starter's broker may have come up and released the
      // lock between our probe and our take, and a second broker would only start to exit again.
      if ((await probeBroker(config.socketPath)).kind === "broker") {
        releaseLock(config.lockPath);
        continue;
      }
      startBroker(config, (failure) => (startFailure = failure)).finally(() => releaseLock(config.lockPath));
    }
    await Bun.sleep(PROBE_EVERY_MS);
  }
  throw new PeersError("broker_start_failed", `the broker did not come up on ${config.socketPath} within ${START_TIMEOUT_MS / 1000} s; see ${config.logPath}`);
}

/** A socket that is not this user's, or not a broker: the token is never sent to it. */
function refuseProbe(config: Config, probe: Probe): void {
  if (probe.kind === "unsafe") throw new PeersError("socket_unsafe", unsafeSocketMessage(probe.detail));
  if (probe.kind === "foreign") {
    throw new PeersError("broker_foreign", `${config.socketPath} is held by a program that is not a claude-peers broker (${probe.detail}); stop it, or remove the socket`);
  }
}

/**
 * A broker of another CLAUDE_PEERS_DB on this session's socket (every PostgreSQL URL shares one):
 * its peers and mail are not this session's, so nothing is sent to it and the error says what to do.
 */
function refuseOtherStore(config: Config, health: Health): void {
  const mine = storeLocation(config);
  if (health.db === undefined || health.db === mine) return;
  throw new PeersError(
    "broker_other_store",
    `the broker on ${config.socketPath} (pid ${health.pid}) runs the store ${health.db}, but this session's CLAUDE_PEERS_DB is ${mine}. ` +
      `To move this machine to ${mine}: run \`bun cli.ts kill-broker\` with this CLAUDE_PEERS_DB, and restart the sessions that still use ${health.db}; ` +
      "this session then starts the right broker by itself. Or restart this session with CLAUDE_PEERS_DB set to the broker's store",
  );
}

function tokenOf(config: Config): string {
  const token = readToken(config.tokenPath);
  if (!token) {
    throw new PeersError("token_missing", `a broker answers on ${config.socketPath} but ${config.tokenPath} does not exist; is it using another CLAUDE_PEERS_DB?`);
  }
  return token;
}

/** Spawns broker.ts detached (own session, output to the log file) and resolves once it is up or gone. */
async function startBroker(config: Config, onFailure: (why: string) => void): Promise<void> {
  try {
    guardPrivateFile(config.logPath, "the broker's log");
  } catch (err) {
    return onFailure(errorMessage(err)); // nothing is written where another user could read it
  }
  rotateLog(config.logPath);
  const logFd = openSync(config.logPath, "a", 0o600);
  let child;
  try {
    child = spawn(process.execPath, [BROKER_SCRIPT], {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: { ...process.env, CLAUDE_PEERS_PORT: String(config.port), CLAUDE_PEERS_DB: config.db },
    });
  } finally {
    closeSync(logFd);
  }
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  child.once("error", (err) => onFailure(`could not start the broker with ${process.execPath}: ${err.message}`));
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      // Exit 0 means it lost the race to another broker, which is fine.
      if (exited !== 0) onFailure(`the broker exited at start (code ${exited}): ${lastLogLine(config.logPath)}`);
      return;
    }
    if ((await probeBroker(config.socketPath)).kind === "broker") return;
    await Bun.sleep(PROBE_EVERY_MS);
  }
}

/** Keeps the log bounded across years of restarts: one previous file, then it starts afresh. */
function rotateLog(path: string): void {
  try {
    if (statSync(path).size > MAX_LOG_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}

function takeLock(path: string): boolean {
  try {
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      // A read-only or missing folder: no broker could write its DB there either, so say so now
      // instead of waiting START_TIMEOUT_MS for a broker nobody started.
      throw new PeersError(
        "broker_start_failed",
        `cannot start the broker: ${(err as Error).message}; the folder of the database must be writable, or set CLAUDE_PEERS_DB to a file in a writable folder`,
      );
    }
    if (lockIsStale(path)) rmLock(path);
    return false;
  }
}

/** A lock is stale when its starter died (e.g. the session closed mid-start) or it is too old. */
function lockIsStale(path: string): boolean {
  try {
    const holder = Number(readFileSync(path, "utf8"));
    return !processAlive(holder) || Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS;
  } catch {
    return false; // someone else just removed or replaced it
  }
}

function rmLock(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function releaseLock(path: string): void {
  try {
    if (readFileSync(path, "utf8") === String(process.pid)) unlinkSync(path);
  } catch {
    // already gone
  }
}

function lastLogLine(logPath: string): string {
  try {
    const lines = readFileSync(logPath, "utf8").trim().split("\n");
    return lines.at(-1) ?? "(empty log)";
  } catch {
    return `(no log at ${logPath})`;
  }
}
