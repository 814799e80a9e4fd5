/**
 * Codex CLI (0.171) runs a user's hook only once it is trusted: config.toml's
 * `[hooks.state."<hooks.json path>:<event>:<group>:<handler>"] trusted_hash = "sha256:…"` must hold
 * the hash of the hook's normalized identity. Codex computes it in codex-rs/hooks/src/engine/
 * discovery.rs (command_hook_hash) and codex-rs/config/src/fingerprint.rs (version_for_toml): the
 * event's snake_case label with the group (matcher, if any, and this one handler, its timeout
 * filled in), as JSON with sorted keys, compact, SHA-256. `install codex` trusts exactly the hooks
 * it writes, as a person approving them in Codex's /hooks would. The matcher's part is confirmed
 * against the real Codex 0.171.0 by tests/edits-codex.test.ts: without it, the edit hooks do not run.
 */
import { createHash } from "node:crypto";

/** Codex's snake_case label of each event claude-peers registers. */
export const CODEX_EVENT_LABELS: Readonly<Record<string, string>> = {
  PreToolUse: "pre_tool_use",
  SessionStart: "session_start",
  UserPromptSubmit: "user_prompt_submit",
  PostToolUse: "post_tool_use",
  Stop: "stop",
};

/** The key of a hook's state: its source file, event label, group and handler index. */
export function codexHookKey(hooksJsonPath: string, event: string, groupIndex: number, handlerIndex = 0): string {
  return `${hooksJsonPath}:${CODEX_EVENT_LABELS[event]}:${groupIndex}:${handlerIndex}`;
}

/** The trusted_hash of a command hook with no status message (and a matcher, when its group has one). */
export function codexHookHash(event: string, command: string, timeoutSec: number, matcher?: string): string {
  const identity = {
    event_name: CODEX_EVENT_LABELS[event],
    ...(matcher === undefined ? {} : { matcher }),
    hooks: [{ type: "command", command, timeout: Math.max(1, timeoutSec), async: false }],
  };
  return `sha256:${createHash("sha256")
    .update(JSON.stringify(sortKeys(identity)))
    .digest("hex")}`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
