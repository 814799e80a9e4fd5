/**
 * Shell changes in the real Codex CLI (0.171.0, offline against a local fake Responses API), installed
 * by `bun cli.ts install codex` (its hooks trusted by install, not bypassed): its model's shell command
 * (`sed -i`, through Codex's exec tool, `Bash` in its hooks) changes a file another session edited in
 * another worktree of the repository. Codex's next model request carries the warning (its PostToolUse
 * additionalContext), and the other session gets the notice.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CODEX, runAgent } from "./helpers/agent-cli.ts";
import { runCli } from "./helpers/cli.ts";
import { offeredTools, startFakeResponses } from "./helpers/fake-openai-responses.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const SOURCE = Array.from({ length: 40 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";
const world = openWorld();
const { t } = world;
afterAll(() => world.close());

test("a Codex session's sed -i over a file another session edited: warned after the command, the other session told", async () => {
  const repo = makeRepo(t.dir, "app", { "src/auth.ts": SOURCE });
  const tree = addWorktree(repo, join(t.dir, "app-web"), "web");
  const api = await openHookSession(world, "api", repo);
  const edited = await api.hook({
    hook_event_name: "PostToolUse",
    tool_name: "Edit",
    tool_input: { file_path: join(repo, "src/auth.ts"), old_string: "x", new_string: "y" },
    tool_response: { structuredPatch: [{ oldStart: 10, oldLines: 1, newStart: 10, newLines: 1, lines: [] }] },
  });
  expect(edited).toMatchObject({ code: 0, stdout: "" });
  const stakeFiles = () => (existsSync(join(t.home, ".claude-peers-edits")) ? readdirSync(join(t.home, ".claude-peers-edits")).filter((f) => f.startsWith("stakes-")) : []);

  let afterShell = "";
  const model = startFakeResponses(async (n, body) => {
    if (n === 1) {
      // Codex's session is known to the broker, which took its first look at the worktree (its stake file says so).
      await waitFor(() => stakeFiles().length >= 2, "the Codex session's stake file", 20_000);
      const tools = offeredTools(body).map((x) => x.name);
      const sed = "sed -i 's/line30 = 30;/line30 = 300;/' src/auth.ts";
      if (tools.includes("exec_command")) return { tool: "exec_command", input: { cmd: sed } };
      return { tool: "shell", input: { command: ["bash", "-lc", sed] } };
    }
    if (n === 2) afterShell = JSON.stringify(body);
    return { text: "Done." };
  });
  try {
    mkdirSync(join(t.home, ".codex"), { recursive: true });
    const config = ['model = "fake-model"', 'model_provider = "fake"', "", "[model_providers.fake]", 'name = "fake"', `base_url = "${model.baseUrl}"`, 'env_key = "FAKE_OPENAI_KEY"', 'wire_api = "responses"', ""];
    writeFileSync(join(t.home, ".codex", "config.toml"), config.join("\n"));
    expect((await runCli(t, ["install", "codex"])).code).toBe(0);
    const env = { ...t.env, FAKE_OPENAI_KEY: "sk-fake", CLAUDE_PEERS_NAME: "codex-peer" };
    const run = await runAgent([CODEX, "exec", "--skip-git-repo-check", "-s", "workspace-write", "change line 30"], env, tree);
    expect(run.stderr).not.toContain("fake model:");
    expect(run.code).toBe(0);
  } finally {
    model.stop();
  }
  expect(await Bun.file(join(tree, "src/auth.ts")).text()).toContain("line30 = 300;");
  // Only the warning, or a short note, in a failure's message: the request body is 60 KB.
  const told = afterShell.match(/claude-peers: your shell command(?:[^"\\]|\\.)*/)?.[0] ?? "(no claude-peers warning in Codex's request after the command)";
  // The request body is JSON: the quotes around the path (a file system name, quoted as data) arrive escaped.
  expect(told).toMatch(/claude-peers: your shell command changed \\*"src\/auth\.ts\\*"\. api \(claude-code, branch main, host [^)]+\) edited \\*"src\/auth\.ts\\*" just now \(line 10\)\./);
  const notice = await api.server.waitForChannel((m) => m.content.includes('changed "src/auth.ts" with a shell command'), "api's notice");
  expect(notice.content).toMatch(/^codex-peer \(codex, branch web, host [^)]+\) changed \\*"src\/auth\.ts\\*" with a shell command, which you edited just now \(line 10\)/);
});
