/**
 * `bun cli.ts install claude`: what `claude mcp add --scope user` and README's hook step give, in
 * one command: the user-scope MCP entry in Claude Code's .claude.json (CLAUDE_CONFIG_DIR, else the
 * home folder) and the plugin's hooks (plugin/hooks/hooks.json, with its path filled in) in its
 * settings.json. Refused while the claude-peers plugin is enabled (each session would run two servers)
 * and over a user's own entry of that name, which uninstall leaves alone too.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError } from "../errors.ts";
import { readConfigText } from "./files.ts";
import { hooksTable, jsonText, parseJsonObject, withOurHooks, withoutOurHooks, type HookGroup } from "./hooks-json.ts";
import { ENTRY_NAME, hookCommand, serverArgs, type InstallTarget, type Plan } from "./target.ts";

const PLUGIN = "peers@claude-peers";

export function claudePaths(t: InstallTarget): { mcp: string; settings: string } {
  const dir = t.env.CLAUDE_CONFIG_DIR?.trim();
  return dir
    ? { mcp: join(resolve(dir), ".claude.json"), settings: join(resolve(dir), "settings.json") }
    : { mcp: join(t.home, ".claude.json"), settings: join(t.home, ".claude", "settings.json") };
}

export function planClaude(t: InstallTarget, install: boolean): Plan {
  const paths = claudePaths(t);
  const mcpBefore = readConfigText(paths.mcp);
  const settingsBefore = readConfigText(paths.settings);
  const state = parseJsonObject(mcpBefore, paths.mcp);
  const settings = parseJsonObject(settingsBefore, paths.settings);
  const table = hooksTable(settings.hooks, paths.settings);
  const servers = (state.mcpServers ?? {}) as Record<string, unknown>;
  const { [ENTRY_NAME]: existing, ...otherServers } = servers;

  if (!install) {
    const changes = [];
    if (mcpBefore !== null && isOurs(existing, t))
      changes.push({ path: paths.mcp, before: mcpBefore, after: jsonText(mcpBefore, { ...state, mcpServers: otherServers }) });
    if (settingsBefore !== null) {
      const hooks = withoutOurHooks(table);
      const after: Record<string, unknown> = { ...settings, hooks };
      if (Object.keys(hooks).length === 0) delete after.hooks;
      changes.push({ path: paths.settings, before: settingsBefore, after: jsonText(settingsBefore, after) });
    }
    return { agent: "claude", changes, next: [] };
  }

  if ((settings.enabledPlugins as Record<string, unknown> | undefined)?.[PLUGIN] === true) {
    throw new CliError(
      "bad_config",
      `the claude-peers plugin is enabled (${paths.settings}: enabledPlugins "${PLUGIN}"), and it already gives every session the server and the hooks: keep it, or \`claude plugin uninstall ${PLUGIN}\` first (nothing was changed)`,
    );
  }
  if (existing !== undefined && !isOurs(existing, t)) {
    throw new CliError(
      "bad_config",
      `${paths.mcp} already has a user-scope MCP server named ${ENTRY_NAME} of your own (\`claude mcp add\`), which install will not take over: keep it, or \`claude mcp remove --scope user ${ENTRY_NAME}\` and run install again (nothing was changed)`,
    );
  }
  const entry = { type: "stdio", command: t.bun, args: serverArgs(t), env: INSTALLED_MARK };
  const after = withOurHooks(table, pluginHooks(t)).table;
  return {
    agent: "claude",
    changes: [
      { path: paths.mcp, before: mcpBefore, after: jsonText(mcpBefore, { ...state, mcpServers: { ...servers, [ENTRY_NAME]: entry } }) },
      { path: paths.settings, before: settingsBefore, after: jsonText(settingsBefore, { ...settings, hooks: after }) },
    ],
    next: [
      "Claude Code: `claude mcp list` shows claude-peers Connected; new sessions get peer mail by hooks, and idle ones are woken by the waiter.",
      "For channel push as well, start sessions with `claude --dangerously-load-development-channels server:claude-peers`.",
      "The Agent Skill (SKILL.md) is not installed by this; the plugin brings it, or: mkdir -p ~/.claude/skills/claude-peers && cp SKILL.md ~/.claude/skills/claude-peers/",
    ],
  };
}

/** The plugin's hooks (one source of truth), run by this Bun from this checkout. */
function pluginHooks(t: InstallTarget): Record<string, HookGroup[]> {
  // A clone has plugin/hooks/hooks.json; Claude Code's copy of the plugin has it at hooks/hooks.json.
  const inClone = join(t.root, "plugin", "hooks", "hooks.json");
  const path = existsSync(inClone) ? inClone : join(t.root, "hooks", "hooks.json");
  const file = JSON.parse(readFileSync(path, "utf8")) as { hooks: Record<string, HookGroup[]> };
  const ours = (command: string) =>
    command.replace(/bun "\$\{CLAUDE_PLUGIN_ROOT\}\/cli\.ts" hook( --wait| --edits)?$/, (_, flag: string | undefined) => hookCommand(t, ...(flag ? [flag.trim()] : [])));
  return Object.fromEntries(
    Object.entries(file.hooks).map(([event, groups]) => [event, groups.map((group) => ({ ...group, hooks: group.hooks.map((h) => ({ ...h, command: ours(h.command) })) }))]),
  );
}

/**
 * Marks the entry install wrote (Claude Code keeps an entry's env as written and hands it to the
 * server, which ignores it): a user's own `claude mcp add` entry has no such mark, so install never
 * takes it over and uninstall never removes it.
 */
const INSTALLED_MARK = { CLAUDE_PEERS_INSTALLED_BY: "bun cli.ts install claude" };

/** An mcpServers entry that carries install's mark. */
export function installedByUs(entry: unknown): boolean {
  return (entry as { env?: Record<string, unknown> } | undefined)?.env?.CLAUDE_PEERS_INSTALLED_BY === INSTALLED_MARK.CLAUDE_PEERS_INSTALLED_BY;
}

/** The entry install wrote: marked, or (from an installer before the mark) exactly this Bun and server.ts. */
function isOurs(entry: unknown, t: InstallTarget): boolean {
  const e = entry as { command?: unknown; args?: unknown } | undefined;
  return installedByUs(entry) || (e?.command === t.bun && Bun.deepEquals(e.args, serverArgs(t)));
}
