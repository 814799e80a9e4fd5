/** Runs a CLI to its end, with a deadline after which it is stopped by pid, and a local HTTP stand-in for model APIs. */
import { killAndConfirm } from "./wait.ts";

/** Under the tests' 60 s: a stuck CLI (retrying a failed model API, say) is stopped, not left running. */
const RUN_DEADLINE_MS = 45_000;

export interface RunResult {
  code: number;
  stdout: string;
  /** stderr, plus a note when the deadline stopped the run. */
  stderr: string;
}

export async function runToEnd(argv: string[], env: Record<string, string>, cwd: string): Promise<RunResult> {
  const proc = Bun.spawn(argv, { env, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let late = false;
  const deadline = setTimeout(() => {
    late = true;
    void killAndConfirm(proc.pid, "SIGTERM");
  }, RUN_DEADLINE_MS);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(deadline);
  return { code, stdout, stderr: stderr + (late ? `\n(${argv.join(" ")} was stopped after ${RUN_DEADLINE_MS / 1000} s)` : "") };
}

/** A server on 127.0.0.1 (a free port) that answers every request with `handle`; streams may stay open. */
export function serveLocal(handle: (req: Request, path: string) => Promise<Response>): { origin: string; stop(): void } {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => handle(req, new URL(req.url).pathname) });
  return { origin: `http://127.0.0.1:${server.port}`, stop: () => void server.stop(true) };
}
