#!/usr/bin/env bun
/** The claude-peers CLI: see and drive the network from a terminal. Never starts a broker itself. */
import { homedir } from "node:os";
import { parseArgs } from "node:util";
import { COMMANDS, type Command } from "./shared/cli/commands.ts";
import type { CliContext } from "./shared/cli/context.ts";
import { CliError } from "./shared/cli/errors.ts";
import { makePaint } from "./shared/cli/format.ts";
import { OPTIONS, USAGE, type CliOptions } from "./shared/cli/usage.ts";
import { ConfigError, loadConfig } from "./shared/config.ts";
import { PeersError, WireError, errorMessage } from "./shared/errors.ts";

type Line = (line: string) => void;

export interface CliIo {
  out: Line;
  err: Line;
  color: boolean;
  columns?: number;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  /** Told which command runs, so the signal wiring knows whether it stops by itself. */
  onRun?: (command: Command) => void;
}

/** Runs one invocation and returns its exit code; streams are parameters so tests can capture them. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const usageError = (message: string) => {
    io.err(`claude-peers: ${message}`);
    io.err("");
    io.err(USAGE);
    return 2;
  };

  let values: CliOptions;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    return usageError(errorMessage(err));
  }
  const [name, ...args] = positionals;
  if (name === undefined || name === "help" || values.help) {
    io.out(USAGE);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) return usageError(`unknown command "${name}"`);
  const extra = Object.keys(values).filter((key) => key !== "help" && !command.options.includes(key as keyof typeof OPTIONS));
  if (extra.length) return usageError(`${name} does not take --${extra.join(", --")}`);

  let ctx: CliContext;
  try {
    ctx = {
      config: loadConfig(),
      cwd: process.cwd(),
      home: homedir(),
      out: io.out,
      err: io.err,
      paint: makePaint(io.color),
      columns: io.columns,
      now: Date.now,
      signal: io.signal,
    };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(`claude-peers: ${err.message}`);
    return 1;
  }

  try {
    io.onRun?.(command);
    return await command.run(ctx, values, args);
  } catch (err) {
    if (err instanceof CliError && err.code === "usage") return usageError(err.message);
    io.err(`claude-peers ${name}: ${describeFailure(err, ctx)}`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

/** One line that says what went wrong and what to do next. */
function describeFailure(err: unknown, ctx: CliContext): string {
  if (err instanceof WireError && err.code === "unauthorized") {
    return `${err.message} (this CLI read ${ctx.config.tokenPath}; set CLAUDE_PEERS_DB to the broker's database if it uses another)`;
  }
  if (err instanceof WireError && err.code === "not_found" && /^to:/.test(err.message)) {
    return `${err.message} See \`bun cli.ts peers\`.`;
  }
  if (err instanceof CliError || err instanceof WireError || err instanceof PeersError) return err.message;
  return `unexpected failure: ${errorMessage(err)}`;
}

if (import.meta.main) {
  const stop = new AbortController();
  let running: Command | undefined;
  // watch stops itself cleanly (exit 0); a one-shot request, or a second Ctrl-C, is simply abandoned.
  const interrupt = () => (running?.streams && !stop.signal.aborted ? stop.abort() : process.exit(130));
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, interrupt);
  // No process.exit on success: it would drop output still queued for a slow pipe (| less).
  process.exitCode = await runCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    color: process.stdout.isTTY === true,
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    signal: stop.signal,
    onRun: (command) => (running = command),
  });
}
