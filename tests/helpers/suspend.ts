/**
 * A laptop's lid closed, for a set of processes: each stopped with SIGSTOP until none of them runs
 * (processes started meanwhile are stopped too), then continued with SIGCONT. Time goes on for
 * everything else: a broker on another host, a peer that keeps writing.
 */
import { readFileSync } from "node:fs";
import { statFields } from "../../shared/proc-stat.ts";
import { pidAlive, waitFor } from "./wait.ts";

const readOr = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};
const isStopped = (pid: number) => statFields(readOr(`/proc/${pid}/stat`))[0] === "T";

/**
 * Stops every process `pids()` lists, except `keep`, until none of them runs; returns the pids to
 * resume. A terminal that continues its own child when it stops (tmux does) must not be the
 * parent of a stopped process: run the program from a shell in it, and keep that shell.
 */
export async function suspend(pids: () => number[], keep: readonly number[]): Promise<number[]> {
  const stopped = new Set<number>();
  for (;;) {
    const running = pids().filter((pid) => !keep.includes(pid) && !stopped.has(pid));
    if (running.length === 0 && [...stopped].every((pid) => isStopped(pid) || !pidAlive(pid))) return [...stopped];
    for (const pid of running) {
      process.kill(pid, "SIGSTOP");
      stopped.add(pid);
    }
    await waitFor(() => [...stopped].every((pid) => isStopped(pid) || !pidAlive(pid)), "the processes to stop", 5000).catch((err) => {
      const state = (pid: number) => `${pid} ${statFields(readOr(`/proc/${pid}/stat`))[0]} ${readOr(`/proc/${pid}/cmdline`).replaceAll("\0", " ").slice(0, 60)}`;
      const text = [...stopped].map(state).join("; ");
      resume([...stopped]);
      throw new Error(`${(err as Error).message}: ${text}`);
    });
  }
}

/** Continues what suspend() stopped. */
export function resume(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // gone meanwhile
    }
  }
}
