/** The real Claude Code CLI from the test tools (tests/package.json: 2.1.332), run offline with its own config dir. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, TEST_TOOLS_BIN, type TestEnv } from "./env.ts";
import { runToEnd } from "./run-to-end.ts";
import { suiteWorld } from "./world.ts";

export const CLAUDE = join(TEST_TOOLS_BIN, "claude");

export interface ClaudeCli {
  /** The test env plus CLAUDE_CONFIG_DIR (inside the test's temp dir) and no network traffic. */
  env: Record<string, string>;
  /** Runs `claude ...args` in the test's HOME to completion; out is stdout then stderr. */
  run(...args: string[]): Promise<ClaudeRun>;
  /** The same with more environment (a model API, a peer name). */
  runWith(extraEnv: Record<string, string>, ...args: string[]): Promise<ClaudeRun>;
}

export interface ClaudeRun {
  code: number;
  out: string;
  stdout: string;
}

export function claudeCli(t: TestEnv): ClaudeCli {
  const configDir = join(t.dir, "claude-config");
  mkdirSync(configDir, { recursive: true });
  const env = { ...t.env, CLAUDE_CONFIG_DIR: configDir, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" };
  const runWith = async (extraEnv: Record<string, string>, ...args: string[]): Promise<ClaudeRun> => {
    const { code, stdout, stderr } = await runToEnd([CLAUDE, ...args], { ...env, ...extraEnv }, t.home);
    return { code, out: stdout + stderr, stdout };
  };
  return { env, run: (...args) => runWith({}, ...args), runWith };
}

/**
 * A private env and Claude Code CLI for the enclosing describe block. Closed after its last test
 * like suiteWorld: `claude mcp list` spawns our server, which starts a broker for this env.
 */
export function suiteClaudeCli(): ClaudeCli & { t: TestEnv } {
  const world = suiteWorld();
  return { t: world.t, ...claudeCli(world.t) };
}

/** Any key that looks like Claude Code's; the fake model API takes it. */
export const FAKE_API_KEY = "sk-ant-api03-claude-peers-test-key-000000000000000000000000";

/**
 * Installs the plugin from this repository (as README says) and answers Claude Code's first-run
 * screens in its config: onboarding, the API key approved, `home` trusted (hooks and plugin
 * monitors run only in a trusted workspace). For an interactive session in tmux.
 */
export async function installPluginInteractive(cli: ClaudeCli, home: string): Promise<void> {
  const cache = { BUN_INSTALL_CACHE_DIR: process.env.BUN_INSTALL_CACHE_DIR || join(process.env.HOME ?? "", ".bun", "install", "cache") };
  for (const args of [["plugin", "marketplace", "add", ROOT], ["plugin", "install", "peers@claude-peers"]]) {
    const run = await cli.runWith(cache, ...args);
    if (run.code !== 0) throw new Error(`claude ${args.join(" ")} failed (${run.code}): ${run.out}`);
  }
  const statePath = join(cli.env.CLAUDE_CONFIG_DIR!, ".claude.json");
  const state = JSON.parse(readFileSync(statePath, "utf8"));
  Object.assign(state, {
    hasCompletedOnboarding: true,
    theme: "dark",
    customApiKeyResponses: { approved: [FAKE_API_KEY.slice(-20)], rejected: [] },
    projects: { [home]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
  });
  writeFileSync(statePath, JSON.stringify(state));
}
