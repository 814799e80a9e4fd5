/** What every command gets (config, streams, clock) and how it finds the broker without starting one. */
import { socketPathProblem, unsafeSocketMessage } from "../broker-address.ts";
import { BrokerClient } from "../broker-client.ts";
import { probeBroker, type Probe } from "../broker-probe.ts";
import type { Config } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { Health } from "../protocol.ts";
import { readToken } from "../token.ts";
import { CliError } from "./errors.ts";
import type { Paint } from "./format.ts";

export interface CliContext {
  config: Config;
  /** Where "directory" and "repo" scopes are measured from. */
  cwd: string;
  /** Shown as "~" in paths. */
  home: string;
  /** One line to stdout (the command's result). */
  out: (line: string) => void;
  /** One line to stderr (errors, progress). */
  err: (line: string) => void;
  paint: Paint;
  /** Terminal width when stdout is a TTY; tables then fit it. */
  columns: number | undefined;
  now: () => number;
  /** Aborted on Ctrl-C / SIGTERM; long-running commands (watch) stop cleanly. */
  signal: AbortSignal;
  fetch?: typeof fetch;
}

export interface Connected {
  client: BrokerClient;
  health: Health;
}

export function noBrokerMessage(socketPath: string): string {
  return `no claude-peers broker on ${socketPath}; it starts with the first Claude Code session, or run \`bun broker.ts\``;
}

export function foreignSocketMessage(socketPath: string, detail: string): string {
  return `${socketPath} is held by a program that is not a claude-peers broker (${detail}); stop that program, or remove the socket`;
}

/** Probes the socket and, when this user's broker answers, builds a client with the token; throws CliError otherwise. */
export async function connect(ctx: CliContext): Promise<Connected> {
  const pathProblem = socketPathProblem(ctx.config.socketPath);
  if (pathProblem) throw new CliError("no_broker", pathProblem);
  return clientFor(ctx, await probeBroker(ctx.config.socketPath, ctx.fetch));
}

export function clientFor(ctx: CliContext, probe: Probe): Connected {
  const { socketPath, tokenPath } = ctx.config;
  if (probe.kind === "none") throw new CliError("no_broker", noBrokerMessage(socketPath));
  if (probe.kind === "unsafe") throw new CliError("unsafe_socket", unsafeSocketMessage(probe.detail));
  if (probe.kind === "foreign") throw new CliError("foreign_socket", foreignSocketMessage(socketPath, probe.detail));
  let token: string | undefined;
  try {
    token = readToken(tokenPath);
  } catch (err) {
    throw new CliError("token_missing", errorMessage(err));
  }
  if (!token) {
    throw new CliError(
      "token_missing",
      `the broker on ${socketPath} (pid ${probe.health.pid}) answers, but there is no token file at ${tokenPath}; ` +
        "set CLAUDE_PEERS_DB to the database that broker uses (its token file is <database>.token)",
    );
  }
  return { client: new BrokerClient({ socketPath, token, fetch: ctx.fetch }), health: probe.health };
}
