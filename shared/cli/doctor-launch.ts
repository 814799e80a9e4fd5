/**
 * doctor's launch checks: it runs what Claude Code will run, the registered MCP server's command and
 * the hooks' commands, because a config that reads well can still fail to start (a version manager
 * moved Bun, the clone moved or was deleted). The server runs with CLAUDE_PEERS_CHECK_ONLY=1: it
 * answers `initialize` and touches nothing (no broker, no registration); a hook given `{}` on stdin
 * has no event to answer and exits 0 before it asks anything.
 */
import { errorMessage } from "../errors.ts";
import { VERSION } from "../version.ts";

/** Long enough for a cold Bun to load the server on a busy machine; a broken command fails at once. */
const LAUNCH_TIMEOUT_MS = 10_000;

/** A stdio MCP server as Claude Code's config holds it. */
export interface StdioEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Reads an mcpServers entry as Claude Code would run it; null when it is not a stdio command. */
export function stdioEntry(entry: unknown): StdioEntry | null {
  const e = entry as { type?: unknown; command?: unknown; args?: unknown; env?: unknown } | null;
  if (!e || typeof e.command !== "string" || (e.type !== undefined && e.type !== "stdio")) return null;
  const args = Array.isArray(e.args) ? e.args.filter((a): a is string => typeof a === "string") : [];
  const env = typeof e.env === "object" && e.env !== null ? (Object.fromEntries(Object.entries(e.env).filter(([, v]) => typeof v === "string")) as Record<string, string>) : {};
  return { command: e.command, args, env };
}

/** Starts the server as Claude Code would and waits for its answer to `initialize`; null when it answered, else why not. */
export async function launchServer(entry: StdioEntry, cwd: string): Promise<string | null> {
  const shown = [entry.command, ...entry.args].join(" ");
  let proc;
  try {
    proc = Bun.spawn([entry.command, ...entry.args], {
      cwd,
      env: { ...process.env, ...entry.env, CLAUDE_PEERS_CHECK_ONLY: "1" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (err) {
    return `\`${shown}\` cannot start: ${errorMessage(err)}`;
  }
  const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "claude-peers-doctor", version: VERSION } } };
  try {
    proc.stdin.write(`${JSON.stringify(initialize)}\n`);
    await proc.stdin.flush();
    const answered = readAnswer(proc.stdout);
    const outcome = await Promise.race([
      // stdout ends without the answer when the process exits: say how it exited.
      answered.then(async (ok) => (ok ? "answered" : `exited (${await proc.exited})`)),
      Bun.sleep(LAUNCH_TIMEOUT_MS).then(() => `no answer within ${LAUNCH_TIMEOUT_MS / 1000} s`),
    ]);
    if (outcome === "answered") return null;
    const stderr = outcome.startsWith("exited") ? lastLine(await new Response(proc.stderr).text()) : "";
    return `\`${shown}\` did not answer Claude Code's initialize: ${outcome}${stderr ? `: ${stderr}` : ""}`;
  } catch (err) {
    return `\`${shown}\` failed: ${errorMessage(err)}`;
  } finally {
    proc.kill();
    await proc.exited;
  }
}

/** Runs a hook's command line through the shell, as Claude Code does, with an input that asks nothing; null when it exits 0. */
export async function launchHook(command: string, cwd: string): Promise<string | null> {
  const proc = Bun.spawn(["/bin/sh", "-c", command], { cwd, env: { ...process.env }, stdin: new Blob(["{}"]), stdout: "ignore", stderr: "pipe" });
  const code = await Promise.race([proc.exited, Bun.sleep(LAUNCH_TIMEOUT_MS).then(() => null)]);
  if (code === null) proc.kill();
  if (code === 0) return null;
  const why = code === null ? `no exit within ${LAUNCH_TIMEOUT_MS / 1000} s` : code === 127 ? "its program is not there (exit 127)" : `exit ${code}`;
  const stderr = code === null ? "" : lastLine(await new Response(proc.stderr).text());
  return `\`${command}\` fails: ${why}${stderr ? `: ${stderr}` : ""}`;
}

/** Whether stdout carries the JSON-RPC answer to request 1 before it ends. */
async function readAnswer(stdout: ReadableStream<Uint8Array>): Promise<boolean> {
  let buffered = "";
  const decoder = new TextDecoder();
  for await (const chunk of stdout) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const message = JSON.parse(line) as { id?: unknown; result?: unknown };
        if (message.id === 1 && message.result) return true;
      } catch {
        // not JSON: a server that writes to stdout is broken, and says so by never answering
      }
    }
  }
  return false;
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.slice(0, 300) ?? "";
}
