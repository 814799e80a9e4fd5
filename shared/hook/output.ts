/**
 * What a hook prints when peer mail waits, per hook event, in the JSON Claude Code reads from a
 * hook's stdout (exit 0): `hookSpecificOutput.additionalContext` adds text to the model's context;
 * a Stop hook's `decision: "block"` keeps it working, with `reason` as what it is told. Codex CLI
 * reads the same shapes (its hooks/schema/generated/*.command.output.schema.json), and so does
 * Gemini CLI under its own event names (AfterAgent's "block" is its alias of "deny": `reason` goes
 * back to the model as a new prompt). Model-facing text, so it is short and says what to do next;
 * each field stays within what Claude Code keeps of it (hook-events.ts HOOK_CAPS).
 */
import { frameMessages, type Framed } from "../envelope.ts";
import { hookFieldCap, type FieldCap } from "../hook-events.ts";
import type { HookResult, Message } from "../protocol.ts";
import type { HookInput } from "./run.ts";

export type HookOutput =
  | { hookSpecificOutput: { hookEventName: string; additionalContext: string } }
  | { decision: "block"; reason: string };

/**
 * The hook's answer to `input` and the messages it shows (the hook marks only those read), or null
 * when there is nothing to say (no unread mail).
 */
export function hookOutput(input: Pick<HookInput, "event" | "agentEvent">, result: HookResult): { output: HookOutput; shown: Message[] } | null {
  if (result.unread === 0) return null;
  if (input.event === "Stop") {
    const { text, shown } = describeHookMail(result.messages, result.unread, hookFieldCap(input.event), "Deal with them (reply, or act if they concern your task), then finish your turn.");
    return { output: { decision: "block", reason: text }, shown };
  }
  const { text, shown } = describeHookMail(result.messages, result.unread, hookFieldCap(input.event));
  return { output: { hookSpecificOutput: { hookEventName: input.agentEvent, additionalContext: text } }, shown };
}

/** The mail as the model reads it from a hook or the waiter: the oldest messages that fit `cap`, each in its envelope. */
export function describeHookMail(messages: readonly Message[], unread: number, cap: FieldCap, closing?: string): Framed {
  return frameMessages(messages, { intro: "from other agent sessions (Claude Code, Codex, Gemini CLI), oldest first (now marked read)", unread, cap, closing });
}
