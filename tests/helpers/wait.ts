/** Waiting on conditions (never on fixed sleeps), and proving processes are gone. */
import { readFileSync } from "node:fs";

export async function waitFor<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/** Whether `pid` is still running. A zombie has exited: orphans wait for a slow init to reap them. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false; // no /proc (macOS): kill(0) is all we have
  }
}

/** Sends `signal` and waits until the pid no longer exists (ESRCH). */
export async function killAndConfirm(pid: number, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return;
    throw err;
  }
  try {
    await waitFor(() => !pidAlive(pid), `pid ${pid} to exit after ${signal}`, timeoutMs);
  } catch {
    process.kill(pid, "SIGKILL");
    await waitFor(() => !pidAlive(pid), `pid ${pid} to exit after SIGKILL`, 2000);
  }
}
