/** A session's readable name: CLAUDE_PEERS_NAME, else the repo or folder (plus branch in a worktree). */
import { basename, dirname } from "node:path";
import type { GitInfo } from "../git.ts";

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

/** The repository's own folder name: for a worktree, the main checkout's, found from the common dir. */
export function repoName(git: GitInfo): string {
  if (!git.isWorktree) return basename(git.root);
  // The common dir is <main checkout>/.git for ordinary repositories, or the bare repo itself.
  return basename(git.commonDir) === ".git" ? basename(dirname(git.commonDir)) : basename(git.commonDir).replace(/\.git$/, "");
}

export function deriveName(opts: { explicit?: string; cwd: string; git: GitInfo | null }): string {
  if (opts.explicit) return sanitizeName(opts.explicit);
  if (!opts.git) return sanitizeName(basename(opts.cwd) || "root");
  const repo = repoName(opts.git);
  return sanitizeName(opts.git.isWorktree && opts.git.branch ? `${repo}-${opts.git.branch}` : repo);
}
