/** Waiting on conditions (never on fixed sleeps), and proving processes are gone. */
import { processAlive } from "../../shared/process-alive.ts";

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

/** The error `fn` throws or rejects with (sync or async); fails the test if it does not. */
export async function thrown(fn: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof fn === "function" ? fn() : fn);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw or a rejection, but the call succeeded");
}

/** Whether `pid` is still running (a zombie counts as exited): the product's own check. */
export const pidAlive = processAlive;

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
