/**
 * `bun cli.ts hook`, run by Claude Code (and Codex CLI) on SessionStart, UserPromptSubmit,
 * PostToolUse and Stop, and by Gemini CLI on SessionStart, BeforeAgent, AfterTool and AfterAgent:
 * prints this session's unread peer mail in the hook output format, then marks it read. Where
 * channel push is off (VS Code, API-key, Bedrock or Vertex auth, no flag) and no plugin monitor
 * holds the session, this is how mail reaches Claude without anyone asking for it; elsewhere the
 * broker, which records each session's path, leases the hook nothing.
 *
 * It runs on every tool call, so it loads no zod and no MCP code (cli.ts imports it before
 * anything else), makes one request when there is no mail, and never breaks a session: no
 * broker, no token, no peer or a foreign port all end in exit 0 with nothing printed.
 */
import { CLAUDE_SESSION_ID, loadBrokerLocation, type BrokerLocation } from "../config.ts";
import { nearestAgentPid } from "../agent-process.ts";
import { ancestorsOf, readOr, type Ancestor } from "../ancestry.ts";
import { hookEventOf, hookFieldCap, type HookEvent } from "../hook-events.ts";
import type { HookResult } from "../protocol.ts";
import { postJson } from "./post.ts";
// output.ts, tool-text.ts and errors.ts are imported only when needed: most runs find no mail, and
// every module loaded costs every tool call.

/** A live broker answers in milliseconds; a refused connection fails at once. */
const REQUEST_TIMEOUT_MS = 750;

export interface HookInput {
  /** The event in Claude Code's terms (what the broker knows). */
  event: HookEvent;
  /** The event as the agent named it (Gemini CLI's AfterTool for PostToolUse): its output names it back. */
  agentEvent: string;
  /** Stop only: Claude is already continuing because a Stop hook blocked. */
  stopHookActive: boolean;
  /** The event comes from a subagent's tool call, not from the conversation the mail is for. */
  subagent: boolean;
  /** Claude Code's session id: the broker finds the session by it first (its server got it too). */
  sessionId: string | undefined;
}

export interface HookDeps {
  readStdin: () => Promise<string>;
  /** Writes the hook's answer to stdout; resolves once written. */
  write: (text: string) => Promise<void>;
  env?: Record<string, string | undefined>;
  /** This process's ancestors, nearest first. */
  ancestors?: () => Promise<Ancestor[]>;
}

/**
 * A hook's input (JSON on stdin), reduced to what the hook needs; null if unusable. Claude Code,
 * Codex CLI and Gemini CLI all send hook_event_name, session_id and (on a stop) stop_hook_active.
 */
export function parseHookInput(text: string): HookInput | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const d = data as Record<string, unknown>;
  const event = hookEventOf(d.hook_event_name);
  if (!event) return null;
  return {
    event,
    agentEvent: d.hook_event_name as string,
    stopHookActive: d.stop_hook_active === true,
    subagent: typeof d.agent_id === "string" && d.agent_id !== "",
    sessionId: typeof d.session_id === "string" && CLAUDE_SESSION_ID.test(d.session_id) ? d.session_id : undefined,
  };
}

/** What the hook and the waiter know before they ask the broker anything. */
export interface HookContext {
  input: HookInput;
  /** Only where the broker is: the hook reads no other setting, so a bad one elsewhere cannot stop its mail. */
  config: BrokerLocation;
  token: string;
  /** This process's ancestors, nearest first. */
  chain: Ancestor[];
  /** The part of /hook's and /hook/wait's body that names the session. */
  session: { ancestors: number[]; agent_pid?: number; event: HookEvent; session_id?: string };
}

/**
 * Reads the hook's input, the config and the token, and this process's ancestors; null when the
 * hook has nothing to do (not a hook's input, a subagent's event, no broker ever ran, no ancestors).
 */
export async function hookContext(deps: Pick<HookDeps, "readStdin" | "env" | "ancestors">): Promise<HookContext | null> {
  const input = parseHookInput(await deps.readStdin());
  if (!input || input.subagent) return null;
  const config = loadBrokerLocation(deps.env);
  // Not token.ts's readToken: it loads node:fs and node:crypto, which the hook would pay for in
  // start-up time. No file: no broker ever ran with this database; a damaged one: stay quiet.
  const token = (await readOr(config.tokenPath))?.trim();
  if (!token || !/^[\w-]+$/.test(token)) return null;
  const chain = await (deps.ancestors ?? ancestorsOf)();
  if (chain.length === 0) return null;
  // The broker pairs no further up than the nearest agent (an agent run in another session's shell is not that session).
  const agentPid = await nearestAgentPid(chain);
  const session = {
    ancestors: chain.map((a) => a.pid),
    ...(agentPid !== undefined ? { agent_pid: agentPid } : {}),
    event: input.event,
    ...(input.sessionId ? { session_id: input.sessionId } : {}),
  };
  return { input, config, token, chain, session };
}

/** Runs one hook invocation. Throws only on local problems (a bad CLAUDE_PEERS_PORT, a damaged token file). */
export async function runHook(deps: HookDeps): Promise<void> {
  const ctx = await hookContext(deps);
  // Never block a stop twice in a row: Claude would loop. The mail waits for the next prompt.
  if (!ctx || (ctx.input.event === "Stop" && ctx.input.stopHookActive)) return;
  const { input, config, token } = ctx;

  // No broker, a stuck one, or something else on the socket: undefined, and the hook stays quiet.
  const post = (path: string, body: unknown) => postJson(config.socketPath, path, token, body, REQUEST_TIMEOUT_MS);

  // Lease about what the event's field can hold; output.ts fits the framed text exactly.
  const result = await post("/hook", { ...ctx.session, max_chars: hookFieldCap(input.event).chars });
  if (!isHookResult(result) || !result.peer || result.unread === 0) return;
  // Where channel push or the plugin's monitor shows the session its mail, the broker leases the hook none (DeliveryPaths).
  const { hookOutput } = await import("./output.ts");
  const answer = hookOutput(input, result);
  if (!answer) return;
  await deps.write(JSON.stringify(answer.output));
  // Marked read only once printed, and only what the output shows: a hook killed before this shows
  // them again, and those that did not fit stay unread (their lease runs out) for check_messages.
  if (answer.shown.length > 0) await post("/hook/read", { peer_id: result.peer.id, ids: answer.shown.map((m) => m.id) });
}

/** `bun cli.ts hook` itself: stdin and stdout of this process, exit code always 0. */
export async function runHookFromProcess(): Promise<void> {
  try {
    // Claude Code writes the JSON and closes stdin; by hand, end the input with Ctrl-D. (Read as a
    // stream: Bun.stdin.text() costs the hook ~2 ms more.)
    const readStdin = () => new Response(Bun.stdin.stream()).text();
    await runHook({ readStdin, write: async (text) => void (await Bun.write(Bun.stdout, text)) });
  } catch (err) {
    // A hook's stderr on exit 0 only reaches Claude Code's debug log; never fail the session.
    const { errorMessage } = await import("../errors.ts");
    process.stderr.write(`claude-peers hook: ${errorMessage(err)}\n`);
  }
}

/** The broker's /hook answer, checked by hand: zod would cost the hook more start-up time than the whole request. */
function isHookResult(data: unknown): data is HookResult {
  if (typeof data !== "object" || data === null) return false;
  const r = data as Partial<HookResult>;
  return (
    typeof r.unread === "number" &&
    (r.parent_pid === null || typeof r.parent_pid === "number") &&
    (r.peer === null || (typeof r.peer === "object" && typeof r.peer?.id === "string")) &&
    Array.isArray(r.messages) &&
    r.messages.every((m) => typeof m === "object" && m !== null && typeof m.id === "string" && typeof m.text === "string")
  );
}
