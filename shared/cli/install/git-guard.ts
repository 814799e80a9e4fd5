/**
 * `bun cli.ts install git-guard` (run in a repository): a git pre-commit hook that runs
 * `bun cli.ts hook --git-guard` (hook/git-guard.ts). It goes where git looks for hooks
 * (`git rev-parse --git-path hooks`: core.hooksPath if set, else the common dir's, shared by every
 * worktree). A pre-commit hook of someone else's is never overwritten; `uninstall git-guard`
 * removes exactly the file install wrote.
 */
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import type { CliOptions } from "../usage.ts";
import { hookCommand, type InstallTarget } from "./target.ts";

const MARK = "# claude-peers git-guard: written by `bun cli.ts install git-guard`; `bun cli.ts uninstall git-guard` removes it";

/** The hook file's text: a shell script that hands over to Bun, keeping git's environment and folder. */
export function guardScript(t: InstallTarget): string {
  return `#!/bin/sh\n${MARK}\nexec ${hookCommand(t, "--git-guard")}\n`;
}

function hooksDir(cwd: string): string {
  const proc = Bun.spawnSync(["git", "rev-parse", "--git-path", "hooks"], { cwd, stderr: "pipe" });
  if (proc.exitCode !== 0) throw new CliError("usage", `git-guard: ${cwd} is not in a git repository; run this inside the repository to guard`);
  return resolve(cwd, proc.stdout.toString().trim());
}

export async function runGitGuardInstall(ctx: CliContext, values: CliOptions, install: boolean, target: InstallTarget): Promise<number> {
  const dir = hooksDir(ctx.cwd);
  const path = join(dir, "pre-commit");
  const before = existsSync(path) ? readFileSync(path, "utf8") : null;
  const ours = before !== null && before.includes(MARK);
  if (!install) {
    if (!ours) {
      ctx.out(`claude-peers' git guard is not installed (${path}${before === null ? " does not exist" : " is not ours"}): nothing changed`);
      return 0;
    }
    if (values["dry-run"]) ctx.out(`dry run: would remove ${path}`);
    else {
      rmSync(path);
      ctx.out(`removed ${path}: claude-peers' git guard is uninstalled`);
    }
    return 0;
  }
  const script = guardScript(target);
  if (before !== null && !ours) {
    throw new CliError(
      "bad_config",
      `${path} already exists and is not claude-peers': add this line to it to run the guard too (nothing was changed):\n  ${hookCommand(target, "--git-guard")} || exit 1`,
    );
  }
  if (before === script) {
    ctx.out(`claude-peers' git guard is already installed (${path}): nothing changed`);
    return 0;
  }
  if (values["dry-run"]) {
    ctx.out(`dry run: would write ${path}:\n${script}`);
    return 0;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, script, { mode: 0o755 });
  chmodSync(path, 0o755);
  ctx.out(`${before === null ? "created" : "updated"} ${path}`);
  ctx.out("Commits here now warn when they stage files another live session edited and this one did not; CLAUDE_PEERS_GIT_GUARD=block refuses them.");
  return 0;
}
