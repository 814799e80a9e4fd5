/** What git says about a folder: its top level, the common dir shared by worktrees, and the branch. */
import { isAbsolute, resolve } from "node:path";

export interface GitInfo {
  /** `--show-toplevel`: the root of this checkout (a worktree has its own). */
  root: string;
  /** `--git-common-dir`: the same for every worktree of one repository. */
  commonDir: string;
  /** null on a detached HEAD. */
  branch: string | null;
  /** true for a linked worktree (not the main checkout). */
  isWorktree: boolean;
  /**
   * The same repository on any machine, whatever the path: the normalized `origin` URL, else the
   * root commit (`root:<sha>`); null for a repository with neither (no remote, no commit yet).
   */
  repoKey: string | null;
}

const GIT_TIMEOUT_MS = 3000;

async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const proc = Bun.spawn(["git", ...args], { cwd, stdout: "pipe", stderr: "ignore", stdin: "ignore", timeout: GIT_TIMEOUT_MS });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return code === 0 ? out.trim() : null;
  } catch {
    return null; // git is not installed: treat as "not a repository"
  }
}

/** Returns null outside a git repository (or without git). */
export async function readGitInfo(cwd: string): Promise<GitInfo | null> {
  const [paths, branch, origin] = await Promise.all([
    git(cwd, ["rev-parse", "--show-toplevel", "--git-dir", "--git-common-dir"]),
    git(cwd, ["symbolic-ref", "--short", "-q", "HEAD"]),
    git(cwd, ["config", "--get", "remote.origin.url"]),
  ]);
  if (!paths) return null;
  // Only without a remote: finding the root commit walks the whole history.
  const roots = origin ? null : await git(cwd, ["rev-list", "--max-parents=0", "HEAD"]);
  const [root, gitDir, commonDir] = paths.split("\n");
  if (!root || !gitDir || !commonDir) return null;
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  return {
    root,
    commonDir: absolute(commonDir),
    branch: branch || null,
    isWorktree: absolute(gitDir) !== absolute(commonDir),
    repoKey: repoKeyOf(origin, roots),
  };
}

function repoKeyOf(origin: string | null, roots: string | null): string | null {
  if (origin) return normalizeRemoteUrl(origin);
  // A history may have several roots (merged-in projects): the smallest is stable.
  const root = roots?.split("\n").filter(Boolean).sort()[0];
  return root ? `root:${root}` : null;
}

/**
 * One spelling per repository: `git@github.com:Acme/App.git`, `ssh://git@github.com/Acme/App`
 * and `https://github.com/Acme/App.git/` all become `github.com/acme/app` (hosts and the big
 * forges are case-insensitive). A local path stays a path.
 */
export function normalizeRemoteUrl(url: string): string {
  let u = url.trim();
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(u); // user@host:path, not a URL or a path
  if (scp && !/^[a-z]+:\/\//i.test(u)) u = `${scp[1]}/${scp[2]}`;
  else u = u.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/^[^@/]+@/, "");
  u = u.replace(/\/+$/, "").replace(/\.git$/i, "").replace(/\/+$/, "");
  if (u.startsWith("/")) return u; // file path remotes: case matters on most file systems
  return u.replace(/^([^/:]+):\d+\//, "$1/").toLowerCase();
}

/** Recently touched files: uncommitted changes first, then those of the last commits. */
export async function recentGitFiles(cwd: string, limit: number): Promise<string[]> {
  const [status, log] = await Promise.all([
    git(cwd, ["status", "--porcelain", "--untracked-files=normal"]),
    git(cwd, ["log", "-n", "15", "--name-only", "--format="]),
  ]);
  const files = [
    ...(status ?? "").split("\n").map((l) => l.slice(3).trim()),
    ...(log ?? "").split("\n").map((l) => l.trim()),
  ].filter(Boolean);
  return [...new Set(files)].slice(0, limit);
}
