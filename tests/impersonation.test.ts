/**
 * Another local user poses as the broker (issue 21, item 1). A real second OS user (created here,
 * removed after) runs an impostor that answers /health exactly as a broker does and records every
 * request: on the victim's console port while the victim's broker is down, and as a socket it
 * placed first where the victim's broker would put its own (a database in a shared folder). The
 * victim's `status`, a hook and a session's server must never send it the token, and say why.
 * Needs root (useradd, setpriv): CI runs as root; elsewhere the suite is skipped with that reason.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dialBroker } from "../shared/broker-address.ts";
import { randomToken } from "../shared/token.ts";
import { brokerPids, runningBroker, type TestBroker } from "./helpers/broker.ts";
import { CLI, runCli } from "./helpers/cli.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { startServer } from "./helpers/server.ts";
import { killAndConfirm, waitFor } from "./helpers/wait.ts";

const FAKE_BROKER = join(ROOT, "tests", "helpers", "fake-broker.ts");
const isRoot = process.getuid?.() === 0;
const tools = ["useradd", "userdel", "setpriv"].every((tool) => Bun.which(tool) !== null);

interface Impostor {
  /** Every request it got: method, path, headers, body. */
  requests(): Array<{ method: string; path: string; headers: Record<string, string>; body: string }>;
  stop(): Promise<void>;
}

describe.skipIf(!isRoot || !tools)("another OS user poses as the broker (skipped unless root with useradd and setpriv: it creates a second user)", () => {
  const name = `cp-imp-${randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, "x")}`;
  let uid = 0;
  let gid = 0;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(() => {
    const add = Bun.spawnSync(["useradd", "--create-home", "--shell", "/bin/sh", name], { stderr: "pipe" });
    if (add.exitCode !== 0) throw new Error(`useradd ${name} failed: ${add.stderr.toString()}`);
    uid = Number(Bun.spawnSync(["id", "-u", name]).stdout.toString().trim());
    gid = Number(Bun.spawnSync(["id", "-g", name]).stdout.toString().trim());
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    Bun.spawnSync(["userdel", "--remove", name], { stderr: "pipe" });
  });

  const asOther = (argv: string[]) => ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", ...argv];

  /** Starts the impostor as the other user; it records into a folder of its own. */
  async function impostor(...listen: string[]): Promise<Impostor> {
    const dir = mkdtempSync(join(tmpdir(), "claude-peers-impostor-"));
    chownSync(dir, uid, gid);
    const log = join(dir, "requests.jsonl");
    const proc = Bun.spawn(asOther([process.execPath, FAKE_BROKER, log, ...listen]), { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: `/home/${name}` }, stdout: "pipe", stderr: "pipe" });
    const reader = proc.stdout.getReader();
    const first = await Promise.race([reader.read(), proc.exited.then(() => undefined)]);
    if (!first || first.done || !new TextDecoder().decode(first.value).includes("ready")) {
      throw new Error(`the impostor did not start: ${await new Response(proc.stderr).text()}`);
    }
    const handle: Impostor = {
      requests: () => {
        try {
          return readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
        } catch {
          return [];
        }
      },
      stop: async () => {
        await killAndConfirm(proc.pid, "SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      },
    };
    cleanups.push(() => handle.stop());
    return handle;
  }

  /** Nothing the impostor got carries the token, or any Authorization header at all. */
  function expectNoSecrets(imp: Impostor, token: string): void {
    const requests = imp.requests();
    expect(requests.filter((r) => "authorization" in r.headers || "x-claude-peers-secret" in r.headers)).toEqual([]);
    expect(JSON.stringify(requests)).not.toContain(token);
  }

  async function hook(t: TestEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    const input = JSON.stringify({ hook_event_name: "PostToolUse", tool_name: "Bash", tool_input: { command: "ls" }, tool_response: { stdout: "" }, cwd: t.home, session_id: "victim-session" });
    const proc = Bun.spawn([process.execPath, CLI, "hook"], { env: t.env, stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }

  test("holding the console's port while the broker is down, it gets no token: status, a hook and a session go to the socket; the console is off, and dashboard says why", async () => {
    const t = makeTestEnv();
    cleanups.push(() => t.cleanup());
    const token = randomToken();
    writeFileSync(t.tokenPath, `${token}\n`, { mode: 0o600 }); // a broker ran here before
    const imp = await impostor("--port", String(t.port));
    // It does pass for a broker to anyone who asks the port, as the old clients did.
    expect(await (await fetch(`http://127.0.0.1:${t.port}/health`)).json()).toMatchObject({ service: "claude-peers-broker" });

    const status = await runCli(t, ["status"]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`no claude-peers broker on ${t.socketPath}`);
    const quiet = await hook(t);
    expect(quiet).toEqual({ code: 0, stdout: "", stderr: "" }); // no fake message "from cli" printed into the session

    // A session starts the real broker: its API on the socket, its console off (the port is taken).
    const session = await startServer(t, { name: "victim" });
    let broker: TestBroker | undefined;
    // The session first: while it lives, it would start its broker again (and leave it running).
    cleanups.push(async () => {
      await session.stop();
      await broker?.stop();
    });
    const me = await session.call("whoami");
    expect(me.isError).toBe(false);
    expect(me.text).toContain(`unix:${t.socketPath}`);
    broker = await runningBroker(t);
    expect(readFileSync(t.logPath, "utf8")).toContain(`the console is off: port ${t.port} on 127.0.0.1 is taken by another program`);
    const running = await runCli(t, ["status"]);
    expect(running.stdout).toMatch(/^console +off \(its port was taken at start/m);
    const dashboard = await runCli(t, ["dashboard", "--no-open"]);
    expect(dashboard.code).toBe(1);
    expect(dashboard.stdout).toBe(""); // no login URL that would lead to the impostor's port
    expect(dashboard.stderr).toContain("the operator console is off: its port was taken");
    expect(dashboard.stderr).toContain("CLAUDE_PEERS_PORT");
    expect((await hook(t)).code).toBe(0);

    expectNoSecrets(imp, broker.token);
    expect(imp.requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /health"]); // only this test's own look
  });

  test("a socket it placed first (the database in a shared folder) is refused by name before anything is sent; no broker starts", async () => {
    const shared = mkdtempSync(join(tmpdir(), "claude-peers-shared-"));
    chmodSync(shared, 0o1777); // like /tmp: everyone may create entries, nobody may remove another's
    cleanups.push(() => rmSync(shared, { recursive: true, force: true }));
    const t = makeTestEnv({ CLAUDE_PEERS_DB: join(shared, "peers.db") });
    cleanups.push(() => t.cleanup());
    expect(Bun.spawnSync(asOther(["mkdir", "-m", "700", join(shared, ".claude-peers")])).exitCode).toBe(0);
    const imp = await impostor("--unix", t.socketPath);
    // Root may connect to it (permissions do not stop root): only the client's own check does.
    expect(await (await dialBroker(t.socketPath, "/health")).json()).toMatchObject({ service: "claude-peers-broker" });
    const token = randomToken();
    writeFileSync(t.tokenPath, `${token}\n`, { mode: 0o600 });
    const owner = `belongs to user ${name} (uid ${uid}), not to you`;

    const status = await runCli(t, ["status"]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(owner);
    expect(status.stderr).toContain("the token is not sent to it");
    const refused = await hook(t);
    expect(refused).toMatchObject({ code: 0, stdout: "" }); // fails open, prints nothing into the session
    expect(refused.stderr).toContain(owner);

    const session = await startServer(t, { name: "victim" });
    cleanups.push(() => session.stop());
    const me = await session.call("whoami");
    expect(me.isError).toBe(true);
    expect(me.text).toContain(owner);
    expect(brokerPids(t)).toEqual([]);

    const broker = Bun.spawnSync([process.execPath, join(ROOT, "broker.ts")], { env: t.env, stderr: "pipe" });
    expect(broker.exitCode).toBe(1);
    expect(broker.stderr.toString()).toContain(owner);

    expectNoSecrets(imp, token);
    await waitFor(() => imp.requests().length === 1, "the impostor's log");
    expect(imp.requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /health"]); // only this test's own look
  });
});
