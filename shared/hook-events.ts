/**
 * The Claude Code hook events claude-peers answers (plugin/hooks/hooks.json registers exactly these).
 * Its own module: the hook imports it without protocol.ts, whose zod would cost every hook run.
 */
export const HOOK_EVENTS = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];
