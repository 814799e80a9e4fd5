/**
 * The hook events claude-peers answers (plugin/hooks/hooks.json registers exactly these), in Claude
 * Code's names, which Codex CLI uses too; and Gemini CLI's names for the same moments. The broker
 * knows only the first four, so its rules (once, quiet, never loop on stop) live in one place.
 * Its own module: the hook imports it without protocol.ts, whose zod would cost every hook run.
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
