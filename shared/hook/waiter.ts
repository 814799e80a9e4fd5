/**
 * `bun cli.ts hook --wait`, the waiter: Claude Code runs it in the background on SessionStart and
 * Stop (`asyncRewake`), so that a session push cannot reach (no channels) is woken when a peer
 * writes, even while idle. It holds one request to the broker (/hook/wait) until the session has
 * mail, writes the mail to stderr and exits 2: Claude Code shows that to Claude and wakes it. The
 * mail is marked read once written. One waiter per session (a newer one replaces it); quiet where
 * channels deliver (the broker answers `channel`); and it never outlives its session: it leaves when the session's server does,
 * when a newer waiter takes over, or when its Claude Code exits.
 */
import type { Ancestor } from "../ancestry.ts";
import { claudeAbove } from "../channel-flag.ts";
import { processAlive } from "../process-alive.ts";
import type { HookWaitResult } from "../protocol.ts";
import { HOOK_CAPS } from "../hook-events.ts";
import { describeHookMail } from "./output.ts";
import { postJson } from "./post.ts";
import { hookContext } from "./run.ts";

/** How often the waiter checks that its Claude Code still runs (a local syscall, not the broker). */
const PARENT_CHECK_MS = 1000;
/** After the broker went away mid-wait (a restart), try again this often, this many times. */
const RETRY_MS = 1000;
const RETRIES = 30;
const REQUEST_TIMEOUT_MS = 750;
/**
 * Claude Code (2.1.332) hands an asyncRewake hook's stderr to the model whole, as a task
 * notification; the waiter holds itself to additionalContext's cap all the same, so a burst of
 * long messages reaches the model as a readable note plus "call check_messages", not a wall.
 */
const WAKE_CAP = HOOK_CAPS.additionalContext;

export interface WaiterDeps {
  readStdin: () => Promise<string>;
  /** Writes to stderr (what Claude Code shows Claude on exit 2). */
  writeErr: (text: string) => Promise<void>;
  env?: Record<string, string | undefined>;
  ancestors?: () => Promise<Ancestor[]>;
}

/** Runs one waiter; resolves with its exit code: 2 when it handed mail over, else 0. */
export async function runWaiter(deps: WaiterDeps): Promise<number> {
  const ctx = await hookContext(deps);
  if (!ctx) return 0;
  const { config, token, chain } = ctx;
  // `claude -p` ends after its turn and waits for background hooks before it exits: no idle to wake.
  if (await printModeAbove(chain)) return 0;

  // Claude Code gives hooks its pid (CLAUDE_PID); else the nearest two ancestors (the shell it ran this through, and it).
  const claudePid = Number((deps.env ?? process.env).CLAUDE_PID);
  const watched = Number.isInteger(claudePid) && claudePid > 1 ? [claudePid] : chain.slice(0, 2).map((a) => a.pid);
  const { promise: orphaned, resolve: orphan } = Promise.withResolvers<undefined>();
  const check = setInterval(() => {
    if (watched.some((pid) => !processAlive(pid))) orphan(undefined);
  }, PARENT_CHECK_MS);
  try {
    let result: HookWaitResult | undefined;
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      result = await Promise.race([postJson(config.socketPath, "/hook/wait", token, { ...ctx.session, max_chars: WAKE_CAP.chars }, 0) as Promise<HookWaitResult | undefined>, orphaned]);
      // No answer (the broker restarting), or no session yet (its server registering again, or not
      // yet at SessionStart): try again. Mail, or the session gone or replaced, ends the wait.
      if ((result !== undefined && result.ended !== "no_session") || watched.some((pid) => !processAlive(pid))) break;
      await Promise.race([Bun.sleep(RETRY_MS), orphaned]);
    }
    if (!result || result.ended !== "mail" || !result.peer || result.unread === 0) return 0;
    const { text, shown } = describeHookMail(result.messages, result.unread, WAKE_CAP);
    await deps.writeErr(text);
    // Marked read once written, and only what it shows: a waiter killed before this leaves them for
    // the next hook; those that did not fit stay unread, and the text says to call check_messages.
    if (shown.length > 0) await postJson(config.socketPath, "/hook/read", token, { peer_id: result.peer.id, ids: shown.map((m) => m.id) }, REQUEST_TIMEOUT_MS);
    return 2;
  } finally {
    clearInterval(check);
  }
}

/** Whether the Claude Code above (claudeAbove) runs in print mode (-p, --print). */
async function printModeAbove(chain: readonly Ancestor[]): Promise<boolean> {
  for (const command of await claudeAbove(chain)) if (command.split(/\s+/).some((word) => word === "-p" || word === "--print")) return true;
  return false;
}

/** `bun cli.ts hook --wait` itself: stdin, stderr, and the exit code. */
export async function runWaiterFromProcess(): Promise<void> {
  let code = 0;
  try {
    const readStdin = () => new Response(Bun.stdin.stream()).text();
    code = await runWaiter({ readStdin, writeErr: async (text) => void (await Bun.write(Bun.stderr, `${text}\n`)) });
  } catch (err) {
    const { errorMessage } = await import("../errors.ts");
    process.stderr.write(`claude-peers waiter: ${errorMessage(err)}\n`);
    code = 0; // never wake Claude with our own failure
  }
  process.exit(code);
}
