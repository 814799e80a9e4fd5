#!/usr/bin/env bun
/**
 * `bun cli.ts hook`, end to end as Claude Code pays for it: from spawning the process (stdin: the
 * hook's JSON) to its exit. Claude Code runs it on every tool call, so the case that matters is a
 * live session with no mail (one request to the broker). Also: a message waiting (print it, mark it
 * read), no broker (token file left, port closed) and no token file (no broker ever ran); and, for
 * scale, `bun` on an empty script and `bun -e 0`. The edit hook (`hook --edits`, edit collisions) before an Edit:
 * of a file nobody else touched (the common case), and of one another live session edited (the
 * collision path: the stake lookup, and the warning the first time); the plugin's own commands, whose
 * shell skips Bun by the session's stake file: alone in the repository, beside a session editing other
 * files (a grep), and after a shell command (alone: skipped; with others: Bun and the broker's git status); the same
 * for the hooks `install codex` (its session id read from the hook's input) and `install gemini` write. The cases take turns, run by run, so a machine that gets busier
 * halfway through colours them all alike. This process plays Claude Code: the session's server.ts
 * and every hook are its children, as in a real session.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planCodex } from "../shared/cli/install/codex.ts";
import { planGemini } from "../shared/cli/install/gemini.ts";
import type { InstallTarget } from "../shared/cli/install/target.ts";
import { MAX_STAKE_NAMES } from "../shared/broker/edit-flags.ts";
import { runningBroker } from "../tests/helpers/broker.ts";
import { ROOT, freePort } from "../tests/helpers/env.ts";
import { makeRepo } from "../tests/helpers/git.ts";
import { openHookSession } from "../tests/helpers/hook-session.ts";
import { whoami } from "../tests/helpers/server.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { formatSpread, header, inWorld, percentile, runsArg, spread } from "./lib.ts";

/** Hook runs per case and run. */
const RUNS_PER_CASE = 20;
const INPUT = new TextEncoder().encode(JSON.stringify({ hook_event_name: "PostToolUse", session_id: "bench-session", tool_name: "Bash" }));
const HOOK = [process.execPath, join(ROOT, "cli.ts"), "hook"];
/** The plugin's PostToolUse command (plugin/hooks/hooks.json), with its root filled in as Claude Code does. */
const PLUGIN_HOOK = (JSON.parse(readFileSync(join(ROOT, "plugin", "hooks", "hooks.json"), "utf8")).hooks.PostToolUse[0].hooks[0].command as string).replaceAll(
  "${CLAUDE_PLUGIN_ROOT}",
  join(ROOT, "plugin"),
);

const PLUGIN_HOOKS = JSON.parse(readFileSync(join(ROOT, "plugin", "hooks", "hooks.json"), "utf8")).hooks;
const withRoot = (command: string) => command.replaceAll("${CLAUDE_PLUGIN_ROOT}", join(ROOT, "plugin"));
/** The plugin's PreToolUse command (the edit hook behind its stake-file grep), with its root filled in. */
const PLUGIN_EDIT_HOOK = withRoot(PLUGIN_HOOKS.PreToolUse[0].hooks[0].command);
/** The plugin's PostToolUse command on Bash (shell changes, behind its empty-stake-file test). */
const PLUGIN_SHELL_HOOK = withRoot(PLUGIN_HOOKS.PostToolUse.find((g: { matcher?: string }) => g.matcher === "Bash").hooks[0].command);

/** What `install codex` / `install gemini` would write into this HOME: the pre-edit and post-shell edit hooks' commands. */
function agentEditHooks(home: string): { codex: { pre: string; shell: string }; gemini: { pre: string; shell: string } } {
  const t: InstallTarget = { home, env: {}, bun: process.execPath, root: ROOT };
  const after = (plan: typeof planCodex, file: string) => JSON.parse(plan(t, true).changes.find((c) => c.path.endsWith(file))!.after);
  type Group = { matcher?: string; hooks: { command: string }[] };
  const codex = after(planCodex, "hooks.json").hooks;
  const gemini = after(planGemini, "settings.json").hooks;
  const edits = (groups: Group[], matcher: string) => groups.find((g) => g.matcher === matcher)!.hooks[0]!.command;
  return {
    codex: { pre: codex.PreToolUse.at(-1).hooks[0].command, shell: edits(codex.PostToolUse, "^Bash$") },
    gemini: { pre: gemini.BeforeTool.at(-1).hooks[0].command, shell: edits(gemini.AfterTool, "^run_shell_command$") },
  };
}

interface Case {
  name: string;
  cmd: string[];
  env: Record<string, string>;
  /** Runs before each spawn (not timed). */
  before?: () => Promise<void>;
  /** Whether the hook must print mail (else it must print nothing); "any": either. */
  mail: boolean | "any";
  /** The hook's stdin (else INPUT). */
  input?: Uint8Array;
}

/** Spawns once with the hook input on stdin; returns the wall time in ms from spawn to exit. */
async function timeOnce(c: Case): Promise<number> {
  await c.before?.();
  const t0 = performance.now();
  const proc = Bun.spawn(c.cmd, { stdin: c.input ?? INPUT, stdout: "pipe", stderr: "ignore", env: c.env });
  const stdout = await new Response(proc.stdout).text();
  await proc.exited;
  const ms = performance.now() - t0;
  if (c.mail !== "any" && c.mail !== stdout.includes("additionalContext")) throw new Error(`${c.name}: unexpected hook output ${JSON.stringify(stdout)}`);
  return ms;
}

const runs = runsArg();
await header(`hook: bun cli.ts hook, spawn to exit (${RUNS_PER_CASE} runs per case and run, cases in turn)`, runs);
const results = new Map<string, Array<{ p50: number; p90: number }>>();

for (let run = 0; run < runs; run++) {
  await inWorld(async (world) => {
    // The bench session works alone in a repository of its own (its pre-edit hook may skip Bun there: the quiet flag).
    const solo = makeRepo(world.t.dir, "solo", { "src/s.ts": "export const s = 1;\n" });
    const server = await world.start({ name: "bench", cwd: solo, env: { CLAUDE_CODE_SESSION_ID: "bench-session" } });
    await whoami(server);
    const broker = await runningBroker(world.t);
    const empty = join(world.t.dir, "empty.ts");
    writeFileSync(empty, "");
    mkdirSync(join(world.t.dir, "none"));
    mkdirSync(join(world.t.dir, "gone"));
    writeFileSync(join(world.t.dir, "gone", "peers.db.token"), `${broker.token}\n`, { mode: 0o600 });
    const env = world.t.env;
    // The flag folder exists once any mail came (the broker makes it): the steady state of a session.
    mkdirSync(join(world.t.home, ".claude-peers-mail"), { recursive: true });
    let notes = 0;
    // Edit collisions: a repository with two files; another live session (its own stand-in Claude Code) edited one of them.
    const repo = makeRepo(world.t.dir, "app", { "src/a.ts": "export const a = 1;\n", "src/b.ts": "export const b = 1;\n" });
    const other = await openHookSession(world, "other", repo);
    await other.hook({ hook_event_name: "PostToolUse", tool_name: "Edit", tool_input: { file_path: join(repo, "src/b.ts") }, tool_response: { structuredPatch: [{ newStart: 1, newLines: 1, lines: ["-x", "+y"] }] } });
    const preEdit = (file: string, top = repo, session = top === repo ? "bench-app-session" : "bench-session") =>
      new TextEncoder().encode(JSON.stringify({ hook_event_name: "PreToolUse", session_id: session, cwd: top, tool_name: "Edit", tool_input: { file_path: join(top, file), old_string: "export", new_string: "export" } }));
    // A second bench session works in that repository, where the other session edited src/b.ts.
    const inApp = await world.start({ name: "bench-app", cwd: repo, env: { CLAUDE_CODE_SESSION_ID: "bench-app-session" } });
    await whoami(inApp);
    const shellInput = (top: string, session: string) =>
      new TextEncoder().encode(JSON.stringify({ hook_event_name: "PostToolUse", session_id: session, cwd: top, tool_name: "Bash", tool_input: { command: "ls" }, tool_response: { stdout: "", stderr: "" } }));
    // The broker writes each session's stake file within seconds: empty alone, "b.ts" beside the other session.
    const stakes = (id: string) => join(world.t.home, ".claude-peers-edits", `stakes-${id}`);
    await waitFor(() => existsSync(stakes("bench-session")) && existsSync(stakes("bench-app-session")) && readFileSync(stakes("bench-app-session"), "utf8") === "b.ts\n", "the bench sessions' stake files", 15_000);
    const agents = agentEditHooks(world.t.home);
    const encode = (input: unknown) => new TextEncoder().encode(JSON.stringify(input));
    const patch = (file: string) => `*** Begin Patch\n*** Update File: ${file}\n@@\n-export\n+export\n*** End Patch\n`;
    const patchInput = (top: string, file: string, session: string) =>
      encode({ session_id: session, turn_id: "t-1", transcript_path: null, cwd: top, hook_event_name: "PreToolUse", model: "gpt-5.5", permission_mode: "bypassPermissions", tool_name: "apply_patch", tool_input: { command: patch(file) }, tool_use_id: "call-1" });
    const writeInput = (top: string, file: string, session: string) =>
      encode({ session_id: session, cwd: top, hook_event_name: "BeforeTool", timestamp: new Date().toISOString(), tool_name: "write_file", tool_input: { file_path: join(top, file), content: "export const x = 1;\n" } });
    // The shell's worst case: a stake file as long as the broker writes, none of its names in an input just under the grep's 16 KiB
    // (a `case` per name over the whole input). A home of its own: the broker keeps its folder to its own sessions' files.
    const worstHome = join(world.t.dir, "worst-home");
    mkdirSync(join(worstHome, ".claude-peers-edits"), { recursive: true });
    writeFileSync(join(worstHome, ".claude-peers-edits", "stakes-bench-worst"), Array.from({ length: MAX_STAKE_NAMES }, (_, i) => `other-file-${i}.ts\n`).join(""));
    const bigEdit = new TextEncoder().encode(JSON.stringify({ hook_event_name: "PreToolUse", session_id: "bench-worst", cwd: repo, tool_name: "Write", tool_input: { file_path: join(repo, "src/a.ts"), content: "x".repeat(16_000) } }));
    const cases: Case[] = [
      { name: "bun on an empty script (floor)", cmd: [process.execPath, empty], env, mail: false },
      { name: "bun -e 0 (floor)", cmd: [process.execPath, "-e", "0"], env, mail: false },
      { name: "no token file (no broker ever ran)", cmd: HOOK, env: { ...env, CLAUDE_PEERS_DB: join(world.t.dir, "none", "peers.db") }, mail: false },
      {
        name: "no broker (token file left, port closed)",
        cmd: HOOK,
        env: { ...env, CLAUDE_PEERS_DB: join(world.t.dir, "gone", "peers.db"), CLAUDE_PEERS_PORT: String(freePort()) },
        mail: false,
      },
      { name: "live session, no mail (every tool call)", cmd: HOOK, env, mail: false },
      // What the plugin runs on every tool call: the mail flag tested from the shell, Bun only when it is set.
      { name: "the plugin's hook command, no mail (flag test in sh)", cmd: ["/bin/sh", "-c", PLUGIN_HOOK], env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-session" }, mail: false },
      { name: "edit hook: a file nobody else touched", cmd: [...HOOK, "--edits"], env, mail: false, input: preEdit("src/a.ts") },
      {
        name: "plugin pre-edit, alone in its repository (sh: empty stake file)",
        cmd: ["/bin/sh", "-c", PLUGIN_EDIT_HOOK],
        env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-session" },
        mail: false,
        input: preEdit("src/s.ts", solo),
      },
      {
        name: "plugin pre-edit, others editing other files (sh: names)",
        cmd: ["/bin/sh", "-c", PLUGIN_EDIT_HOOK],
        env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-app-session" },
        mail: false,
        input: preEdit("src/a.ts"),
      },
      {
        name: `plugin pre-edit, ${MAX_STAKE_NAMES} names, 16 KB input (sh: worst)`,
        cmd: ["/bin/sh", "-c", PLUGIN_EDIT_HOOK],
        env: { ...env, HOME: worstHome, CLAUDE_CODE_SESSION_ID: "bench-worst" },
        mail: false,
        input: bigEdit,
      },
      {
        name: "plugin pre-edit, a file another edited (sh, then Bun)",
        cmd: ["/bin/sh", "-c", PLUGIN_EDIT_HOOK],
        env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-app-session" },
        mail: "any",
        input: preEdit("src/b.ts"),
      },
      {
        name: "plugin post-shell, alone in its repository (sh)",
        cmd: ["/bin/sh", "-c", PLUGIN_SHELL_HOOK],
        env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-session" },
        mail: false,
        input: shellInput(solo, "bench-session"),
      },
      {
        name: "plugin post-shell, others in the repo (Bun + git status)",
        cmd: ["/bin/sh", "-c", PLUGIN_SHELL_HOOK],
        env: { ...env, CLAUDE_CODE_SESSION_ID: "bench-app-session" },
        mail: false,
        input: shellInput(repo, "bench-app-session"),
      },
      { name: "edit hook: a file another session edited", cmd: [...HOOK, "--edits"], env, mail: "any", input: preEdit("src/b.ts") },
      // Codex (the session id read from the hook's input) and Gemini CLI (GEMINI_SESSION_ID): the hooks install writes.
      { name: "codex pre-edit, alone (sh: id from input, empty file)", cmd: ["/bin/sh", "-c", agents.codex.pre], env, mail: false, input: patchInput(solo, "src/s.ts", "bench-session") },
      { name: "codex pre-edit, others editing other files (sh: names)", cmd: ["/bin/sh", "-c", agents.codex.pre], env, mail: false, input: patchInput(repo, "src/a.ts", "bench-app-session") },
      { name: "codex post-shell, alone in its repository (sh)", cmd: ["/bin/sh", "-c", agents.codex.shell], env, mail: false, input: shellInput(solo, "bench-session") },
      { name: "gemini pre-edit, alone (sh: empty stake file)", cmd: ["/bin/sh", "-c", agents.gemini.pre], env: { ...env, GEMINI_SESSION_ID: "bench-session" }, mail: false, input: writeInput(solo, "src/s.ts", "bench-session") },
      {
        name: "gemini pre-edit, others editing other files (sh: names)",
        cmd: ["/bin/sh", "-c", agents.gemini.pre],
        env: { ...env, GEMINI_SESSION_ID: "bench-app-session" },
        mail: false,
        input: writeInput(repo, "src/a.ts", "bench-app-session"),
      },
      { name: "gemini post-shell, alone in its repository (sh)", cmd: ["/bin/sh", "-c", agents.gemini.shell], env: { ...env, GEMINI_SESSION_ID: "bench-session" }, mail: false, input: shellInput(solo, "bench-session") },
      {
        name: "live session, 1 message (print + mark read)",
        cmd: HOOK,
        env,
        mail: true,
        // A new text each time: the same one within a minute is refused as a duplicate.
        before: async () => void (await broker.post("/send", { to: "bench", text: `a short note from the bench (${++notes})` })),
      },
    ];
    const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let i = 0; i < RUNS_PER_CASE; i++) for (const c of cases) times.get(c.name)!.push(await timeOnce(c));
    for (const [name, t] of times) results.set(name, [...(results.get(name) ?? []), { p50: percentile(t, 50), p90: percentile(t, 90) }]);
  });
}

for (const [name, r] of results) {
  console.log(`${name.padEnd(54)} p50 ${formatSpread(spread(r.map((x) => x.p50)), 1, " ms")}   p90 ${formatSpread(spread(r.map((x) => x.p90)), 1, " ms")}`);
}
