/**
 * Peer names: how a folder, branch or CLAUDE_PEERS_NAME becomes one, and the names no session may
 * take. Zod-free: config.ts, the broker's schema and the server's name derivation share it.
 */

/**
 * Names that stand for someone other than a peer: `cli` is the person at the terminal (the
 * operator's mail comes from it), `claude-peers` is claude-peers' own notices, and `user`,
 * `system` and `operator` read as either. A session under one of them could pass its text off as
 * theirs, so the broker refuses them.
 */
export const RESERVED_NAMES: readonly string[] = ["cli", "claude-peers", "user", "system", "operator"];

export function isReservedName(name: string): boolean {
  return RESERVED_NAMES.includes(name);
}

const MAX_BASE_LENGTH = 48;

/** Lowercase letters, digits, '.', '_' and '-'; starts with a letter or digit; never empty. */
export function sanitizeName(raw: string): string {
  const cleaned = raw
    // "Café" becomes "cafe", not "caf": split accents off their letters, then drop them.
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, MAX_BASE_LENGTH)
    .replace(/[-._]+$/, "");
  return cleaned || "peer";
}
