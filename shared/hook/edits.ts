/**
 * `bun cli.ts hook --edits`: the agents' edit hooks. Claude Code and Codex CLI run it on
 * PreToolUse / PostToolUse of their editing tools (Edit, Write, MultiEdit, NotebookEdit;
 * apply_patch), Gemini CLI on BeforeTool / AfterTool of write_file and replace. It tells the broker
 * which files the session is about to edit (pre) or edited (post), with line ranges when known, and
 * prints what the broker says the model should hear: before an edit, Claude Code's and Codex's
 * `hookSpecificOutput.additionalContext` (a warning) or `permissionDecision: "deny"` with a reason
 * (refused once); Gemini's BeforeTool `decision: "deny"`, and its warning after the edit (AfterTool),
 * since BeforeTool cannot add context. Never `allow`: that would skip the user's permission prompt.
 *
 * After a shell tool call (Bash, Gemini's run_shell_command) it asks the broker to record what the
 * command changed in the worktree (/edits/shell: the agents report no paths for it), and prints the
 * warning when another session had a stake in such a file.
 *
 * Like the mail hook it loads no zod, fails open (no broker, no token, no peer, bad input: nothing
 * printed, exit 0) and bounds its own time. Only the path and line numbers go to the broker, which
 * turns the path into a repository key and a path from the worktree's top before storing anything.
 */
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { ancestorsOf, readOr } from "../ancestry.ts";
import { CLAUDE_SESSION_ID, loadBrokerLocation, loadCollisionMode } from "../config.ts";
import { nearestAgentPid } from "../agent-process.ts";
import type { HookDeps } from "./run.ts";
import { patchEdits } from "./patch-lines.ts";
import { postJson } from "./post.ts";

/** The whole hook stays well under a second, whatever the broker does. */
const DEADLINE_MS = 600;
/** An edit names at most this many files (a patch may add, update, delete and move many). */
const MAX_FILES = 20;
/** Files larger than this are not read to find an edit's lines. */
const MAX_READ_BYTES = 4 * 1024 * 1024;

type Lines = "all" | Array<[number, number]> | null;
export interface EditedFile {
  path: string;
  lines: Lines;
}

type Phase = "pre" | "post";
/** The agents' shell tools, as their hooks name them: Claude Code's and Codex CLI's `Bash`, Gemini CLI's `run_shell_command`. */
export const SHELL_TOOLS: ReadonlySet<string> = new Set(["Bash", "run_shell_command"]);
const PHASES: Record<string, Phase> = { PreToolUse: "pre", PostToolUse: "post", BeforeTool: "pre", AfterTool: "post" };

/** The files a tool call edits, from its input (and, after it ran, its response); [] for any other tool. */
export function editedFiles(tool: string, input: Record<string, unknown>, response: unknown, phase: Phase, cwd: string): EditedFile[] {
  const at = (p: unknown) => (typeof p === "string" && p !== "" ? (isAbsolute(p) ? p : resolve(cwd, p)) : null);
  switch (tool) {
    case "Write":
    case "write_file": {
      const path = at(input.file_path);
      return path ? [{ path, lines: "all" }] : [];
    }
    case "Edit":
    case "MultiEdit":
    case "replace": {
      const path = at(input.file_path);
      if (!path) return [];
      if (phase === "post") {
        const patch = (response as { structuredPatch?: unknown } | null)?.structuredPatch;
        if (Array.isArray(patch)) return [{ path, lines: hunkLines(patch) }];
      }
      const olds = Array.isArray(input.edits) ? input.edits.map((e) => (e as { old_string?: unknown })?.old_string) : [input.old_string];
      return [{ path, lines: linesOf(path, olds.filter((s): s is string => typeof s === "string" && s !== "")) }];
    }
    case "NotebookEdit": {
      const path = at(input.notebook_path);
      return path ? [{ path, lines: null }] : [];
    }
    case "apply_patch": {
      // Codex 0.171 hands the patch as tool_input.command, its paths relative to the session's folder (cwd).
      const patch = Object.values(input).flat().find((v): v is string => typeof v === "string" && v.includes("*** Begin Patch"));
      if (!patch) return [];
      const edits = patchEdits(patch, phase, (p) => {
        const path = at(p);
        return path ? readSmall(path) : null;
      });
      return edits.flatMap((e) => {
        const path = at(e.path);
        return path ? [{ path, lines: Array.isArray(e.lines) ? coarse(e.lines) : e.lines }] : [];
      });
    }
    default:
      return [];
  }
}

/**
 * The changed lines of Claude Code's structuredPatch, on the file's new side: each hunk's `lines`
 * ("+" added, "-" removed, " " context) walked from `newStart`; a hunk without them counts whole.
 */
function hunkLines(patch: unknown[]): Lines {
  const ranges: Array<[number, number]> = [];
  for (const h of patch.slice(0, 10_000)) {
    const { newStart, newLines, lines } = (h ?? {}) as { newStart?: unknown; newLines?: unknown; lines?: unknown };
    if (typeof newStart !== "number" || typeof newLines !== "number" || newStart < 0) continue;
    const changed = Array.isArray(lines) && lines.length > 0 ? changedLines(newStart, lines) : [];
    if (changed.length) ranges.push(...changed);
    else ranges.push([Math.max(newStart, 1), Math.max(newStart, 1) + Math.max(newLines, 1) - 1]);
  }
  return ranges.length ? coarse(ranges) : null;
}

/** A hunk's added lines, and where removed ones were, as new-side line numbers. */
function changedLines(newStart: number, lines: unknown[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = Math.max(newStart, 1);
  for (const l of lines.slice(0, 100_000)) {
    if (typeof l !== "string") continue;
    if (l.startsWith("+")) out.push([at, at++]);
    else if (l.startsWith("-")) out.push([at, at]);
    else at++;
  }
  return out;
}

/** Where the strings an edit replaces are in the file now: their line ranges (null when unknown). */
function linesOf(path: string, olds: string[]): Lines {
  if (olds.length === 0) return null;
  const text = readSmall(path);
  if (text === null) return null; // not there yet, unreadable or huge: the lines are unknown
  const ranges: Array<[number, number]> = [];
  for (const old of olds.slice(0, 100)) {
    const i = text.indexOf(old);
    if (i < 0) continue;
    const first = countLines(text, 0, i) + 1;
    ranges.push([first, first + countLines(old, 0, old.length)]);
  }
  return ranges.length ? coarse(ranges) : null;
}

/** A file's text, or null when it is missing, unreadable or larger than MAX_READ_BYTES. */
function readSmall(path: string): string | null {
  try {
    return statSync(path).size > MAX_READ_BYTES ? null : readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** At most 200 ranges on the wire (the broker merges them further): a huge patch becomes spans. */
function coarse(ranges: Array<[number, number]>): Array<[number, number]> {
  if (ranges.length <= 200) return ranges;
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const per = Math.ceil(sorted.length / 200);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; i += per) {
    const chunk = sorted.slice(i, i + per);
    out.push([chunk[0]![0], Math.max(...chunk.map((r) => r[1]))]);
  }
  return out;
}

interface TouchAnswer {
  decision: "none" | "warn" | "deny";
  text: string | null;
}

function isTouchAnswer(data: unknown): data is TouchAnswer {
  const d = data as Partial<TouchAnswer> | null;
  return typeof d === "object" && d !== null && ["none", "warn", "deny"].includes(d.decision as string) && (d.text === null || typeof d.text === "string");
}

/** What the hook prints for the broker's answers, in the agent's format; null when nothing. */
export function editHookOutput(event: string, answers: readonly TouchAnswer[]): object | null {
  const denied = answers.filter((a) => a.decision === "deny" && a.text);
  const warned = answers.filter((a) => a.decision !== "none" && a.text);
  if (warned.length === 0) return null;
  if (event === "BeforeTool") {
    // Gemini CLI: a BeforeTool hook can refuse (its reason goes to the model) but not add context.
    return denied.length ? { decision: "deny", reason: denied.map((a) => a.text).join("\n") } : null;
  }
  if (denied.length && event === "PreToolUse") {
    const reason = denied.map((a) => a.text).join("\n");
    return { hookSpecificOutput: { hookEventName: event, permissionDecision: "deny", permissionDecisionReason: reason } };
  }
  return { hookSpecificOutput: { hookEventName: event, additionalContext: warned.map((a) => a.text).join("\n") } };
}

/** Runs one edit hook invocation; throws only on local problems (a bad config). */
export async function runEditHook(deps: Pick<HookDeps, "readStdin" | "write" | "env" | "ancestors">): Promise<void> {
  const started = performance.now();
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(await deps.readStdin());
  } catch {
    return;
  }
  if (typeof d !== "object" || d === null) return;
  const event = typeof d.hook_event_name === "string" ? d.hook_event_name : "";
  const phase = PHASES[event];
  const input = d.tool_input;
  if (!phase || typeof d.tool_name !== "string" || typeof input !== "object" || input === null) return;
  const cwd = typeof d.cwd === "string" && isAbsolute(d.cwd) ? d.cwd : process.cwd();
  const shell = SHELL_TOOLS.has(d.tool_name);
  if (shell && phase !== "post") return;
  const files = shell ? [] : editedFiles(d.tool_name, input as Record<string, unknown>, d.tool_response, phase, cwd).slice(0, MAX_FILES);
  if (!shell && files.length === 0) return;
  // Only what this hook uses: a bad setting it does not read never stops it (as the mail hook).
  const mode = loadCollisionMode(deps.env);
  if (mode === "off") return;
  const config = loadBrokerLocation(deps.env);
  const token = (await readOr(config.tokenPath))?.trim();
  if (!token || !/^[\w-]+$/.test(token)) return;
  const chain = await (deps.ancestors ?? ancestorsOf)();
  if (chain.length === 0) return;
  const agentPid = await nearestAgentPid(chain);
  const sessionId = typeof d.session_id === "string" && CLAUDE_SESSION_ID.test(d.session_id) ? d.session_id : undefined;
  // Gemini's BeforeTool cannot add context: its warning comes after the edit (AfterTool). Other
  // agents are told before the edit, and not again after it.
  const tell = phase === "pre" ? event !== "BeforeTool" : event === "AfterTool";
  const left = Math.max(50, DEADLINE_MS - (performance.now() - started));
  const who = { ancestors: chain.map((a) => a.pid), ...(agentPid !== undefined ? { agent_pid: agentPid } : {}), ...(sessionId ? { session_id: sessionId } : {}) };
  if (shell) {
    // The broker finds what the command changed (the worktree's changed files since this session's last look) and says what to tell.
    const answer = await postJson(config.socketPath, "/edits/shell", token, { ...who, cwd, mode, tell: true }, left);
    const output = editHookOutput(event, [answer].filter(isTouchAnswer));
    if (output) await deps.write(JSON.stringify(output));
    return;
  }
  const answers = await Promise.all(
    files.map((f) =>
      postJson(
        config.socketPath,
        "/edits/touch",
        token,
        { ...who, path: f.path, phase, lines: f.lines, mode, tell },
        left,
      ),
    ),
  );
  const output = editHookOutput(event, answers.filter(isTouchAnswer));
  if (output) await deps.write(JSON.stringify(output));
}

/** `bun cli.ts hook --edits` itself: stdin and stdout of this process, exit code always 0. */
export async function runEditHookFromProcess(): Promise<void> {
  try {
    await runEditHook({ readStdin: () => new Response(Bun.stdin.stream()).text(), write: async (text) => void (await Bun.write(Bun.stdout, text)) });
  } catch (err) {
    process.stderr.write(`claude-peers edit hook: ${(err as Error).message}\n`);
  }
}
