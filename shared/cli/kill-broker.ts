/** kill-broker: asks the broker to stop (POST /shutdown) and waits until its socket and pid are gone. */
import { probeBroker } from "../broker-probe.ts";
import { PeersError } from "../errors.ts";
import { processAlive } from "../process-alive.ts";
import { clientFor, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";

/** The broker stops its listener, closes the DB and exits; allow for a slow disk. */
const STOP_DEADLINE_MS = 5000;
const CHECK_EVERY_MS = 25;

export async function killBroker(ctx: CliContext): Promise<number> {
  const { socketPath } = ctx.config;
  const probe = await probeBroker(socketPath, ctx.fetch);
  if (probe.kind === "none") {
    ctx.out(`no claude-peers broker on ${socketPath}; nothing to stop`);
    return 0;
  }
  const { client, health } = clientFor(ctx, probe);
  try {
    await client.call("/shutdown", {});
  } catch (err) {
    // The broker may drop the connection as it goes down; the checks below tell.
    if (!(err instanceof PeersError && err.code === "broker_unreachable")) throw err;
  }
  await waitUntilStopped(ctx, health.pid);
  ctx.out(`broker stopped (pid ${health.pid})`);
  return 0;
}

/**
 * Gone means: the socket no longer answers as this broker, then the pid has exited (the pid comes
 * from the broker's own /health, never from scanning ports).
 */
async function waitUntilStopped(ctx: CliContext, pid: number): Promise<void> {
  const deadline = Date.now() + STOP_DEADLINE_MS;
  const stillServing = async () => {
    const probe = await probeBroker(ctx.config.socketPath, ctx.fetch);
    return probe.kind === "broker" && probe.health.pid === pid;
  };
  while ((await stillServing()) || processAlive(pid)) {
    if (Date.now() > deadline) {
      throw new CliError("stop_timeout", `the broker (pid ${pid}) did not stop within ${STOP_DEADLINE_MS / 1000} s; stop it with \`kill ${pid}\``);
    }
    await Bun.sleep(CHECK_EVERY_MS);
  }
}
