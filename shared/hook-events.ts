/**
 * The hook events claude-peers answers (plugin/hooks/hooks.json registers exactly these), in Claude
 * Code's names, which Codex CLI uses too; and Gemini CLI's names for the same moments. The broker
 * knows only the first four, so its rules (once, quiet, never loop on stop) live in one place.
 * Its own module: the hook imports it without protocol.ts, whose zod would cost every hook run.
 * Also what Claude Code keeps of each event's output field (HOOK_CAPS), which the hook asks the
 * broker for before it loads any text module.
 */
export const HOOK_EVENTS = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** Gemini CLI's event → the same moment in Claude Code's terms (its docs/hooks/reference.md). */
export const GEMINI_HOOK_EVENTS: Readonly<Record<string, HookEvent>> = {
  SessionStart: "SessionStart",
  BeforeAgent: "UserPromptSubmit", // after the user's prompt, before the model plans
  AfterTool: "PostToolUse",
  AfterAgent: "Stop", // the turn's final answer: `decision: "block"` sends `reason` back as a new prompt
};

/** The hook event a hook input names, in any agent's words, as the broker knows it; undefined if it is none of ours. */
export function hookEventOf(name: unknown): HookEvent | undefined {
  if (typeof name !== "string") return undefined;
  return HOOK_EVENTS.find((e) => e === name) ?? (Object.hasOwn(GEMINI_HOOK_EVENTS, name) ? GEMINI_HOOK_EVENTS[name] : undefined);
}

/** A limit on one text field: UTF-16 code units and lines, as Claude Code counts them. */
export interface FieldCap {
  chars: number;
  lines: number;
}

/**
 * What Claude Code (2.1.332, read in its binary: `jM` and `GM` beside the hook output checks) keeps
 * of a hook field from a hook it does not trust as the user's own, such as a plugin's: the first
 * `lines` lines, then the first `chars` code units. Past that it cuts the text, so an output kept
 * within these loses nothing, and its framing (which comes first) is never what is cut.
 */
export const HOOK_CAPS = {
  /** A Stop hook's `decision: "block"` reason. */
  reason: { chars: 2000, lines: 20 },
  /** `hookSpecificOutput.additionalContext`. */
  additionalContext: { chars: 8000, lines: 200 },
} as const satisfies Record<string, FieldCap>;

/** The cap of the field a hook event's output goes in: a Stop's block reason, else additionalContext. */
export function hookFieldCap(event: HookEvent): FieldCap {
  return event === "Stop" ? HOOK_CAPS.reason : HOOK_CAPS.additionalContext;
}
