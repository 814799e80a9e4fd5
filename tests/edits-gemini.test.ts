/**
 * Edit collisions in the real Gemini CLI (0.61.0, offline against a local fake Gemini API),
 * installed by `bun cli.ts install gemini`: a Claude Code session (a stand-in Claude Code process
 * with a real server.ts, its edit hook run as Claude Code runs it) edited lines of src/auth.ts; the
 * Gemini session's model then writes the whole file in another worktree. BeforeTool refuses that
 * once with the reason, which reaches Gemini's model; the same write again goes through; the Claude
 * Code session gets the notice. And its run_shell_command (`sed -i`) over that file: AfterTool brings
 * the warning into its next request, and the Claude Code session gets the notice.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListPeersResultSchema } from "../shared/protocol.ts";
import { GEMINI, runAgent } from "./helpers/agent-cli.ts";
import { runningBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeGemini } from "./helpers/fake-gemini.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import type { TestEnv } from "./helpers/env.ts";
import { openHookSession, type HookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld, type World } from "./helpers/world.ts";

const SETTINGS = {
  security: { auth: { selectedType: "gemini-api-key" } },
  telemetry: { enabled: false },
  privacy: { usageStatisticsEnabled: false },
  general: { disableAutoUpdate: true, disableUpdateNag: true },
};

/** A repository with a Gemini worktree; the Claude Code session `cc` (in the main one) edited line 2 of src/auth.ts. */
async function ccEditedAuth(world: World): Promise<{ tree: string; cc: HookSession }> {
  const repo = makeRepo(world.t.dir, "app", { "src/auth.ts": "export const a = 1;\nexport const b = 2;\n" });
  const tree = addWorktree(repo, join(world.t.dir, "app-gemini"), "gemini");
  const cc = await openHookSession(world, "cc", repo);
  const edited = await cc.hook({
    hook_event_name: "PostToolUse",
    tool_name: "Edit",
    tool_input: { file_path: join(repo, "src/auth.ts") },
    tool_response: { structuredPatch: [{ oldStart: 2, oldLines: 1, newStart: 2, newLines: 1, lines: ["-export const b = 2;", "+export const b = 3;"] }] },
  });
  expect(edited).toMatchObject({ code: 0, stdout: "", stderr: "" });
  return { tree, cc };
}

/** `bun cli.ts install gemini`, then `gemini -p` in `cwd` against the fake model, to its end. */
async function runGemini(t: TestEnv, baseUrl: string, cwd: string): Promise<void> {
  mkdirSync(join(t.home, ".gemini"), { recursive: true });
  writeFileSync(join(t.home, ".gemini", "settings.json"), JSON.stringify(SETTINGS, null, 2));
  expect((await runCli(t, ["install", "gemini"])).code).toBe(0);
  const env = { ...t.env, GEMINI_API_KEY: "fake-key", GOOGLE_GEMINI_BASE_URL: baseUrl, GEMINI_CLI_TRUST_WORKSPACE: "true", CLAUDE_PEERS_NAME: "gemini-peer" };
  const run = await runAgent(["node", GEMINI, "-p", "change the auth module", "-m", "gemini-2.5-flash", "--approval-mode", "yolo"], env, cwd);
  expect(run.stderr).not.toContain("fake model:");
  expect(run.code).toBe(0);
}

describe("a Gemini CLI session editing a file a Claude Code session edited", () => {
  const world = openWorld();
  afterAll(() => world.close());

  test("refused once with the reason in Gemini's next request; the retry goes through; the Claude Code session gets the notice", async () => {
    const { tree, cc } = await ccEditedAuth(world);
    const broker = await runningBroker(world.t);
    const write = { tool: "write_file", input: { file_path: join(tree, "src/auth.ts"), content: "export const a = 10;\n" } } as const;
    const model = startFakeGemini(async (n) => {
      if (n === 1) {
        await waitFor(async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers.find((p) => p.name === "gemini-peer"), "Gemini's server", 20_000);
        return write;
      }
      if (n === 2) return write; // the retry
      return { text: "Done." };
    });
    try {
      await runGemini(world.t, model.baseUrl, tree);
      const prompts = model.requests.map((r) => JSON.stringify(r));
      expect(prompts[1]).toMatch(/claude-peers: edit refused once so you can coordinate\. cc \(claude-code, branch main, host [^)]+\) edited src\/auth\.ts just now \(line 2\)\./);
      expect(readFileSync(join(tree, "src/auth.ts"), "utf8")).toBe("export const a = 10;\n"); // the retry went through
    } finally {
      model.stop();
    }
    const notice = await cc.server.waitForChannel((m) => m.content.includes("is about to edit src/auth.ts"), "cc's notice");
    expect(notice.content).toMatch(/^gemini-peer \(gemini, branch gemini, host [^)]+\) is about to edit src\/auth\.ts, which you edited just now \(line 2\)/);
  });
});

describe("a Gemini CLI session's shell command over a file a Claude Code session edited", () => {
  const world = openWorld();
  afterAll(() => world.close());

  test("sed -i through run_shell_command: warned after the command (AfterTool), the Claude Code session told", async () => {
    const { tree, cc } = await ccEditedAuth(world);
    const flagDir = join(world.t.home, ".claude-peers-edits");
    let afterShell = "";
    const model = startFakeGemini(async (n, body) => {
      if (n === 1) {
        // Gemini's session is bound to its server (SessionStart) and the broker took its first look at the worktree (its stake file says so).
        await waitFor(() => existsSync(flagDir) && readdirSync(flagDir).some((f) => f.startsWith("stakes-") && f !== "stakes-session-cc"), "the Gemini session's stake file", 20_000);
        return { tool: "run_shell_command", input: { command: "sed -i 's/const a = 1;/const a = 100;/' src/auth.ts", description: "change a" } };
      }
      if (n === 2) afterShell = JSON.stringify(body);
      return { text: "Done." };
    });
    try {
      await runGemini(world.t, model.baseUrl, tree);
    } finally {
      model.stop();
    }
    expect(readFileSync(join(tree, "src/auth.ts"), "utf8")).toContain("const a = 100;");
    const told = afterShell.match(/claude-peers: your shell command(?:[^"\\]|\\.)*/)?.[0] ?? "(no claude-peers warning in Gemini's request after the command)";
    expect(told).toMatch(/^claude-peers: your shell command changed \\*"src\/auth\.ts\\*"\. cc \(claude-code, branch main, host [^)]+\) edited \\*"src\/auth\.ts\\*" just now \(line 2\)\./);
    const notice = await cc.server.waitForChannel((m) => m.content.includes('changed "src/auth.ts" with a shell command'), "cc's notice");
    expect(notice.content).toMatch(/^gemini-peer \(gemini, branch gemini, host [^)]+\) changed \\*"src\/auth\.ts\\*" with a shell command, which you edited just now \(line 2\)/);
  });
});
