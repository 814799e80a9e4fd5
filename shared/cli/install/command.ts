/** `bun cli.ts install <agent>` and `uninstall <agent>`: plan each file's change, preview or write it. */
import { homedir } from "node:os";
import { join } from "node:path";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";
import type { CliOptions } from "../usage.ts";
import { planClaude } from "./claude.ts";
import { planCodex } from "./codex.ts";
import { applyChange, changed, previewChange } from "./files.ts";
import { planGemini } from "./gemini.ts";
import { INSTALL_AGENTS, type InstallAgent, type InstallTarget, type Plan } from "./target.ts";

const PLANNERS: Record<InstallAgent, (t: InstallTarget, install: boolean) => Plan> = { claude: planClaude, codex: planCodex, gemini: planGemini };
const LABELS: Record<InstallAgent, string> = { claude: "Claude Code", codex: "Codex CLI", gemini: "Gemini CLI" };

/** This checkout and the Bun running it; the agents' own variables from the environment. */
export function defaultTarget(env: Record<string, string | undefined> = process.env): InstallTarget {
  return { home: homedir(), env, bun: process.execPath, root: join(import.meta.dir, "..", "..", "..") };
}

export async function runInstall(ctx: CliContext, values: CliOptions, positionals: string[], install: boolean, target = defaultTarget()): Promise<number> {
  const verb = install ? "install" : "uninstall";
  const [name, ...rest] = positionals;
  if (name === "git-guard" && rest.length === 0) return (await import("./git-guard.ts")).runGitGuardInstall(ctx, values, install, target);
  if (!name || rest.length || !Object.hasOwn(INSTALL_AGENTS, name)) {
    throw new CliError(
      "usage",
      `${verb} needs one agent: ${Object.keys(INSTALL_AGENTS).join(", ")} (bun cli.ts ${verb} codex [--dry-run])${name && rest.length === 0 ? `; got "${name}"` : ""}`,
    );
  }
  const agent = name as InstallAgent;
  const plan = PLANNERS[agent](target, install);
  const pending = plan.changes.filter(changed);
  if (pending.length === 0) {
    const where = plan.changes.map((c) => c.path).join(", ") || "its config";
    ctx.out(
      install
        ? `claude-peers is already installed for ${LABELS[agent]} (${where}): nothing changed`
        : `claude-peers is not installed for ${LABELS[agent]} (${where}): nothing changed`,
    );
    return 0;
  }
  if (values["dry-run"]) {
    for (const change of pending) for (const line of previewChange(change)) ctx.out(line);
    ctx.out(`dry run: ${pending.length} file${pending.length === 1 ? "" : "s"} would change; nothing was written`);
    return 0;
  }
  const now = new Date(ctx.now());
  for (const change of pending) {
    const backup = applyChange(change, now);
    ctx.out(`${change.before === null ? "created" : "updated"} ${change.path}${backup ? ` (the old one is ${backup})` : ""}`);
  }
  ctx.out(
    install ? `claude-peers is installed for ${LABELS[agent]}.` : `claude-peers is removed from ${LABELS[agent]}; everything else in those files is as it was.`,
  );
  if (install) for (const line of plan.next) ctx.out(line);
  // The broker serves every agent's sessions and runs until stopped; uninstall does not stop it.
  else ctx.out("The claude-peers broker keeps running until you stop it: bun cli.ts kill-broker (in the claude-peers folder).");
  return 0;
}
