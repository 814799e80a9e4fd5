/** What every agent's install writes: this checkout's server and hook, run by this Bun, by absolute path. */
import { join, resolve } from "node:path";
import type { Agent } from "../../agents.ts";
import type { FileChange } from "./files.ts";
import { shellQuote } from "./files.ts";

export interface InstallTarget {
  home: string;
  /** The environment the agents' own variables are read from (CODEX_HOME, GEMINI_CLI_HOME, CLAUDE_CONFIG_DIR). */
  env: Record<string, string | undefined>;
  /** Absolute path of the bun that runs the server and the hook. */
  bun: string;
  /** This checkout (where server.ts and cli.ts are). */
  root: string;
}

/** The agents `install` knows, by the name people type. */
export const INSTALL_AGENTS = { claude: "claude-code", codex: "codex", gemini: "gemini" } as const satisfies Record<string, Agent>;
export type InstallAgent = keyof typeof INSTALL_AGENTS;

/**
 * The claude-peers settings an agent passes on to the server: Codex CLI gives an MCP server only a
 * short list of its own variables (HOME, PATH, USER…) plus those an entry names, so these are named.
 */
export const FORWARDED_ENV = [
  "CLAUDE_PEERS_PORT",
  "CLAUDE_PEERS_DB",
  "CLAUDE_PEERS_NAME",
  "CLAUDE_PEERS_HOST",
  "CLAUDE_PEERS_GROUPS",
  "CLAUDE_PEERS_PUSH",
] as const;

/** The MCP server name in every agent's config. */
export const ENTRY_NAME = "claude-peers";

export function serverArgs(t: InstallTarget): string[] {
  return [resolve(t.root, "server.ts")];
}

/** The hook's command line, as the agents' shells run it. */
export function hookCommand(t: InstallTarget, ...args: string[]): string {
  return [t.bun, join(resolve(t.root), "cli.ts"), "hook", ...args].map(shellQuote).join(" ");
}

/**
 * The hook behind the shell test of the mail flag (broker/mail-flags.ts) that the plugin's
 * PostToolUse and Stop hooks use: with the session's id in `idVar`, a flag folder, and no flag for
 * that id, no mail waits and Bun is not started. It fails open: without the id or the folder, Bun runs.
 */
export function flaggedHookCommand(t: InstallTarget, idVar: string): string {
  const flag = `"$HOME/.claude-peers-mail/$${idVar}"`;
  return `[ -n "$${idVar}" ] && [ -d "$HOME/.claude-peers-mail" ] && [ ! -e ${flag} ] && exit 0; exec ${hookCommand(t)}`;
}

/** The session's stake file (broker/edit-flags.ts), for the id in the variable `idVar`. */
const stakeFile = (idVar: string) => `"$HOME/.claude-peers-edits/stakes-$${idVar}"`;

/** Sets s=0 when none of the names in the stake file "$f" is in the input "$i" (left as it is otherwise). */
const SEARCH_STAKES = `if [ \${#i} -gt 16384 ]; then printf %s "$i" | grep -qF -f "$f"; [ $? = 1 ] && s=0; else { s=0; while IFS= read -r n || [ -n "$n" ]; do case $i in *"$n"*) s=1; break;; esac; done; } < "$f"; fi`;

/**
 * The pre-edit hook behind a search of its input for the names in the session's stake file: with the
 * session's id in `idVar` and a stake file that is empty (nobody else has a stake in the repository),
 * or none of whose names is in the input, `command` (Bun) is not started. Shell builtins do the search
 * (a `case` per name: no process); an input over 16 KiB (a large Write) goes through one `grep -F`.
 * Any doubt (no id, no file, a name found, the file gone or unreadable meanwhile, grep failing) runs
 * `command`, with the input it read.
 */
export function stakeGatedCommand(idVar: string, command: string): string {
  const id = `"$${idVar}"`;
  return [
    `f=${stakeFile(idVar)}; [ -n ${id} ] && [ -f "$f" ] && [ ! -s "$f" ] && exit 0; i=$(cat); s=1`,
    `if [ -n ${id} ] && [ -f "$f" ]; then ${SEARCH_STAKES}; fi`,
    `[ $s = 0 ] && exit 0; printf %s "$i" | exec ${command}`,
  ].join("; ");
}

/** The post-shell hook, skipped while the session's stake file is there and empty: nobody else has a stake in its repository. */
export function shellGatedCommand(idVar: string, command: string): string {
  return `f=${stakeFile(idVar)}; [ -n "$${idVar}" ] && [ -f "$f" ] && [ ! -s "$f" ] && exit 0; exec ${command}`;
}

/**
 * Reads the hook's input into i and the session id in its `"session_id":"…"` into id (Codex gives its
 * hooks no session id in their environment). Builtins only: a prefix and a suffix cut. The id goes into
 * a path, so anything but letters, digits, `_` and `-` (as the broker takes ids: config.ts) leaves it
 * empty, and then Bun runs. The first `"session_id":` is the hook's own: inside a string (a patch that
 * mentions it), JSON escapes its quotes.
 */
const READ_INPUT_ID = [
  `i=$(cat); id=; case $i in *'"session_id":'*) id=\${i#*'"session_id":'}; id=\${id#' '}; case $id in '"'*) id=\${id#'"'}; id=\${id%%'"'*};; *) id=;; esac;; esac`,
  `case $id in *[!A-Za-z0-9_-]*) id=;; esac; f="$HOME/.claude-peers-edits/stakes-$id"; s=1`,
].join("; ");

/** stakeGatedCommand for an agent whose hooks learn their session id only from their input (Codex). */
export function stakeGatedInputCommand(command: string): string {
  return `${READ_INPUT_ID}; if [ -n "$id" ] && [ -f "$f" ]; then ${SEARCH_STAKES}; fi; [ $s = 0 ] && exit 0; printf %s "$i" | exec ${command}`;
}

/** shellGatedCommand for an agent whose hooks learn their session id only from their input (Codex). */
export function shellGatedInputCommand(command: string): string {
  return `${READ_INPUT_ID}; [ -n "$id" ] && [ -f "$f" ] && [ ! -s "$f" ] && exit 0; printf %s "$i" | exec ${command}`;
}

/** One agent's planned install or uninstall: the file changes, and what to tell the person afterwards. */
export interface Plan {
  agent: InstallAgent;
  changes: FileChange[];
  /** Lines printed after a real install (what delivery the agent gets, how to check). */
  next: string[];
}
