/**
 * `bun cli.ts install claude`: what `claude mcp add --scope user` and README's hook step give, in
 * one command: the user-scope MCP entry in Claude Code's .claude.json (CLAUDE_CONFIG_DIR, else the
 * home folder) and the plugin's hooks (plugin/hooks/hooks.json, with its path filled in) in its
 * settings.json. Refused while the claude-peers plugin is enabled: each session would run two servers.
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
    if (mcpBefore !== null && isOurs(existing))
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
  if (existing !== undefined && !isOurs(existing)) {
    throw new CliError(
      "bad_config",
      `${paths.mcp} already has a user-scope MCP server named ${ENTRY_NAME} that does not run a server.ts: \`claude mcp remove --scope user ${ENTRY_NAME}\`, then run install again (nothing was changed)`,
    );
  }
  const entry = { type: "stdio", command: t.bun, args: serverArgs(t), env: {} };
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

/** A user-scope entry that runs a server.ts: this installer's, or one `claude mcp add` made as README says. */
function isOurs(entry: unknown): boolean {
  const args = (entry as { args?: unknown } | undefined)?.args;
  return Array.isArray(args) && args.some((a) => typeof a === "string" && a.endsWith("server.ts"));
}
