/**
 * The real Codex CLI and Gemini CLI from the test tools (tests/package.json), run to completion offline in a test's
 * HOME, and a real Claude Code session (`claude -p`, a fake model API) that sends one peer message
 * through the server `bun cli.ts install claude` registered.
 */
import { join } from "node:path";
import { claudeCli } from "./claude-cli.ts";
import { runCli } from "./cli.ts";
import { TEST_TOOLS_BIN, type TestEnv } from "./env.ts";
import { startFakeAnthropic } from "./fake-anthropic.ts";
import { runToEnd, type RunResult } from "./run-to-end.ts";

export const CODEX = join(TEST_TOOLS_BIN, "codex");
export const GEMINI = join(TEST_TOOLS_BIN, "gemini");
export type AgentRun = RunResult;

/** Runs `argv` in `cwd` to its end (or the deadline, then SIGTERM by pid); stdin closed. */
export const runAgent = runToEnd;

/**
 * A Claude Code session named `name` whose model calls send_message(to, message) once, then ends
 * its turn; returns the tool result Claude Code handed back to its model.
 */
export async function claudeSends(t: TestEnv, name: string, to: string, message: string): Promise<string> {
  const cli = claudeCli(t);
  const installed = await runCli({ ...t, env: cli.env }, ["install", "claude"]);
  if (installed.code !== 0) throw new Error(`bun cli.ts install claude failed: ${installed.stderr}`);
  const model = startFakeAnthropic(async (n) => (n === 1 ? { tool: "mcp__claude-peers__send_message", input: { to, message } } : { text: "Sent." }));
  try {
    const env = { ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: name };
    const run = await cli.runWith(env, "-p", `tell ${to} hello`, "--allowedTools", "mcp__claude-peers__send_message");
    if (run.code !== 0 || model.requests.length < 2) throw new Error(`claude -p failed (${run.code}): ${run.out}`);
    return model.requests[1]!;
  } finally {
    model.stop();
  }
}
