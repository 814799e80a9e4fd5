#!/usr/bin/env bun
/** The claude-peers CLI: see and drive the network from a terminal. Never starts a broker itself. */
import type { Command } from "./shared/cli/commands.ts";

if (import.meta.main) {
  // Claude Code runs `hook` on every tool call: it loads only its own small module, never the
  // CLI's (zod schemas, tables), whose start-up alone would take longer than the hook may.
  if (process.argv[2] === "hook" && process.argv[3] === "--monitor") {
    await (await import("./shared/hook/monitor.ts")).runMonitorFromProcess();
  } else if (process.argv[2] === "hook" && process.argv[3] === "--wait") {
    await (await import("./shared/hook/waiter.ts")).runWaiterFromProcess();
  } else if (process.argv[2] === "hook" && process.argv[3] === "--git-guard") {
    process.exitCode = await (await import("./shared/hook/git-guard.ts")).runGitGuardFromProcess();
  } else if (process.argv[2] === "hook" && process.argv[3] === "--edits") {
    await (await import("./shared/hook/edits.ts")).runEditHookFromProcess();
  } else if (process.argv[2] === "hook") {
    await (await import("./shared/hook/run.ts")).runHookFromProcess();
  } else {
    const { runCli } = await import("./shared/cli/run.ts");
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
}
