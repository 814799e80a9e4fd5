/** Whether a local process exists (signal 0 checks without sending anything). */
import { readFileSync } from "node:fs";
import { statFields } from "./proc-stat.ts";

export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false; // kill(0) would signal our own group
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/** A zombie has exited but is not reaped yet (its parent is slow); kill(pid, 0) still succeeds. */
function isZombie(pid: number): boolean {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, "utf8"))[0] === "Z";
  } catch {
    return false; // no /proc (macOS): trust kill(pid, 0)
  }
}

/**
 * When a local process started (clock ticks after boot, /proc/<pid>/stat field 22): a pid and its
 * start time name one process, never a later one that got the same pid. undefined when it cannot
 * be read (gone, or no /proc on macOS: then the pid alone names it).
 */
export function processStart(pid: number): string | undefined {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, "utf8"))[19];
  } catch {
    return undefined;
  }
}
