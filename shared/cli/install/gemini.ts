/**
 * `bun cli.ts install gemini`: Gemini CLI's MCP entry and delivery hooks, both in its user
 * settings.json (GEMINI_CLI_HOME, else the home folder, then .gemini/settings.json): `mcpServers`
 * and `hooks` (SessionStart, BeforeAgent, AfterTool, AfterAgent; and the edit hook on BeforeTool
 * and AfterTool of write_file and replace, and on AfterTool of run_shell_command). Gemini CLI reads that file with
 * comments allowed; claude-peers rewrites only plain JSON, so a file with comments is refused.
 */
import { join, resolve } from "node:path";
import { CliError } from "../errors.ts";
import { readConfigText } from "./files.ts";
import { hooksTable, jsonText, parseJsonObject, withOurHooks, withoutOurHooks, type HookGroup } from "./hooks-json.ts";
import { ENTRY_NAME, flaggedHookCommand, hookCommand, serverArgs, shellGatedCommand, stakeGatedCommand, type InstallTarget, type Plan } from "./target.ts";

/** Gemini CLI's tools that write files (a regular expression on the tool name). */
const EDIT_TOOLS = "^(write_file|replace)$";
/** Its shell tool: what a command changed is found after it (shell-changes.ts). */
const SHELL_TOOLS = "^run_shell_command$";
/** Milliseconds (Gemini CLI's unit): a hook with no broker gives up after 750 ms. */
const HOOK_TIMEOUT_MS = 5000;

export function geminiSettingsPath(t: InstallTarget): string {
  return join(resolve(t.env.GEMINI_CLI_HOME?.trim() || t.home), ".gemini", "settings.json");
}

export function planGemini(t: InstallTarget, install: boolean): Plan {
  const path = geminiSettingsPath(t);
  const before = readConfigText(path);
  const settings = parseJsonObject(
    before,
    path,
    " (Gemini CLI allows comments there; claude-peers rewrites plain JSON only: remove them, or add the entries by hand as README's Gemini CLI section shows)",
  );
  const table = hooksTable(settings.hooks, path);
  const servers = objectAt(settings, "mcpServers", path);
  const { [ENTRY_NAME]: existing, ...otherServers } = servers;

  if (!install) {
    if (before === null) return { agent: "gemini", changes: [], next: [] };
    const after: Record<string, unknown> = { ...settings, hooks: withoutOurHooks(table) };
    if (isOurs(existing)) after.mcpServers = otherServers;
    // What install added and nothing else holds goes with it.
    for (const key of ["hooks", "mcpServers"]) if (Object.keys(after[key] as object).length === 0) delete after[key];
    return { agent: "gemini", changes: [{ path, before, after: jsonText(before, after) }], next: [] };
  }

  if (existing !== undefined && !isOurs(existing)) {
    throw new CliError(
      "bad_config",
      `${path} already has mcpServers.${ENTRY_NAME}, not written by \`bun cli.ts install gemini\`: remove it, then run install again (nothing was changed)`,
    );
  }
  if ((settings.hooksConfig as { enabled?: unknown } | undefined)?.enabled === false) {
    throw new CliError(
      "bad_config",
      `${path} turns Gemini CLI's hooks off (hooksConfig.enabled = false), and peer mail reaches Gemini only through them: remove that or set it to true, then run install again (nothing was changed)`,
    );
  }
  const group = (command: string): HookGroup => ({ hooks: [{ type: "command", name: ENTRY_NAME, command, timeout: HOOK_TIMEOUT_MS }] });
  // SessionStart and BeforeAgent always start Bun: the first ties the session id to its server (by
  // ancestry), the second tells the broker a turn began. AfterTool and AfterAgent, which run far more
  // often, test the mail flag of GEMINI_SESSION_ID (Gemini CLI sets it for hooks) first.
  const flagged = flaggedHookCommand(t, "GEMINI_SESSION_ID");
  // The edit hook (edit collisions) on Gemini's file-writing tools: BeforeTool may refuse an edit once,
  // AfterTool records it and carries the warning (BeforeTool cannot add context).
  const editGroup = (matcher: string, command: string): HookGroup => ({ matcher, hooks: [{ type: "command", name: `${ENTRY_NAME}-edits`, command, timeout: HOOK_TIMEOUT_MS }] });
  const edits = editGroup(EDIT_TOOLS, hookCommand(t, "--edits"));
  // Before an edit, Bun starts only when the edit names a file in the session's stake file (or in doubt);
  // after a shell command, only when another session has a stake in the repository (edit-flags.ts).
  const hooks = {
    SessionStart: group(hookCommand(t)),
    BeforeAgent: group(hookCommand(t)),
    BeforeTool: editGroup(EDIT_TOOLS, stakeGatedCommand("GEMINI_SESSION_ID", hookCommand(t, "--edits"))),
    AfterTool: [group(flagged), edits, editGroup(SHELL_TOOLS, shellGatedCommand("GEMINI_SESSION_ID", hookCommand(t, "--edits")))],
    AfterAgent: group(flagged),
  };
  const ours = { command: t.bun, args: serverArgs(t), env: { CLAUDE_PEERS_AGENT: "gemini" } };
  const after = {
    ...settings,
    mcpServers: { ...servers, [ENTRY_NAME]: ours },
    hooks: withOurHooks(table, hooks).table,
  };
  return {
    agent: "gemini",
    changes: [{ path, before, after: jsonText(before, after) }],
    next: [
      "Gemini CLI: `gemini mcp list` shows claude-peers; new sessions get peer mail through their hooks (SessionStart, BeforeAgent, AfterTool, AfterAgent).",
    ],
  };
}

/** An entry this installer wrote: it runs a server.ts and says it runs in Gemini CLI. */
function isOurs(entry: unknown): boolean {
  const e = entry as { args?: unknown; env?: { CLAUDE_PEERS_AGENT?: unknown } } | undefined;
  return Array.isArray(e?.args) && e.args.some((a) => typeof a === "string" && a.endsWith("server.ts")) && e.env?.CLAUDE_PEERS_AGENT === "gemini";
}

function objectAt(settings: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = settings[key];
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError("bad_config", `${path}: "${key}" is not an object; fix it, then run this again (nothing was changed)`);
  }
  return value as Record<string, unknown>;
}
