/**
 * `bun cli.ts hook --monitor`, the plugin's monitor: Claude Code (2.1.332) arms it for every
 * interactive session with the plugin (plugin/monitors/monitors.json, `when: "always"`; not in
 * print mode, where it arms no monitor), unsandboxed like a hook, no flag and any login. Each line
 * it writes to stdout reaches the model at once as a monitor event, waking an idle session.
 *
 * It finds its session as the hooks do (CLAUDE_CODE_SESSION_ID, else ancestry), holds the
 * session's mail path at the broker (POST /hook/monitor: the hooks and the waiter stand down
 * while it does), and writes each message as one line (monitor-line.ts), marked read once written,
 * exactly once. It paces itself below Claude Code's rate limit (monitor-pace.ts), so no line is
 * suppressed; what does not fit yet is announced ("N more … check_messages") and follows. It
 * survives broker restarts (asks again until its session's server is back) and a suspended laptop
 * (it names its pid: while this process exists, stopped with an answer unread, no other path
 * takes the session's mail), and leaves with its Claude Code. Where channel push delivers (its
 * server told the broker), the broker leases it nothing: its request stays open, idle.
 */
import { nearestAgentPid } from "../agent-process.ts";
import type { Ancestor } from "../ancestry.ts";
import { ancestorsOf, readOr } from "../ancestry.ts";
import { CLAUDE_SESSION_ID, loadBrokerLocation } from "../config.ts";
import { MONITOR_BATCH_CHARS, monitorLine, moreLine, tooLongLine, type MonitorMessage } from "../monitor-line.ts";
import { processAlive } from "../process-alive.ts";
import type { HookMonitorResult } from "../protocol.ts";
import { MonitorPace } from "./monitor-pace.ts";
import { postJson } from "./post.ts";

/** How often the monitor checks that its Claude Code still runs (a local syscall, not the broker). */
const PARENT_CHECK_MS = 1000;
/** No broker, or no session yet (its server registering): ask again after this, growing to RETRY_MAX_MS. */
const RETRY_MS = 250;
const RETRY_MAX_MS = 2000;
const READ_TIMEOUT_MS = 2000;
/** Ids written, remembered so that one leased again (its /hook/read lost to a broker restart) is only marked read. */
const WRITTEN_LIMIT = 10_000;

export interface MonitorDeps {
  /** Writes one batch of lines to stdout; resolves once written. */
  write: (text: string) => Promise<void>;
  env?: Record<string, string | undefined>;
  ancestors?: () => Promise<Ancestor[]>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs the monitor until its Claude Code exits or a newer monitor of the session takes over. */
export async function runMonitor(deps: MonitorDeps): Promise<void> {
  const env = deps.env ?? process.env;
  const now = deps.now ?? (() => performance.now());
  const sleep = deps.sleep ?? Bun.sleep;
  const config = loadBrokerLocation(env);
  const chain = await (deps.ancestors ?? ancestorsOf)();
  if (chain.length === 0) return;
  const sessionId = env.CLAUDE_CODE_SESSION_ID && CLAUDE_SESSION_ID.test(env.CLAUDE_CODE_SESSION_ID) ? env.CLAUDE_CODE_SESSION_ID : undefined;

  // Claude Code runs the monitor's command through a shell: it is within the nearest two ancestors.
  const claudePid = Number(env.CLAUDE_PID);
  const watched = Number.isInteger(claudePid) && claudePid > 1 ? [claudePid] : chain.slice(0, 2).map((a) => a.pid);
  const { promise: orphaned, resolve: orphan } = Promise.withResolvers<undefined>();
  const check = setInterval(() => {
    if (watched.some((pid) => !processAlive(pid))) orphan(undefined);
  }, PARENT_CHECK_MS);
  const until = <T>(p: Promise<T>) => Promise.race([p, orphaned]);
  try {
    // As the hooks: pairing stops at the nearest agent above (an agent run in another session's shell is not that session).
    const agentPid = await nearestAgentPid(chain);
    // Its own pid: while this process exists (stopped too, a laptop asleep, its answer unread), the session stays this monitor's.
    const body = { ancestors: chain.map((a) => a.pid), ...(agentPid !== undefined ? { agent_pid: agentPid } : {}), max_chars: MONITOR_BATCH_CHARS, ...(sessionId ? { session_id: sessionId } : {}), pid: process.pid };
    const pace = new MonitorPace(now);
    const written = new Set<string>();
    const announced = new Set<string>();
    let retry = RETRY_MS;
    for (;;) {
      // Wait for a token before asking: what the broker leases is then written within milliseconds.
      const wait = pace.waitMs();
      if (wait > 0 && (await until(sleep(wait).then(() => true))) === undefined) return;
      const token = (await readOr(config.tokenPath))?.trim();
      const result = token ? ((await until(postJson(config.socketPath, "/hook/monitor", token, body, 0))) as HookMonitorResult | undefined) : undefined;
      if (watched.some((pid) => !processAlive(pid))) return;
      if (result?.ended === "replaced" && result.peer) return; // a newer monitor of this session took over
      if (result?.ended !== "mail" || !result.peer || !token) {
        // No broker (restarting), no session yet or gone (its server registering again): ask again.
        if ((await until(sleep(retry).then(() => true))) === undefined) return;
        retry = Math.min(RETRY_MAX_MS, retry * 2);
        continue;
      }
      retry = RETRY_MS;
      const batch = batchOf(result.messages, result.unread, written, announced, pace.left() <= 1);
      if (batch.lines.length > 0) {
        await deps.write(`${batch.lines.join("\n")}\n`);
        pace.spend();
      }
      for (const id of batch.shown) remember(written, id);
      for (const id of batch.announced) remember(announced, id);
      // Marked read once written: a monitor killed before this leaves them for the next path.
      if (batch.read.length > 0) await postJson(config.socketPath, "/hook/read", token, { peer_id: result.peer.id, ids: batch.read }, READ_TIMEOUT_MS);
    }
  } finally {
    clearInterval(check);
  }
}

/**
 * The lines of one batch: each leased message as a line (marked read), one too long for a line
 * announced once and left unread, and, when this batch spends the last token while more waits,
 * one line saying so. Messages written before (a /hook/read lost) are only marked read.
 */
export function batchOf(messages: readonly MonitorMessage[], unread: number, written: ReadonlySet<string>, announced: ReadonlySet<string>, lastToken: boolean) {
  const lines: string[] = [];
  const shown: string[] = [];
  const read: string[] = [];
  const newlyAnnounced: string[] = [];
  // The broker sized the batch by these same lines; a batch over Claude Code's limit would lose its tail, so stop short of it.
  let used = 0;
  const fits = (line: string) => (used += line.length + 1) <= MONITOR_BATCH_CHARS;
  for (const m of messages) {
    if (written.has(m.id)) {
      read.push(m.id);
      continue;
    }
    const line = monitorLine(m);
    if (!fits(line ?? tooLongLine(m))) break;
    if (line !== null) {
      lines.push(line);
      shown.push(m.id);
      read.push(m.id);
    } else if (!announced.has(m.id)) {
      lines.push(tooLongLine(m));
      newlyAnnounced.push(m.id);
    }
  }
  const more = unread - shown.length - newlyAnnounced.length;
  if (lastToken && more > 0 && lines.length > 0) lines.push(moreLine(more));
  return { lines, shown, read, announced: newlyAnnounced };
}

function remember(ids: Set<string>, id: string): void {
  ids.add(id);
  if (ids.size > WRITTEN_LIMIT) ids.delete(ids.values().next().value!);
}

/** `bun cli.ts hook --monitor` itself: stdout, and exit 0 whatever happens (never a failing monitor in the session). */
export async function runMonitorFromProcess(): Promise<void> {
  try {
    await runMonitor({ write: async (text) => void (await Bun.write(Bun.stdout, text)) });
  } catch (err) {
    const { errorMessage } = await import("../errors.ts");
    process.stderr.write(`claude-peers monitor: ${errorMessage(err)}\n`);
  }
  process.exit(0);
}
