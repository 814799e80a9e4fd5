/**
 * `bun cli.ts install codex`: Codex CLI's MCP entry and delivery hooks. config.toml (in CODEX_HOME,
 * else ~/.codex) gets one marked block: `[mcp_servers.claude-peers]`, `[features] hooks = true`
 * when the file has no features table yet, and the trust of the hooks it adds; hooks.json beside
 * it gets the four hooks. Bun parses TOML but cannot write it, so the block is edited as text and
 * the file is parsed before and after: what does not parse, or would not mean what it should, is
 * refused and left as it is.
 */
import { existsSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError } from "../errors.ts";
import { codexHookHash, codexHookKey } from "./codex-trust.ts";
import { readConfigText, type FileChange } from "./files.ts";
import { hooksTable, jsonText, parseJsonObject, withOurHooks, withoutOurHooks, type HookGroup } from "./hooks-json.ts";
import { ENTRY_NAME, FORWARDED_ENV, hookCommand, serverArgs, shellGatedInputCommand, stakeGatedInputCommand, type InstallTarget, type Plan } from "./target.ts";

const BEGIN = "# >>> claude-peers: written by `bun cli.ts install codex`; `bun cli.ts uninstall codex` removes it";
const END = "# <<< claude-peers <<<";
const BLOCK = /\n*# >>> claude-peers:[^\n]*\n[\s\S]*?\n# <<< claude-peers <<<\n?/;
const EVENTS = ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"] as const;
/** The tools whose edits the edit hook records: Codex's apply_patch, and edit tools named as Claude Code names them. */
const EDIT_TOOLS = "^(apply_patch|Edit|Write)$";
/** After: its shell tool (`Bash` in its hooks) too, whose changes the broker finds in the worktree (shell-changes.ts). */
const SHELL_TOOLS = "^Bash$";
/** Seconds: a hook with no broker gives up after 750 ms; this is Codex's limit for a stuck one. */
const HOOK_TIMEOUT_S = 5;

/**
 * Where Codex keeps its config, as it finds it (codex-rs/utils/home-dir): CODEX_HOME canonicalized,
 * else ~/.codex as it is. Hooks are trusted under that path, so it must be spelled the same way.
 */
export function codexHome(t: InstallTarget): string {
  const set = t.env.CODEX_HOME?.trim();
  if (!set) return join(t.home, ".codex");
  return existsSync(set) ? realpathSync(set) : resolve(set);
}

export function planCodex(t: InstallTarget, install: boolean): Plan {
  const home = codexHome(t);
  const configPath = join(home, "config.toml");
  const hooksPath = join(home, "hooks.json");
  const configBefore = readConfigText(configPath);
  const hooksBefore = readConfigText(hooksPath);
  const userConfig = (configBefore ?? "").replace(BLOCK, "\n").replace(/\n{3,}$/, "\n\n");
  const parsedUser = parseToml(userConfig, configPath);
  const hooksFile = parseJsonObject(hooksBefore, hooksPath);
  const table = hooksTable(hooksFile.hooks, hooksPath);

  if (!install) {
    const kept = withoutOurHooks(table);
    const hooksAfter = Object.keys(kept).length === 0 && Object.keys(hooksFile).length === 1 ? {} : { ...hooksFile, hooks: kept };
    return {
      agent: "codex",
      changes: [
        { path: configPath, before: configBefore, after: configBefore === null || !BLOCK.test(configBefore) ? (configBefore ?? "") : tidy(userConfig) },
        { path: hooksPath, before: hooksBefore, after: hooksBefore === null ? "" : jsonText(hooksBefore, hooksAfter) },
      ].filter((c) => c.before !== null),
      next: [],
    };
  }

  const servers = (parsedUser.mcp_servers ?? {}) as Record<string, unknown>;
  if (Object.hasOwn(servers, ENTRY_NAME)) {
    throw new CliError(
      "bad_config",
      `${configPath} already has [mcp_servers.${ENTRY_NAME}], not written by \`bun cli.ts install codex\`: remove that table, then run install again (nothing was changed)`,
    );
  }
  const features = parsedUser.features as Record<string, unknown> | undefined;
  if (features?.hooks === false) {
    throw new CliError(
      "bad_config",
      `${configPath} turns Codex's hooks off (features.hooks = false), and peer mail reaches Codex only through them: set it to true or remove it, then run install again (nothing was changed)`,
    );
  }

  const command = hookCommand(t);
  const group: HookGroup = { hooks: [{ type: "command", command, timeout: HOOK_TIMEOUT_S }] };
  // The edit hook (edit collisions) before and after apply_patch (and the Claude-named edit tools), and
  // after a shell command. Before an edit, Bun starts only when the patch names a file in the session's
  // stake file (or in doubt); after a shell command, only when another session has a stake in the
  // repository (broker/edit-flags.ts). Codex puts the session id only in the hook's input, so the shell
  // reads it there; it is the id the broker writes the stake file under (SessionStart's hook tied it
  // to the session's server: broker/hook-pairing.ts).
  const editCommand = hookCommand(t, "--edits");
  const edits = (matcher: string, command: string): HookGroup => ({ matcher, hooks: [{ type: "command", command, timeout: HOOK_TIMEOUT_S }] });
  const preEdit = edits(EDIT_TOOLS, stakeGatedInputCommand(editCommand));
  const postEdit = edits(EDIT_TOOLS, editCommand);
  const postShell = edits(SHELL_TOOLS, shellGatedInputCommand(editCommand));
  const merged = withOurHooks(table, { ...Object.fromEntries(EVENTS.map((e) => [e, group])), PreToolUse: preEdit, PostToolUse: [group, postEdit, postShell] });
  // A hook's trust covers its command text: a changed command is trusted anew here (the block is rewritten whole).
  const trust = (event: string, index: number, g: HookGroup) => ({ key: codexHookKey(hooksPath, event, index), hash: codexHookHash(event, g.hooks[0]!.command, HOOK_TIMEOUT_S, g.matcher) });
  const trusted = [
    ...EVENTS.map((e) => trust(e, merged.index[e]!, group)),
    trust("PreToolUse", merged.index.PreToolUse!, preEdit),
    trust("PostToolUse", merged.index.PostToolUse! + 1, postEdit),
    trust("PostToolUse", merged.index.PostToolUse! + 2, postShell),
  ];
  const block = [
    BEGIN,
    `[mcp_servers.${ENTRY_NAME}]`,
    `command = ${tomlString(t.bun)}`,
    `args = [${serverArgs(t).map(tomlString).join(", ")}]`,
    `env = { CLAUDE_PEERS_AGENT = "codex" }`,
    `env_vars = [${FORWARDED_ENV.map(tomlString).join(", ")}]`,
    // Stable and on by default in 0.171; said here so a config without it reads as what it needs.
    ...(features === undefined ? ["", "[features]", "hooks = true"] : []),
    ...trusted.flatMap(({ key, hash }) => ["", `[hooks.state.${tomlString(key)}]`, `trusted_hash = ${tomlString(hash)}`]),
    END,
  ].join("\n");
  const configAfter = `${tidy(userConfig)}${tidy(userConfig) ? "\n" : ""}${block}\n`;
  checkMerged(configAfter, configPath, t);

  return {
    agent: "codex",
    changes: [
      { path: configPath, before: configBefore, after: configBefore !== null && sameBlock(configBefore, configAfter) ? configBefore : configAfter },
      { path: hooksPath, before: hooksBefore, after: jsonText(hooksBefore, { ...hooksFile, hooks: merged.table }) },
    ],
    next: [
      "Codex CLI: `codex mcp list` shows claude-peers; new sessions get peer mail through their hooks (SessionStart, UserPromptSubmit, PostToolUse, Stop).",
    ],
  };
}

/** Parses TOML or says which file is broken and that nothing was changed. */
function parseToml(text: string, path: string): Record<string, unknown> {
  try {
    return Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CliError("bad_config", `${path} is not valid TOML (${(err as Error).message}); fix it, then run this again (nothing was changed)`);
  }
}

/** The merged file must parse and hold exactly our entry; else the user's TOML defines something the block collides with. */
function checkMerged(text: string, path: string, t: InstallTarget): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(
      "bad_config",
      `${path} could not be merged automatically (${(err as Error).message}): add [mcp_servers.${ENTRY_NAME}] by hand (README: Codex CLI), nothing was changed`,
    );
  }
  const entry = (parsed.mcp_servers as Record<string, { command?: unknown; args?: unknown }> | undefined)?.[ENTRY_NAME];
  if (entry?.command !== t.bun || !Bun.deepEquals(entry.args, serverArgs(t))) {
    throw new CliError(
      "bad_config",
      `${path} could not be merged automatically: add [mcp_servers.${ENTRY_NAME}] by hand (README: Codex CLI), nothing was changed`,
    );
  }
}

/** Whether the file already holds this very block (then it is left byte for byte). */
function sameBlock(before: string, after: string): boolean {
  return before.match(BLOCK)?.[0].trim() === after.match(BLOCK)?.[0].trim() && before.replace(BLOCK, "").trim() === after.replace(BLOCK, "").trim();
}

function tidy(text: string): string {
  const trimmed = text.replace(/\s+$/, "");
  return trimmed ? `${trimmed}\n` : "";
}

/** A TOML basic string: JSON's escapes are TOML's. */
function tomlString(value: string): string {
  return JSON.stringify(value);
}
