/**
 * The edit hooks' cheap paths in the real Codex CLI (0.171.0) and Gemini CLI (0.61.0), offline
 * against local fake model APIs, their hooks written by the install plans (codex.ts, gemini.ts) with
 * `bun` a wrapper that logs each start of `hook --edits` (the hook event and tool of its input) before
 * it runs the real one. Before an edit of a file nobody else touched, and after a shell command of a
 * session alone in its repository, the hook's shell test ends it without Bun; after a shell command
 * beside another session's edits, and after every edit (it records the touch), Bun runs. Codex gives
 * its hooks the session id only in their input; Gemini also in GEMINI_SESSION_ID: the stake file the
 * broker writes must be the one the hooks look for, or Bun runs every time.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planCodex } from "../shared/cli/install/codex.ts";
import { applyChange } from "../shared/cli/install/files.ts";
import { planGemini } from "../shared/cli/install/gemini.ts";
import type { InstallTarget } from "../shared/cli/install/target.ts";
import { CODEX, GEMINI, runAgent } from "./helpers/agent-cli.ts";
import { ROOT, type TestEnv } from "./helpers/env.ts";
import { startFakeGemini } from "./helpers/fake-gemini.ts";
import { offeredTools, startFakeResponses, type ResponsesTurn } from "./helpers/fake-openai-responses.ts";
import type { FakeTurn } from "./helpers/fake-anthropic.ts";
import { makeRepo } from "./helpers/git.ts";
import { openHookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld, type World } from "./helpers/world.ts";

const SOURCE = Array.from({ length: 10 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";

/** A `bun` that logs "<event> <tool>" for each `hook --edits` it starts, then runs the real one; its log. */
function countingBun(t: TestEnv): { bun: string; starts: () => string[] } {
  const bun = join(t.dir, "bin", "bun");
  const log = join(t.dir, "edit-hook-starts");
  mkdirSync(join(t.dir, "bin"), { recursive: true });
  const field = (name: string) => `$(printf %s "$i" | grep -o '"${name}": *"[A-Za-z_]*"' | head -n 1 | sed 's/.*"\\([A-Za-z_]*\\)"$/\\1/')`;
  writeFileSync(
    bun,
    [
      "#!/bin/sh",
      `case "$*" in *" hook --edits") i=$(cat); echo "${field("hook_event_name")} ${field("tool_name")}" >> "${log}"; printf %s "$i" | exec "${process.execPath}" "$@";; esac`,
      `exec "${process.execPath}" "$@"`,
      "",
    ].join("\n"),
  );
  chmodSync(bun, 0o755);
  return { bun, starts: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []) };
}

/** Writes what `install <agent>` would, with this bun: the plan's own commands and (Codex) trust. */
function install(t: TestEnv, bun: string, plan: typeof planCodex): void {
  const target: InstallTarget = { home: t.home, env: t.env, bun, root: ROOT };
  for (const change of plan(target, true).changes) applyChange(change, new Date());
}

/** The stake files in the world's HOME, name → content. */
function stakeFiles(t: TestEnv): Map<string, string> {
  const dir = join(t.home, ".claude-peers-edits");
  const names = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith("stakes-")) : [];
  return new Map(names.flatMap((f) => (existsSync(join(dir, f)) ? [[f, readFileSync(join(dir, f), "utf8")] as [string, string]] : [])));
}

/** A stake file other than these sessions' (the agent's, once the broker took its first look) with this content. */
const agentStakeFile = (t: TestEnv, content: string, others: string[]) => () =>
  [...stakeFiles(t)].some(([name, text]) => !others.includes(name) && text === content);

/** A repository where a stand-in Claude Code session `cc` edited src/b.ts; the agent works in it too. */
async function besideOthers(world: World): Promise<string> {
  const repo = makeRepo(world.t.dir, "app", { "src/a.ts": SOURCE, "src/b.ts": SOURCE });
  const cc = await openHookSession(world, "cc", repo);
  const edited = await cc.hook({
    hook_event_name: "PostToolUse",
    tool_name: "Edit",
    tool_input: { file_path: join(repo, "src/b.ts"), old_string: "x", new_string: "y" },
    tool_response: { structuredPatch: [{ oldStart: 2, oldLines: 1, newStart: 2, newLines: 1, lines: [] }] },
  });
  expect(edited).toMatchObject({ code: 0, stdout: "" });
  return repo;
}

describe("Codex CLI: the edit hooks' cheap paths", () => {
  const world = openWorld();
  const { t } = world;
  const { bun, starts } = countingBun(t);
  let script: (n: number, body: Record<string, unknown>) => Promise<ResponsesTurn> = async () => ({ text: "Done." });
  let calls = 0;
  const model = startFakeResponses(async (_, body) => script(++calls, body));
  afterAll(async () => {
    model.stop();
    await world.close();
  });

  const patch = (file: string) => ["*** Begin Patch", `*** Update File: ${file}`, "@@", "-export const line1 = 1;", "+export const line1 = 10;", "*** End Patch"].join("\n");
  const shell = (body: Record<string, unknown>): ResponsesTurn =>
    offeredTools(body).some((x) => x.name === "exec_command") ? { tool: "exec_command", input: { cmd: "true" } } : { tool: "shell", input: { command: ["true"] } };

  /**
   * `codex exec` in `cwd`: a first shell command (its hooks tie the session id to Codex's server, which
   * may register after SessionStart's hook ran); once its stake file reads `stakes`, the model patches
   * `file`, runs a shell command, ends. Answers the edit hook's starts from the patch on.
   */
  async function runCodex(cwd: string, stakes: string, file: string): Promise<string[]> {
    let before = Infinity;
    calls = 0;
    script = async (n, body) => {
      if (n === 1) return shell(body);
      if (n === 2) {
        await waitFor(agentStakeFile(t, stakes, ["stakes-session-cc"]), "the Codex session's stake file", 20_000);
        before = starts().length;
        return { custom: "apply_patch", input: patch(file) };
      }
      return n === 3 ? shell(body) : { text: "Done." };
    };
    const env = { ...t.env, FAKE_OPENAI_KEY: "sk-fake", CLAUDE_PEERS_NAME: "codex-peer" };
    const run = await runAgent([CODEX, "exec", "-s", "danger-full-access", "--skip-git-repo-check", "change line 1"], env, cwd);
    expect(run.stderr).not.toContain("fake model:");
    expect(run.code).toBe(0);
    expect(readFileSync(join(cwd, file), "utf8")).toContain("line1 = 10;");
    return starts().slice(before);
  }

  test("installed with the session id read from the hook's input", () => {
    mkdirSync(join(t.home, ".codex"), { recursive: true });
    writeFileSync(
      join(t.home, ".codex", "config.toml"),
      ['model = "gpt-5.5"', 'model_provider = "fake"', "", "[model_providers.fake]", 'name = "fake"', `base_url = "${model.baseUrl}"`, 'env_key = "FAKE_OPENAI_KEY"', 'wire_api = "responses"', ""].join("\n"),
    );
    install(t, bun, planCodex);
  });

  test("alone in its repository: no Bun before the patch or after the shell command; Bun after the patch (it records the edit)", async () => {
    const solo = makeRepo(t.dir, "solo", { "src/s.ts": SOURCE });
    expect(await runCodex(solo, "", "src/s.ts")).toEqual(["PostToolUse apply_patch"]);
  });

  test("beside a session that edited another file: no Bun before the patch; after the shell command, Bun (the broker looks at the worktree)", async () => {
    const repo = await besideOthers(world);
    expect(await runCodex(repo, "b.ts\n", "src/a.ts")).toEqual(["PostToolUse apply_patch", "PostToolUse Bash"]);
  });
});

describe("Gemini CLI: the edit hooks' cheap paths", () => {
  const world = openWorld();
  const { t } = world;
  const { bun, starts } = countingBun(t);
  afterAll(() => world.close());

  /** `gemini -p` in `cwd`: as runCodex, a first shell command; once its stake file reads `stakes`, the model writes `file`, runs a shell command, ends. */
  async function runGemini(cwd: string, stakes: string, file: string): Promise<string[]> {
    let before = Infinity;
    const shell: FakeTurn = { tool: "run_shell_command", input: { command: "true", description: "nothing" } };
    const model = startFakeGemini(async (n): Promise<FakeTurn> => {
      if (n === 1) return shell;
      if (n === 2) {
        await waitFor(agentStakeFile(t, stakes, ["stakes-session-cc"]), "the Gemini session's stake file", 20_000);
        before = starts().length;
        return { tool: "write_file", input: { file_path: join(cwd, file), content: "export const line1 = 10;\n" } };
      }
      return n === 3 ? shell : { text: "Done." };
    });
    try {
      mkdirSync(join(t.home, ".gemini"), { recursive: true });
      const settings = { security: { auth: { selectedType: "gemini-api-key" } }, telemetry: { enabled: false }, privacy: { usageStatisticsEnabled: false }, general: { disableAutoUpdate: true, disableUpdateNag: true } };
      if (!existsSync(join(t.home, ".gemini", "settings.json"))) {
        writeFileSync(join(t.home, ".gemini", "settings.json"), JSON.stringify(settings, null, 2));
        install(t, bun, planGemini);
      }
      const env = { ...t.env, GEMINI_API_KEY: "fake-key", GOOGLE_GEMINI_BASE_URL: model.baseUrl, GEMINI_CLI_TRUST_WORKSPACE: "true", CLAUDE_PEERS_NAME: "gemini-peer" };
      const run = await runAgent(["node", GEMINI, "-p", "change line 1", "-m", "gemini-2.5-flash", "--approval-mode", "yolo"], env, cwd);
      expect(run.stderr).not.toContain("fake model:");
      expect(run.code).toBe(0);
    } finally {
      model.stop();
    }
    expect(readFileSync(join(cwd, file), "utf8")).toBe("export const line1 = 10;\n");
    return starts().slice(before);
  }

  test("alone in its repository: no Bun before the write (BeforeTool) or after the shell command; Bun after the write (it records the edit)", async () => {
    const solo = makeRepo(t.dir, "solo", { "src/s.ts": SOURCE });
    expect(await runGemini(solo, "", "src/s.ts")).toEqual(["AfterTool write_file"]);
  });

  test("beside a session that edited another file: no Bun before the write; after the shell command, Bun", async () => {
    const repo = await besideOthers(world);
    expect(await runGemini(repo, "b.ts\n", "src/a.ts")).toEqual(["AfterTool write_file", "AfterTool run_shell_command"]);
  });
});
