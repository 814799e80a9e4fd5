/** Throwaway git repositories for tests: a main checkout with one commit, plus linked worktrees. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function git(cwd: string, ...args: string[]): string {
  // Identity on the command line: the test HOME has no ~/.gitconfig.
  const proc = Bun.spawnSync(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd, stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${proc.stderr.toString()}`);
  return proc.stdout.toString().trim();
}

/** Creates `parent/name` as a repository on branch main with one commit of `files`. */
export function makeRepo(parent: string, name: string, files: Record<string, string> = { "README.md": "# test\n" }): string {
  const root = join(parent, name);
  mkdirSync(root, { recursive: true });
  git(root, "init", "-q", "-b", "main");
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(root, file, ".."), { recursive: true });
    writeFileSync(join(root, file), text);
  }
  git(root, "add", "-A");
  // Named, so two repositories made in the same second never share a root commit (their repo key).
  git(root, "commit", "-q", "-m", `first commit of ${name}`);
  return root;
}

/** Adds a linked worktree of `repo` at `path` on a new `branch`. */
export function addWorktree(repo: string, path: string, branch: string): string {
  git(repo, "worktree", "add", "-q", "-b", branch, path);
  return path;
}
