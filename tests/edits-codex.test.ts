/**
 * Edit collisions in the real Codex CLI (0.171.0, offline against a local fake Responses API),
 * installed by `bun cli.ts install codex` (its PreToolUse / PostToolUse hooks on apply_patch, trusted
 * by install, no --dangerously-bypass-hook-trust), editing through apply_patch in a worktree of a
 * repository whose main worktree a Claude Code session edits:
 * - a real `claude -p` session (installed by `install claude`, offline) edits line 10 of src/auth.ts
 *   and stays live; Codex's model then patches line 30 of that file: Codex's next model request
 *   carries the PreToolUse hook's warning, the patch applies, and the Claude Code session's next
 *   request carries the notice;
 * - a Claude Code session run by a stand-in Claude Code process (a real server.ts, its edit hook run
 *   exactly as Claude Code runs it) edits line 40, or claims src/config.ts: Codex's patch there is
 *   refused once (Codex honours the hook's deny and tells its model why) and the same patch again
 *   applies.
 *
 * Codex offers apply_patch only to a model its catalog describes: a slug it does not know gets
 * fallback metadata with `apply_patch_tool_type: None` (codex-rs/models-manager/src/model_info.rs
 * `model_info_from_slug`, "Unknown model … will use fallback model metadata", a string of the 0.171.0
 * binary) and no apply_patch tool. The fake model therefore answers as `gpt-5.5`, a slug of the
 * catalog bundled in the 0.171.0 binary (its models.json) with `apply_patch_tool_type: "freeform"`
 * and no `tool_mode: "code_mode_only"`: Codex offers apply_patch as a custom (grammar) tool, and the
 * model calls it with a `custom_tool_call` whose input is the patch. Codex hands the hook
 * `tool_name: "apply_patch"`, `tool_input: { command: <patch> }` and the session's folder as `cwd`
 * (codex-rs/core/src/tools/handlers/apply_patch.rs `pre_tool_use_payload`; hooks whose matcher names
 * `Write` or `Edit` match it too, codex-rs/core/src/tools/hook_names.rs `HookToolName::apply_patch`),
 * and runs a user's hook only when config.toml holds the hash of its event, matcher and command
 * (codex-rs/hooks/src/engine/discovery.rs `command_hook_hash`): with the matcher left out of the
 * hash that install writes, the edit hooks do not run and this file fails.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EditsResultSchema, ListPeersResultSchema, type EditsResult } from "../shared/protocol.ts";
import { CODEX, runAgent } from "./helpers/agent-cli.ts";
import { runningBroker } from "./helpers/broker.ts";
import { CLAUDE, claudeCli } from "./helpers/claude-cli.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeAnthropic, type FakeTurn } from "./helpers/fake-anthropic.ts";
import { startFakeResponses, type ResponsesTurn } from "./helpers/fake-openai-responses.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession, type HookSession } from "./helpers/hook-session.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const world = openWorld();
const { t } = world;
/** The fake model for the whole file; each test sets what it answers. */
let script: (n: number) => Promise<ResponsesTurn> = async () => ({ text: "Done." });
let calls = 0;
const model = startFakeResponses(async () => script(++calls));
afterAll(async () => {
  model.stop();
  await world.close();
});

/** A model slug Codex 0.171.0's bundled catalog knows, with apply_patch as a freeform tool. */
const CODEX_MODEL = "gpt-5.5";
const SOURCE = Array.from({ length: 60 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";
const line = (n: number) => `export const line${n} = ${n};`;

/** An apply_patch patch changing line `n` of `file` (a path relative to the session's folder, as Codex's model writes it). */
function patchLine(file: string, n: number): string {
  return [
    "*** Begin Patch",
    `*** Update File: ${file}`,
    "@@",
    ` ${line(n - 1)}`,
    `-${line(n)}`,
    `+${line(n)} // changed by codex`,
    ` ${line(n + 1)}`,
    "*** End Patch",
  ].join("\n");
}

/** The user's Codex config before install: the fake model provider, answering as a model Codex knows. */
function writeCodexConfig(): void {
  mkdirSync(join(t.home, ".codex"), { recursive: true });
  writeFileSync(
    join(t.home, ".codex", "config.toml"),
    [
      `model = "${CODEX_MODEL}"`,
      'model_provider = "fake"',
      "",
      "[model_providers.fake]",
      'name = "fake"',
      `base_url = "${model.baseUrl}"`,
      'env_key = "FAKE_OPENAI_KEY"',
      'wire_api = "responses"',
      "",
    ].join("\n"),
  );
}

/**
 * Runs `codex exec` in `cwd` (full access: no sandbox to set up; approvals never asked in exec) with
 * the model answering `turns`; answers the run and the requests of this run.
 */
async function runCodex(cwd: string, prompt: string, turns: (n: number) => Promise<ResponsesTurn>) {
  const first = model.requests.length;
  calls = 0;
  script = turns;
  const env = { ...t.env, FAKE_OPENAI_KEY: "sk-fake", CLAUDE_PEERS_NAME: "codex-peer" };
  const run = await runAgent([CODEX, "exec", "-s", "danger-full-access", "--skip-git-repo-check", prompt], env, cwd);
  return { ...run, requests: model.requests.slice(first) };
}

/** Codex's server registered: its hooks can pair with it. */
async function codexRegistered(): Promise<void> {
  const broker = await runningBroker(t);
  await waitFor(async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers.find((p) => p.name === "codex-peer"), "Codex's server", 20_000);
}

/** What Codex handed its model for the latest tool call: the last call output in the request. */
function lastCallOutput(body: Record<string, unknown>): string {
  const items = (body.input as { type?: string; output?: unknown }[]) ?? [];
  const out = items.findLast((i) => typeof i.type === "string" && i.type.endsWith("_call_output"));
  if (!out) throw new Error("no tool call output in the request");
  return typeof out.output === "string" ? out.output : JSON.stringify(out.output);
}

/** The developer messages of a request's input (where Codex puts hooks' additional context). */
function developerTexts(body: Record<string, unknown>): string[] {
  const items = (body.input as { type?: string; role?: string; content?: { text?: string }[] }[]) ?? [];
  return items.filter((i) => i.type === "message" && i.role === "developer").flatMap((i) => (i.content ?? []).map((c) => c.text ?? ""));
}

describe("a Codex CLI session editing, through apply_patch, a file a Claude Code session edited", () => {
  const repo = makeRepo(t.dir, "app", { "src/auth.ts": SOURCE, "src/config.ts": SOURCE });
  const tree = addWorktree(repo, join(t.dir, "app-codex"), "codex");
  let cc: HookSession;

  /** The Claude Code session edits line `n` of src/auth.ts in the main worktree: its PostToolUse edit hook, as Claude Code runs it. */
  async function ccEdits(n: number): Promise<void> {
    const edited = await cc.hook({
      hook_event_name: "PostToolUse",
      tool_name: "Edit",
      tool_input: { file_path: join(repo, "src/auth.ts") },
      tool_response: { structuredPatch: [{ oldStart: n, oldLines: 1, newStart: n, newLines: 1, lines: [`-${line(n)}`, `+${line(n)} // cc`] }] },
    });
    expect(edited).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }

  /** Codex's model patches line `n` of `file` twice: the first is refused with `reason` in what its model is told next, the second is applied. */
  async function refusedOnceThenApplied(file: string, n: number, reason: RegExp): Promise<void> {
    const patch = patchLine(file, n);
    const run = await runCodex(tree, `change ${file}`, async (turn) => {
      if (turn === 1) await codexRegistered();
      return turn <= 2 ? { custom: "apply_patch", input: patch } : { text: "Done." }; // the second: the retry
    });
    expect(run.stderr).not.toContain("fake model:");
    expect(run.code).toBe(0);
    expect(run.requests.length).toBe(3);
    // Codex's words around the hook's reason: "Command blocked by PreToolUse hook: <reason>. Command: <patch>".
    const refused = lastCallOutput(run.requests[1]!);
    expect(refused).toStartWith("Command blocked by PreToolUse hook: claude-peers: edit refused once so you can coordinate. ");
    expect(refused).toMatch(reason);
    expect(lastCallOutput(run.requests[2]!)).toContain(`Success. Updated the following files:\nM ${file}`);
    expect(readFileSync(join(tree, file), "utf8")).toContain(`${line(n)} // changed by codex`);
  }

  test("bun cli.ts install codex writes the edit hooks on apply_patch, trusted", async () => {
    cc = await openHookSession(world, "cc", repo);
    writeCodexConfig();
    const installed = await runCli(t, ["install", "codex"]);
    expect(installed).toMatchObject({ code: 0, stderr: "" });
    // Trusted as Codex keys them: hooks.json path, event, group, handler (the runs below prove the hashes).
    const config = readFileSync(join(t.home, ".codex", "config.toml"), "utf8");
    expect(config).toContain(`hooks.json:pre_tool_use:0:0"]`);
    expect(config).toContain(`hooks.json:post_tool_use:1:0"]`);
    const hooks = JSON.parse(readFileSync(join(t.home, ".codex", "hooks.json"), "utf8")) as { hooks: Record<string, { matcher?: string; hooks: { command: string }[] }[]> };
    expect(hooks.hooks.PreToolUse).toEqual([{ matcher: "^(apply_patch|Edit|Write)$", hooks: [expect.objectContaining({ command: expect.stringContaining("hook --edits") })] }]);
  });

  test("a real Claude Code session (claude -p) edits line 10; Codex's apply_patch of the file in another worktree: Codex's next request carries the warning, the edit goes through, the Claude Code session's next request carries the notice", async () => {
    const claudeCode = claudeCli(t);
    expect((await runCli({ ...t, env: claudeCode.env }, ["install", "claude"])).code).toBe(0);
    const { promise: oneEdited, resolve: markOneEdited } = Promise.withResolvers<void>();
    const { promise: codexDone, resolve: markCodexDone } = Promise.withResolvers<void>();
    // The Claude Code session: reads and edits line 10, then stays live (its turn held) until Codex has
    // edited, then makes one more tool call, whose hooks bring it claude-peers' notice.
    const one = startFakeAnthropic(async (n): Promise<FakeTurn> => {
      if (n === 1) return { tool: "Read", input: { file_path: join(repo, "src/auth.ts") } };
      if (n === 2) return { tool: "Edit", input: { file_path: join(repo, "src/auth.ts"), old_string: line(10), new_string: `${line(10)} // cc` } };
      if (n === 3) {
        markOneEdited();
        await codexDone;
        return { tool: "mcp__claude-peers__whoami" };
      }
      return { text: "Done." };
    });
    try {
      const oneRun = runToEnd(
        [CLAUDE, "-p", "change the auth module", "--allowedTools", "Read,Edit,mcp__claude-peers__whoami"],
        { ...claudeCode.env, ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: one.baseUrl, CLAUDE_PEERS_NAME: "one", PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
        repo,
      );
      await Promise.race([oneEdited, oneRun.then((r) => Promise.reject(new Error(`claude -p ended before its edit (${r.code}): ${r.stdout}${r.stderr}`)))]);

      let recorded: EditsResult["files"] = [];
      const run = await runCodex(tree, "change the auth module", async (n) => {
        if (n === 1) {
          await codexRegistered();
          return { custom: "apply_patch", input: patchLine("src/auth.ts", 30) };
        }
        // Codex's session is still live: what its edit hooks recorded, as `bun cli.ts edits` shows it.
        recorded = EditsResultSchema.parse(JSON.parse((await runCli(t, ["edits", "--json"])).stdout)).files;
        return { text: "Done." };
      }).finally(markCodexDone);
      const oneDone = await oneRun;
      expect(oneDone.stdout + oneDone.stderr).not.toContain("fake model:");
      expect(oneDone.code).toBe(0);
      expect(run.stderr).not.toContain("fake model:");
      expect(run.code).toBe(0);
      expect(run.requests.length).toBe(2);
      // Codex ran the edit hook before the patch and both PostToolUse hooks (mail, edits) after it: all trusted.
      expect(run.stderr.match(/^hook: PreToolUse Completed$/gm)?.length).toBe(1);
      expect(run.stderr.match(/^hook: PostToolUse Completed$/gm)?.length).toBe(2);
      // The patch's line, found in the file: the path from the worktree's top, as one's edit is keyed.
      expect(recorded.find((f) => f.name === "codex-peer")).toMatchObject({ path: "src/auth.ts", kind: "edit", agent: "codex", branch: "codex", lines: "30" });
      expect(recorded.find((f) => f.name === "one")).toMatchObject({ path: "src/auth.ts", kind: "edit", agent: "claude-code", branch: "main", lines: "10" });
      // The first request offered apply_patch as a freeform tool; the second carries the hook's warning.
      expect(JSON.stringify(run.requests[0]!.tools)).toContain('"type":"custom","name":"apply_patch"');
      const after = JSON.stringify(run.requests[1]);
      expect(after).toMatch(/claude-peers: one \(claude-code, branch main, host [^)]+\) edited src\/auth\.ts just now \(line 10\)\./);
      expect(after).not.toContain("edit refused once");
      // Codex gives its model the hook's additionalContext as a developer message beside the call's output.
      expect(developerTexts(run.requests[1]!).filter((m) => m.startsWith("claude-peers:")).length).toBe(1);
      expect(lastCallOutput(run.requests[1]!)).toContain("Success. Updated the following files:\nM src/auth.ts");
      // Both edits are in their files.
      expect(readFileSync(join(tree, "src/auth.ts"), "utf8")).toContain(`${line(30)} // changed by codex`);
      expect(readFileSync(join(repo, "src/auth.ts"), "utf8")).toContain(`${line(10)} // cc`);
      // The Claude Code session's request after its next tool call carries claude-peers' notice about Codex.
      expect(one.requests[3]!).toMatch(/codex-peer \(codex, branch codex, host [^)]+\) is about to edit src\/auth\.ts, which you edited just now \(line 10\)/);
    } finally {
      markCodexDone();
      one.stop();
    }
  });

  test("the same lines the Claude Code session edited: refused once with the reason; the same patch again goes through", async () => {
    await ccEdits(40);
    await refusedOnceThenApplied("src/auth.ts", 40, /cc \(claude-code, branch main, host [^)]+\) edited src\/auth\.ts just now \(line 40\)\./);
  });

  test("a file the Claude Code session claimed: refused once with the reason in Codex's next request; the same patch again goes through", async () => {
    await cc.server.call("claim_files", { paths: ["src/config.ts"] });
    await refusedOnceThenApplied("src/config.ts", 20, /cc \(claude-code, branch main, host [^)]+\) claims it for \d+ more min\./);
    const notice = await cc.server.waitForChannel((m) => m.content.includes("is about to edit src/config.ts"), "cc's notice of the claimed file");
    expect(notice.content).toMatch(/^codex-peer \(codex, branch codex, host [^)]+\) is about to edit src\/config\.ts/);
  });
});
