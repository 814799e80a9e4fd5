/**
 * kill-broker: asks the broker to stop (POST /shutdown) and waits until its socket and pid are gone.
 * Right after CLAUDE_PEERS_DB changes kind (SQLite to PostgreSQL, or back), the broker still running
 * is the other kind's, on another socket: with none on this setup's socket, it stops that one and
 * says which sessions must be restarted to follow.
 */
import { probeBroker, type Probe } from "../broker-probe.ts";
import { otherKindOfStore } from "../config.ts";
import { PeersError } from "../errors.ts";
import { processAlive } from "../process-alive.ts";
import { storeLocation } from "../store-location.ts";
import { clientFor, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

/** The broker stops its listener, closes the DB and exits; allow for a slow disk. */
const STOP_DEADLINE_MS = 5000;
const CHECK_EVERY_MS = 25;

type Where = { socketPath: string; tokenPath: string };

export async function killBroker(ctx: CliContext): Promise<number> {
  const { config } = ctx;
  const probe = await probeBroker(config.socketPath, ctx.fetch);
  if (probe.kind !== "none") {
    const { pid, db } = await stopBroker(ctx, config, probe);
    ctx.out(`broker stopped (pid ${pid}, store ${db ?? storeLocation(config)})`);
    return 0;
  }
  const other = otherKindOfStore(config, ctx.home);
  const previous = await probeBroker(other.socketPath, ctx.fetch);
  if (previous.kind !== "broker") {
    ctx.out(`no claude-peers broker on ${config.socketPath}; nothing to stop`);
    return 0;
  }
  const { pid, db, sessions } = await stopBroker(ctx, other, previous);
  const old = db ?? (other.shared ? "the shared PostgreSQL" : "SQLite");
  ctx.out(`no broker for ${storeLocation(config)} was running; stopped the broker of ${old} instead (pid ${pid}), which served ${sessions ?? "an unknown number of"} session(s).`);
  ctx.out(
    `Sessions opened before CLAUDE_PEERS_DB changed stay on ${old} (they start its broker again): close them and open them again ` +
      `where CLAUDE_PEERS_DB is ${storeLocation(config)} to move them. New sessions start the broker of ${storeLocation(config)}.`,
  );
  return 0;
}

/** Stops the broker behind `probe` (on `where`'s socket, with `where`'s token); what it was. */
async function stopBroker(ctx: CliContext, where: Where, probe: Probe): Promise<{ pid: number; db?: string; sessions?: number }> {
  const { client, health } = clientFor({ ...ctx, config: { ...ctx.config, ...where } }, probe);
  // Counted first, so the person knows how many sessions the switch leaves behind.
  const sessions = await client.call("/status", {}).then((s) => s.peers.live, () => undefined);
  try {
    await client.call("/shutdown", {});
  } catch (err) {
    // The broker may drop the connection as it goes down; the checks below tell.
    if (!(err instanceof PeersError && err.code === "broker_unreachable")) throw err;
  }
  await waitUntilStopped(ctx, where.socketPath, health.pid);
  return { pid: health.pid, db: health.db, sessions };
}

/**
 * Gone means: the socket no longer answers as this broker, then the pid has exited (the pid comes
 * from the broker's own /health, never from scanning ports).
 */
async function waitUntilStopped(ctx: CliContext, socketPath: string, pid: number): Promise<void> {
  const deadline = Date.now() + STOP_DEADLINE_MS;
  const stillServing = async () => {
    const probe = await probeBroker(socketPath, ctx.fetch);
    return probe.kind === "broker" && probe.health.pid === pid;
  };
  while ((await stillServing()) || processAlive(pid)) {
    if (Date.now() > deadline) {
      throw new CliError("stop_timeout", `the broker (pid ${pid}) did not stop within ${STOP_DEADLINE_MS / 1000} s; stop it with \`kill ${pid}\``);
    }
    await Bun.sleep(CHECK_EVERY_MS);
  }
}
