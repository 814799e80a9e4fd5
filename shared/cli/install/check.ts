/**
 * What `bun cli.ts doctor` says of Codex CLI and Gemini CLI, for each whose config folder exists:
 * installed as `install` would write it now, installed but stale (this checkout moved, or hooks
 * reordered: Codex trusts a hook by its place), or not installed. It plans an install and changes nothing.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../../errors.ts";
import { codexHome, planCodex } from "./codex.ts";
import { changed } from "./files.ts";
import { geminiSettingsPath, planGemini } from "./gemini.ts";
import { isOurHookCommand } from "./hooks-json.ts";
import { ENTRY_NAME, type InstallTarget, type Plan } from "./target.ts";

export interface AgentCheck {
  name: string;
  status: "ok" | "info" | "warn";
  detail: string;
  fix?: string;
}

const AGENTS = [
  { agent: "codex", label: "Codex CLI", folder: (t: InstallTarget) => codexHome(t), plan: planCodex },
  { agent: "gemini", label: "Gemini CLI", folder: (t: InstallTarget) => dirname(geminiSettingsPath(t)), plan: planGemini },
] as const;

export function otherAgentChecks(t: InstallTarget): AgentCheck[] {
  const checks: AgentCheck[] = [];
  for (const { agent, label, folder, plan } of AGENTS) {
    if (!existsSync(folder(t))) continue; // that agent is not used here
    const name = agent;
    const fix = `bun cli.ts install ${agent}`;
    let wanted: Plan;
    try {
      wanted = plan(t, true);
    } catch (err) {
      checks.push({ name, status: "warn", detail: `${label}: ${errorMessage(err)}`, fix: "fix that file, then run " + fix });
      continue;
    }
    const stale = wanted.changes.filter(changed);
    if (stale.length === 0) checks.push({ name, status: "ok", detail: `${label}: claude-peers installed (${wanted.changes.map((c) => c.path).join(", ")})` });
    else if (wanted.changes.some((c) => c.before !== null && mentionsUs(c.before))) {
      checks.push({
        name,
        status: "warn",
        detail: `${label}: claude-peers is installed, but not as this checkout writes it now (${stale.map((c) => c.path).join(", ")})`,
        fix,
      });
    } else checks.push({ name, status: "info", detail: `${label}: claude-peers not installed (\`${fix}\` adds it)` });
  }
  return checks;
}

/** Whether a config file holds an entry or hook of ours at all. */
function mentionsUs(text: string): boolean {
  return (
    text.includes(`mcp_servers.${ENTRY_NAME}]`) || text.includes(`"${ENTRY_NAME}"`) || text.split(/["\n]/).some((s) => isOurHookCommand(s.replace(/\\"/g, '"')))
  );
}
