/** doctor's view of how the running sessions get their mail: the plugin's monitor, a hooks waiter, or neither (at their next hook or tool call). */
import type { Probe } from "../broker-probe.ts";
import { errorMessage } from "../errors.ts";
import { clientFor, type CliContext } from "./context.ts";
import type { Check } from "./doctor.ts";

export async function deliveryCheck(ctx: CliContext, probe: Probe): Promise<Check> {
  const name = "mail delivery";
  let client;
  try {
    ({ client } = clientFor(ctx, probe));
  } catch {
    return { name, status: "info", detail: "no broker to ask" };
  }
  try {
    const status = await client.call("/status", {});
    const live = status.peers.live;
    if (live === 0) return { name, status: "info", detail: "no session connected to this broker" };
    const monitored = new Set(status.monitors);
    const waiting = status.hooks_waiting.filter((id) => !monitored.has(id)).length;
    return {
      name,
      status: "info",
      detail:
        `${live} session${live === 1 ? "" : "s"} here: ${monitored.size} pushed by the plugin's monitor (shown at once, idle or not), ` +
        `${waiting} woken by a hooks waiter when idle; the rest get mail by channel push where Claude Code shows it (the flag and a claude.ai login), else at their next hook or tool call`,
    };
  } catch (err) {
    return { name, status: "warn", detail: `could not ask the broker: ${errorMessage(err)}`, fix: "bun cli.ts kill-broker, then start a session" };
  }
}
