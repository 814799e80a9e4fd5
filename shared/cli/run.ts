/** The CLI's commands as a function of argv and streams: cli.ts wires it to the process. */
import { homedir } from "node:os";
import { parseArgs } from "node:util";
import { checkConfig } from "../config.ts";
import { PeersError, WireError, errorMessage } from "../errors.ts";
import { COMMANDS, type Command } from "./commands.ts";
import type { CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { makePaint } from "./format.ts";
import { OPTIONS, USAGE, type CliOptions } from "./usage.ts";

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
  // The error and the one usage line that applies, so the error does not scroll away under the help.
  const usageError = (message: string, command?: Command) => {
    io.err(`claude-peers: ${message}`);
    if (command) io.err(`usage: bun cli.ts ${command.usage}   (every command: bun cli.ts help)`);
    else io.err(`usage: bun cli.ts <command> [options]; commands: ${Object.keys(COMMANDS).join(", ")} (details: bun cli.ts help)`);
    return 2;
  };

  let values: CliOptions;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    return usageError(errorMessage(err), commandNamed(argv.find((arg) => !arg.startsWith("-"))));
  }
  const [name, ...args] = positionals;
  if (name === undefined || name === "help" || values.help) {
    io.out(USAGE);
    return 0;
  }
  const command = commandNamed(name);
  if (!command) return usageError(`unknown command "${name}"`);
  const extra = Object.keys(values).filter((key) => key !== "help" && !command.options.includes(key as keyof typeof OPTIONS));
  if (extra.length) return usageError(`${name} does not take --${extra.join(", --")}`, command);

  const { config, problems } = checkConfig();
  if (problems[0] && !command.reportsBadSettings) {
    io.err(`claude-peers: ${problems[0].message} (\`bun cli.ts doctor\` lists every bad setting)`);
    return 1;
  }
  const ctx: CliContext = {
    config,
    cwd: process.cwd(),
    home: homedir(),
    out: io.out,
    err: io.err,
    paint: makePaint(io.color),
    columns: io.columns,
    now: Date.now,
    signal: io.signal,
  };

  try {
    io.onRun?.(command);
    return await command.run(ctx, values, args);
  } catch (err) {
    if (err instanceof CliError && err.code === "usage") return usageError(err.message, command);
    io.err(`claude-peers ${name}: ${describeFailure(err, ctx)}`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

/** The command of that name; not one of Object's own properties ("constructor"). */
function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** One line that says what went wrong and what to do next. */
function describeFailure(err: unknown, ctx: CliContext): string {
  if (err instanceof WireError && err.code === "unauthorized") {
    return `${err.message} (this CLI read ${ctx.config.tokenPath}; set CLAUDE_PEERS_DB to the broker's database if it uses another)`;
  }
  if (err instanceof CliError || err instanceof WireError || err instanceof PeersError) return err.message;
  return `unexpected failure: ${errorMessage(err)}`;
}
