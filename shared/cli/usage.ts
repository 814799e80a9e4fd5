/** The CLI's options (for util.parseArgs) and its usage text. */

export const OPTIONS = {
  json: { type: "boolean" },
  scope: { type: "string" },
  limit: { type: "string" },
  peer: { type: "string" },
  discard: { type: "boolean" },
  "no-open": { type: "boolean" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export type OptionName = keyof typeof OPTIONS;

export interface CliOptions {
  json?: boolean;
  scope?: string;
  limit?: string;
  peer?: string;
  discard?: boolean;
  "no-open"?: boolean;
  "dry-run"?: boolean;
  help?: boolean;
}

export const USAGE = `claude-peers: see and drive the network of coding-agent sessions (Claude Code, Codex, Gemini CLI) from a terminal

usage: bun cli.ts <command> [options]      (after \`bun link\` in the clone: claude-peers <command> [options])

commands:
  status                           broker address, version, pid, uptime, database, host, peer and message counts
  peers [--scope S]                live peers; S is machine (default), network, directory or repo
  send <peer> <message...>         send to a peer id, name or name@host, '#group' (its members) or '*' (every
                                   live session here); it comes from "cli"
  groups                           every group and its members
  edits                            who is editing what: live sessions' recent edits and claims (! a collision)
  release <a> <b> [--discard]      deliver, in order, the mail held between two peers that wrote to each other
                                   too often with no person in between (--discard: throw it away)
  retract <message id>             withdraw a message not yet read, whoever sent it
  pause <peer> / resume <peer>     hold a session's inbound mail (yours still goes through) / release it, in order
  dashboard [--no-open]            the operator console: prints a one-time login URL (last line) and opens a
                                   browser when there is one
  history [--limit N] [--peer P]   recent messages, oldest first; N is 1 to 1000 (default 50), P an id or name
  watch                            print messages and peers joining or leaving as it happens, until Ctrl-C
  kill-broker                      stop the broker; running sessions start a new one when they need it
  doctor                           check this install (Bun, Claude Code, registration, hooks, broker, file
                                   modes, store, this shell's session) and say what to fix; exit 1 if wrong
  install <agent> [--dry-run]      add the claude-peers MCP server and its delivery hooks to an agent's user config:
                                   claude, codex or gemini; keeps what is there, backs each file up beside it
                                   (--dry-run: print the change, write nothing)
  install git-guard [--dry-run]    in a repository: a pre-commit hook that warns when a commit stages files another
                                   live session edited and this one did not (CLAUDE_PEERS_GIT_GUARD=block refuses)
  uninstall <agent> [--dry-run]    remove exactly what install added (uninstall git-guard: the pre-commit hook)
  hook                             for the agents' hooks (Claude Code, Codex, Gemini CLI): reads the hook's JSON on
                                   stdin, prints this session's unread peer mail as hook output and marks it read
                                   (hook --edits: the edit collision hook; hook --git-guard: the pre-commit guard)
  help                             this text

options:
  --json       machine-readable output on stdout (status, peers, groups, edits, history, send, release,
               retract, pause, resume, doctor; watch: one JSON line per event)
  --dry-run    install, uninstall: show the change to each file and write nothing
  -h, --help   this text

environment:
  CLAUDE_PEERS_PORT   the operator console's port on 127.0.0.1 (default 7899 + uid % 2000); the rest is a Unix socket
  CLAUDE_PEERS_DB     the broker's SQLite database (default ~/.claude-peers.db); its token is <database>.token
  CLAUDE_PEERS_AGENT  the agent a server runs in: claude-code (default), codex, gemini (install writes it)
  CODEX_HOME, GEMINI_CLI_HOME, CLAUDE_CONFIG_DIR   where install finds each agent's config, as the agent does

exit codes: 0 success, 1 failure, 2 bad command or option`;
