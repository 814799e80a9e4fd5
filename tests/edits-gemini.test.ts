/**
 * Edit collisions in the real Gemini CLI (0.61.0, offline against a local fake Gemini API),
 * installed by `bun cli.ts install gemini`: a Claude Code session (a stand-in Claude Code process
 * with a real server.ts, its edit hook run as Claude Code runs it) edited lines of src/auth.ts; the
 * Gemini session's model then writes the whole file in another worktree. BeforeTool refuses that
 * once with the reason, which reaches Gemini's model; the same write again goes through; the Claude
 * Code session gets the notice.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ListPeersResultSchema } from "../shared/protocol.ts";
import { GEMINI, runAgent } from "./helpers/agent-cli.ts";
import { runningBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeGemini } from "./helpers/fake-gemini.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const world = openWorld();
const { t } = world;
afterAll(() => world.close());

const SETTINGS = {
  security: { auth: { selectedType: "gemini-api-key" } },
  telemetry: { enabled: false },
  privacy: { usageStatisticsEnabled: false },
  general: { disableAutoUpdate: true, disableUpdateNag: true },
};

describe("a Gemini CLI session editing a file a Claude Code session edited", () => {
  test("refused once with the reason in Gemini's next request; the retry goes through; the Claude Code session gets the notice", async () => {
    const repo = makeRepo(t.dir, "app", { "src/auth.ts": "export const a = 1;\nexport const b = 2;\n" });
    const tree = addWorktree(repo, join(t.dir, "app-gemini"), "gemini");
    const cc = await openHookSession(world, "cc", repo);
    const edited = await cc.hook({
      hook_event_name: "PostToolUse",
      tool_name: "Edit",
      tool_input: { file_path: join(repo, "src/auth.ts") },
      tool_response: { structuredPatch: [{ oldStart: 2, oldLines: 1, newStart: 2, newLines: 1, lines: ["-export const b = 2;", "+export const b = 3;"] }] },
    });
    expect(edited).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const broker = await runningBroker(t);
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
      mkdirSync(join(t.home, ".gemini"), { recursive: true });
      writeFileSync(join(t.home, ".gemini", "settings.json"), JSON.stringify(SETTINGS, null, 2));
      expect((await runCli(t, ["install", "gemini"])).code).toBe(0);
      const env = { ...t.env, GEMINI_API_KEY: "fake-key", GOOGLE_GEMINI_BASE_URL: model.baseUrl, GEMINI_CLI_TRUST_WORKSPACE: "true", CLAUDE_PEERS_NAME: "gemini-peer" };
      const run = await runAgent(["node", GEMINI, "-p", "change the auth module", "-m", "gemini-2.5-flash", "--approval-mode", "yolo"], env, tree);
      expect(run.stderr).not.toContain("fake model:");
      expect(run.code).toBe(0);
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
