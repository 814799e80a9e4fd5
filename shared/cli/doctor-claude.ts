/**
 * doctor's checks of Claude Code's own config: how claude-peers is registered (plugin or `claude mcp
 * add`), its hooks, whether what is registered starts, and which running sessions asked for channels.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PLUGIN_NAME, channelsRequested } from "../channel-flag.ts";
import { SERVER_NAME } from "../instructions.ts";
import type { CliContext } from "./context.ts";
import type { Check } from "./doctor.ts";
import { launchHook, launchServer, stdioEntry } from "./doctor-launch.ts";
import { installedByUs } from "./install/claude.ts";

export interface ClaudeConfig {
  /** Where Claude Code keeps settings.json and plugins/ (CLAUDE_CONFIG_DIR, else ~/.claude). */
  dir: string;
  /** .claude.json: user and local MCP servers. */
  state: Record<string, unknown> | null;
  settings: Record<string, unknown> | null;
  statePath: string;
}

export function claudeConfig(ctx: CliContext): ClaudeConfig {
  const fromEnv = process.env.CLAUDE_CONFIG_DIR;
  const dir = fromEnv || join(ctx.home || homedir(), ".claude");
  const statePath = fromEnv ? join(fromEnv, ".claude.json") : join(ctx.home || homedir(), ".claude.json");
  return { dir, statePath, state: readJsonObject(statePath), settings: readJsonObject(join(dir, "settings.json")) };
}

/** The claude-peers entries `claude mcp add` wrote (user, local or project scope), where each is. */
function mcpEntries(c: ClaudeConfig, cwd: string): Array<{ scope: string; entry: unknown }> {
  const found: Array<{ scope: string; entry: unknown }> = [];
  const userServers = record(c.state?.mcpServers);
  if (userServers && SERVER_NAME in userServers) found.push({ scope: `user scope (${c.statePath})`, entry: userServers[SERVER_NAME] });
  const local = record(record(record(c.state?.projects)?.[cwd])?.mcpServers);
  if (local && SERVER_NAME in local) found.push({ scope: `local scope for ${cwd}`, entry: local[SERVER_NAME] });
  const project = record(readJsonObject(join(cwd, ".mcp.json"))?.mcpServers);
  if (project && SERVER_NAME in project) found.push({ scope: `project scope (${join(cwd, ".mcp.json")})`, entry: project[SERVER_NAME] });
  return found;
}

/** How claude-peers is registered: the plugin, `claude mcp add` (user, local or project scope), or both. */
export function registrationCheck(c: ClaudeConfig, cwd: string): Check {
  const plugin = pluginKeys(c);
  const mcp = mcpEntries(c, cwd).map((e) => e.scope);
  const name = "registration";
  if (plugin.length && mcp.length) {
    return {
      name,
      status: "warn",
      detail: `both the plugin (${plugin.join(", ")}) and \`claude mcp add\` (${mcp.join(", ")}): every session runs two claude-peers servers`,
      fix: `keep one: claude mcp remove ${SERVER_NAME}, or claude plugin uninstall ${plugin[0]}`,
    };
  }
  if (plugin.length) return { name, status: "ok", detail: `the plugin ${plugin.join(", ")} (server, hooks and skill)` };
  if (mcp.length) return { name, status: "ok", detail: `\`claude mcp add\`: ${mcp.join(", ")}` };
  return { name, status: "warn", detail: "claude-peers is not registered with Claude Code here", fix: "install the plugin (README), or run bun cli.ts install claude" };
}

/**
 * Runs what Claude Code will run: each registered server's command and the hooks' commands in
 * settings.json. The fix is the one command that mends it: install again where install wrote it.
 */
export async function launchCheck(c: ClaudeConfig, cwd: string): Promise<Check> {
  const name = "launch";
  const failures: string[] = [];
  let fix = "bun cli.ts install claude";
  let ran = 0;
  for (const { scope, entry } of mcpEntries(c, cwd)) {
    const stdio = stdioEntry(entry);
    if (!stdio) continue;
    ran++;
    const failed = await launchServer(stdio, cwd);
    if (!failed) continue;
    failures.push(`the server registered in ${scope}: ${failed}`);
    if (!installedByUs(entry)) {
      fix = `claude mcp remove --scope user ${SERVER_NAME}, then bun cli.ts install claude (or claude mcp add it again with the paths of today's Bun and clone)`;
    }
  }
  for (const command of ourHookCommands(c)) {
    ran++;
    const failed = await launchHook(command, cwd);
    if (failed) failures.push(`a hook in ${join(c.dir, "settings.json")}: ${failed}`);
  }
  if (failures.length) return { name, status: "fail", detail: `Claude Code cannot start what is registered: ${failures.join("; ")}`, fix };
  if (ran === 0) return { name, status: "info", detail: "nothing of claude-peers registered in Claude Code's config files to run (the plugin's copy runs as Claude Code installed it)" };
  return { name, status: "ok", detail: `ran the registered server and ${ran - mcpEntries(c, cwd).length} hook command(s) as Claude Code will: each started` };
}

/** The hook commands in settings.json that run claude-peers (install's, or README's by hand); each distinct one once. */
function ourHookCommands(c: ClaudeConfig): string[] {
  const commands = new Set<string>();
  for (const groups of Object.values(record(c.settings?.hooks) ?? {})) {
    for (const group of Array.isArray(groups) ? groups : []) {
      for (const hook of Array.isArray(group?.hooks) ? group.hooks : []) {
        if (typeof hook?.command === "string" && OUR_HOOK.test(hook.command)) commands.add(hook.command);
      }
    }
  }
  return [...commands];
}

function pluginKeys(c: ClaudeConfig): string[] {
  const enabled = record(c.settings?.enabledPlugins) ?? {};
  return Object.entries(enabled)
    .filter(([key, on]) => key.startsWith(`${PLUGIN_NAME}@`) && on === true)
    .map(([key]) => key);
}

/** A claude-peers hook command, as install writes it or README shows it (JSON-escaped quotes allowed). */
const OUR_HOOK = /cli\.ts\\?"? hook|claude-peers hook/;

/** The hooks come with the plugin; a `claude mcp add` install needs them in settings.json. */
export function hooksCheck(c: ClaudeConfig): Check {
  if (pluginKeys(c).length) return { name: "hooks", status: "ok", detail: "from the plugin (hooks/hooks.json)" };
  const hooks = JSON.stringify(c.settings?.hooks ?? {});
  if (OUR_HOOK.test(hooks)) return { name: "hooks", status: "ok", detail: `in ${join(c.dir, "settings.json")}` };
  return {
    name: "hooks",
    status: "info",
    detail: "no claude-peers hooks: where channels are off, mail reaches Claude only when it calls check_messages",
    fix: "install the plugin, or add the hooks to settings.json (README: Which delivery works where)",
  };
}

/** The Claude Code processes running now, and which were started with channel push for claude-peers. */
export function channelFlagCheck(): Check {
  const running: boolean[] = [];
  for (const entry of existsSync("/proc") ? safeReaddir("/proc") : []) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    // The native binary (…/claude), or npm's (node …/@anthropic-ai/claude-code/cli.js).
    if (!argv.some((a, i) => i < 2 && (/(^|\/)claude(\.exe)?$/.test(a) || a.includes("@anthropic-ai/claude-code")))) continue;
    running.push(channelsRequested(argv.join(" ")));
  }
  if (running.length === 0) return { name: "channel flag", status: "info", detail: "no Claude Code running now" };
  const flagged = running.filter(Boolean).length;
  return {
    name: "channel flag",
    status: "info",
    detail: `${running.length} Claude Code process${running.length === 1 ? "" : "es"} running, ${flagged} with channel push for claude-peers (--dangerously-load-development-channels server:${SERVER_NAME}, or the claudepeers alias)`,
  };
}

// ---- small helpers -----------------------------------------------------------------------------

function readJsonObject(path: string): Record<string, unknown> | null {
  try {
    return record(JSON.parse(readFileSync(path, "utf8")));
  } catch {
    return null;
  }
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
