#!/usr/bin/env bun
/** The claude-peers MCP server: one per Claude Code session, spoken to over stdio. */
import { ConfigError, loadConfig } from "./shared/config.ts";
import { errorMessage } from "./shared/errors.ts";
import { createLog } from "./shared/log.ts";
import { skipAjv } from "./shared/server/skip-ajv.ts";

/** How often to check that Claude Code (our parent) is still alive. */
const PARENT_CHECK_MS = 500;
const FORCED_EXIT_MS = 1500;

async function main(): Promise<void> {
  const log = createLog("claude-peers"); // stderr only: stdout belongs to MCP
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log(err.message);
    process.exit(1);
  }
  // Claude Code waits on initialize: load the MCP SDK only now, without the parts we never use.
  skipAjv();
  const [{ StdioServerTransport }, { createSession }] = await Promise.all([
    import("@modelcontextprotocol/sdk/server/stdio.js"),
    import("./shared/server/session.ts"),
  ]);
  const session = createSession({ config, cwd: process.cwd(), log });

  // Answer initialize first; the broker, git and the summary all come after.
  await session.server.connect(new StdioServerTransport());
  if (config.checkOnly) return log("check only (doctor): answering initialize, no broker, no registration");
  session.start();
  log(`started (pid ${process.pid}); broker ${config.socketPath}; auto-summary ${config.openaiApiKey ? "enabled" : "disabled"}`);
  if (config.openaiApiKey) {
    // Said at every start: with the key set, facts about this folder leave the machine.
    log(`auto-summary: this folder's path, repository, branch and recent file names go to ${config.summaryModel} at ${config.openaiBaseUrl ?? "api.openai.com"} (unset OPENAI_API_KEY for claude-peers to stop it)`);
  }

  let closing = false;
  const shutdown = (why: string) => {
    if (closing) return;
    closing = true;
    log(`exiting: ${why}`);
    setTimeout(() => process.exit(0), FORCED_EXIT_MS).unref();
    void session.close().finally(() => process.exit(0));
  };
  process.stdin.on("end", () => shutdown("stdin closed"));
  process.stdin.on("close", () => shutdown("stdin closed"));
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => shutdown(signal));
  // If Claude Code dies without closing our stdin, we are re-parented: leave rather than linger.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && shutdown("parent process exited"), PARENT_CHECK_MS).unref();
}

if (import.meta.main) {
  main().catch((err) => {
    process.stderr.write(`claude-peers: cannot start: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}
