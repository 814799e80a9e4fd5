/**
 * Which of a hook's ancestors is a coding agent's process (Claude Code, Codex CLI, Gemini CLI), read
 * from its command line. The broker stops pairing a hook at the nearest one: an agent run from
 * another session's shell is not that session. Zod-free and node:fs-free: the hook imports it.
 */
import type { Ancestor } from "./ancestry.ts";

/** Programs that run an agent's script: the script names the agent (`node …/bin/gemini`, `bun …/claude.ts`). */
const INTERPRETERS = new Set(["node", "nodejs", "bun", "deno"]);
/** Claude Code (`claude`, npm's `…/claude-code/cli.js`, the native `…/claude/versions/<version>`), Codex, Gemini CLI. */
const AGENT_WORD = /(^|\/)[^/]*(claude|codex|gemini)[^/]*$|\/claude-code\/|\/claude\/versions\//i;

/** Whether a command line (arguments joined by spaces) runs a coding agent. */
export function isAgentCommand(command: string): boolean {
  const [program = "", ...args] = command.split(/\s+/);
  const name = program.split("/").pop()!.replace(/\.exe$/, ""); // npm's bun is …/bin/bun.exe
  // An interpreter's program is its first argument that is not an option.
  const words = INTERPRETERS.has(name) ? [program, args.find((a) => !a.startsWith("-")) ?? ""] : [program];
  return words.some((word) => word !== "" && AGENT_WORD.test(word));
}

/** The pid of the nearest ancestor that is an agent's process; command lines are read one at a time, nearest first. */
export async function nearestAgentPid(chain: readonly Ancestor[]): Promise<number | undefined> {
  for (const ancestor of chain) if (isAgentCommand(await ancestor.command())) return ancestor.pid;
  return undefined;
}
