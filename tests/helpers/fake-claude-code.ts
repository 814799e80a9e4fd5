/**
 * Stands in for the Claude Code process in hook tests, with the same process tree:
 *
 *   test ──stdio──▶ fake-claude-code.ts ─┬─ server.ts         (stdio inherited: the test's MCP
 *                                        │                     Client talks to the server directly)
 *                                        └─ sh -c "<hook command>" ─ bun cli.ts hook
 *
 * Claude Code spawns the MCP server as its child and runs a hook's shell command as its child
 * too, so the hook finds the server's peer through its ancestors. The test asks for hook runs over
 * a Unix socket (FAKE_CLAUDE_CONTROL): POST /hook {input, command} runs one and answers
 * {code, stdout, stderr, ms}; POST /hook/start runs one in the background and answers its pid at
 * once, POST /hook/result {pid} its outcome once it exits; GET /server answers the server's pid.
 *
 * With FAKE_CLAUDE_WRAP=1 the server runs behind `sh -c` (a wrapper): then GET /server answers the
 * shell's pid, and only the session id (CLAUDE_CODE_SESSION_ID, session_id) pairs the hook with it.
 *
 * usage: bun fake-claude-code.ts <server.ts> [args...]   (the args only show in this process's
 * command line, as Claude Code's own flags do: the hook reads them there)
 */
import { rmSync } from "node:fs";

const controlPath = process.env.FAKE_CLAUDE_CONTROL;
const serverPath = process.argv[2];
if (!controlPath || !serverPath) {
  process.stderr.write("usage: FAKE_CLAUDE_CONTROL=<socket> bun fake-claude-code.ts <server.ts> [args...]\n");
  process.exit(2);
}

// FAKE_CLAUDE_WRAP=1: the server runs behind a shell that does not exec it (a wrapper script, a
// version manager's shim), so its parent is that shell, not this process.
const command = process.env.FAKE_CLAUDE_WRAP === "1" ? ["/bin/sh", "-c", `"${process.execPath}" "${serverPath}"; exit $?`] : [process.execPath, serverPath];
const server = Bun.spawn(command, { stdio: ["inherit", "inherit", "inherit"], env: process.env });

/** Background hooks by pid, until their result is asked for. */
const background = new Map<number, Promise<{ code: number; stdout: string; stderr: string; ms: number }>>();

rmSync(controlPath, { force: true });
const control = Bun.serve({
  unix: controlPath,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/server") return Response.json({ pid: server.pid });
    // A background hook (async, as Claude Code runs the waiter): /hook/start answers its pid at
    // once, /hook/result {pid} answers when it has exited.
    if (path === "/hook/result") {
      const { pid } = (await req.json()) as { pid: number };
      const running = background.get(pid);
      return running ? Response.json(await running) : new Response("no such hook", { status: 404 });
    }
    if (path !== "/hook" && path !== "/hook/start") return new Response("not found", { status: 404 });
    const { input, command } = (await req.json()) as { input: string; command: string };
    const started = performance.now();
    const hook = Bun.spawn(["/bin/sh", "-c", command], {
      stdin: new TextEncoder().encode(input),
      stdout: "pipe",
      stderr: "pipe",
      env: process.env,
    });
    const result = Promise.all([new Response(hook.stdout).text(), new Response(hook.stderr).text(), hook.exited]).then(([stdout, stderr, code]) => ({
      code,
      stdout,
      stderr,
      ms: performance.now() - started,
    }));
    if (path === "/hook/start") {
      background.set(hook.pid, result);
      return Response.json({ pid: hook.pid });
    }
    return Response.json(await result);
  },
});

let leaving = false;
/** Never leaves the server behind: the test confirms its pid is gone without signalling it. */
async function leave(code: number): Promise<never> {
  if (!leaving) {
    leaving = true;
    server.kill("SIGTERM");
    await server.exited;
    await control.stop(true);
    rmSync(controlPath!, { force: true });
  }
  process.exit(code);
}

// Claude Code closing the server's stdin ends the server; the stand-in goes with it.
void server.exited.then((code) => leave(code ?? 0));
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void leave(0));
