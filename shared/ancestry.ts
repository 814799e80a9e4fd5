/**
 * This process's ancestors, nearest first, with their command lines. A Claude Code hook finds its
 * session's peer through them: Claude Code spawns both the hook (often through a shell) and the
 * session's MCP server, and the server told the broker its parent pid.
 *
 * Files are read with Bun.file, not node:fs: importing node:fs alone costs the hook ~7 ms.
 */

import { statFields } from "./proc-stat.ts";

export interface Ancestor {
  pid: number;
  /** The command line, arguments joined by spaces ("" when it cannot be read). */
  command: () => Promise<string>;
}

/** Deep enough for hook → shell → wrapper → Claude Code → terminal → …; the broker accepts 64. */
const MAX_DEPTH = 64;

/** This process's ancestors, nearest first, stopping before pid 1. */
export async function ancestorsOf(): Promise<Ancestor[]> {
  const parent = process.ppid;
  if (parent <= 1) return [];
  const stat = await readOr(`/proc/${parent}/stat`);
  return stat === undefined ? ancestorsFromPs(process.pid) : ancestorsFromProc(parent, stat);
}

/** Linux: /proc/<pid>/stat field 4 is the parent pid. Command lines are read only when asked. */
async function ancestorsFromProc(first: number, firstStat: string): Promise<Ancestor[]> {
  const chain: Ancestor[] = [];
  let pid: number | undefined = first;
  let stat: string | undefined = firstStat;
  while (pid !== undefined && pid > 1 && chain.length < MAX_DEPTH) {
    const current = pid;
    chain.push({ pid: current, command: async () => ((await readOr(`/proc/${current}/cmdline`)) ?? "").split("\0").join(" ").trim() });
    pid = parentFromStat(stat);
    if (pid !== undefined && pid > 1) stat = await readOr(`/proc/${pid}/stat`);
  }
  return chain;
}

/** The parent pid in a /proc/<pid>/stat line. */
export function parentFromStat(stat: string | undefined): number | undefined {
  if (!stat) return undefined;
  const ppid = Number(statFields(stat)[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** Elsewhere (macOS): one `ps` call lists every process's parent and arguments. */
function ancestorsFromPs(pid: number): Ancestor[] {
  let ps;
  try {
    ps = Bun.spawnSync(["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "args="], { stdin: "ignore", stderr: "ignore" });
  } catch {
    return []; // no ps either (Windows): no session can be found, so the hook stays quiet
  }
  return ps.success ? ancestorsFromPsTable(ps.stdout.toString(), pid) : [];
}

/** The ancestors of `pid` in `ps -A -o pid= -o ppid= -o args=` output, nearest first. */
export function ancestorsFromPsTable(table: string, pid: number): Ancestor[] {
  const rows = new Map<number, { ppid: number; args: string }>();
  for (const line of table.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s?(.*)$/.exec(line);
    if (m) rows.set(Number(m[1]), { ppid: Number(m[2]), args: m[3]!.trim() });
  }
  const chain: Ancestor[] = [];
  let current = rows.get(pid)?.ppid;
  while (current !== undefined && current > 1 && chain.length < MAX_DEPTH && !chain.some((a) => a.pid === current)) {
    const args = rows.get(current)?.args ?? "";
    chain.push({ pid: current, command: async () => args });
    current = rows.get(current)?.ppid;
  }
  return chain;
}

/** A file's text, or undefined when it cannot be read (a process that has exited, no /proc). */
export async function readOr(path: string): Promise<string | undefined> {
  try {
    return await Bun.file(path).text();
  } catch {
    return undefined;
  }
}
