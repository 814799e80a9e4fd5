/**
 * The coding agents a peer can run in. Its own module, without zod: the config, the wire schemas
 * and the installer all name them, and the hook may not load protocol.ts.
 */
export const AGENTS = ["claude-code", "codex", "gemini"] as const;
export type Agent = (typeof AGENTS)[number];
/** A server that does not say (an older one, or Claude Code, which needs no setting) runs in Claude Code. */
export const DEFAULT_AGENT: Agent = "claude-code";

export function isAgent(value: unknown): value is Agent {
  return AGENTS.includes(value as Agent);
}
