/** doctor's view of how each running session gets its mail: channel push, the plugin's monitor, or its hooks (at its next hook or tool call, or woken by a hooks waiter). */
import type { Probe } from "../broker-probe.ts";
import { errorMessage } from "../errors.ts";
import { clientFor, type CliContext } from "./context.ts";
import type { Check } from "./doctor.ts";
import type { DeliveryPath } from "../protocol.ts";
import { oneLine as safeLine } from "../safe-text.ts";

/** Sessions named one by one in the detail; past this, counted. */
const MAX_NAMED = 20;
const PATH_WORDS: Record<DeliveryPath, string> = { channel: "push by channel", monitor: "push by monitor", hooks: "at the next tool call" };

export async function deliveryCheck(ctx: CliContext, probe: Probe): Promise<Check> {
  const name = "mail delivery";
  let client;
  try {
    ({ client } = clientFor(ctx, probe));
  } catch {
    return { name, status: "info", detail: "no broker to ask" };
  }
  try {
    const [status, { peers }] = await Promise.all([client.call("/status", {}), client.call("/peers", { scope: "machine" })]);
    const live = status.peers.live;
    if (live === 0) return { name, status: "info", detail: "no session connected to this broker" };
    const channels = new Set(status.channels);
    const monitored = new Set(status.monitors);
    const hooks = live - channels.size - monitored.size;
    const waiting = status.hooks_waiting.filter((id) => !monitored.has(id) && !channels.has(id)).length;
    // Each session by name with the path the broker holds for it (its server's word on channels, its monitor's request, else its hooks).
    const listed = peers.filter((p) => p.path).map((p) => `${safeLine(p.name)}: ${PATH_WORDS[p.path!]}`);
    const named = listed.length > MAX_NAMED ? [...listed.slice(0, MAX_NAMED), `${listed.length - MAX_NAMED} more`] : listed;
    return {
      name,
      status: "info",
      detail:
        `${live} session${live === 1 ? "" : "s"} here: ${channels.size} pushed by channel (their Claude Code shows it: the flag and a claude.ai login), ` +
        `${monitored.size} pushed by the plugin's monitor (shown at once, idle or not), ` +
        `${hooks} at their next hook or tool call (${waiting} woken by a hooks waiter when idle)${named.length ? `; ${named.join("; ")}` : ""}`,
    };
  } catch (err) {
    return { name, status: "warn", detail: `could not ask the broker: ${errorMessage(err)}`, fix: "bun cli.ts kill-broker, then start a session" };
  }
}
