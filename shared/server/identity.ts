/** A session's readable name: CLAUDE_PEERS_NAME, else the repo or folder (plus branch in a worktree). */
import { basename, dirname } from "node:path";
import type { GitInfo } from "../git.ts";
import { isReservedName, sanitizeName } from "../peer-names.ts";

/** The repository's own folder name: for a worktree, the main checkout's, found from the common dir. */
export function repoName(git: GitInfo): string {
  if (!git.isWorktree) return basename(git.root);
  // The common dir is <main checkout>/.git for ordinary repositories, or the bare repo itself.
  return basename(git.commonDir) === ".git" ? basename(dirname(git.commonDir)) : basename(git.commonDir).replace(/\.git$/, "");
}

/**
 * CLAUDE_PEERS_NAME as given (config.ts refuses a reserved one), else the folder's or repository's
 * name; one of those that is reserved (a repository called "operator") takes the suffix a taken
 * name would: "operator-2", the same on every start, so its mailbox still follows it.
 */
export function deriveName(opts: { explicit?: string; cwd: string; git: GitInfo | null }): string {
  if (opts.explicit) return sanitizeName(opts.explicit);
  const derived = opts.git
    ? sanitizeName(opts.git.isWorktree && opts.git.branch ? `${repoName(opts.git)}-${opts.git.branch}` : repoName(opts.git))
    : sanitizeName(basename(opts.cwd) || "root");
  return isReservedName(derived) ? `${derived}-2` : derived;
}
