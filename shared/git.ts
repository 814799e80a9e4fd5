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
  const [paths, branch] = await Promise.all([
    git(cwd, ["rev-parse", "--show-toplevel", "--git-dir", "--git-common-dir"]),
    git(cwd, ["symbolic-ref", "--short", "-q", "HEAD"]),
  ]);
  if (!paths) return null;
  const [root, gitDir, commonDir] = paths.split("\n");
  if (!root || !gitDir || !commonDir) return null;
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  return {
    root,
    commonDir: absolute(commonDir),
    branch: branch || null,
    isWorktree: absolute(gitDir) !== absolute(commonDir),
  };
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
