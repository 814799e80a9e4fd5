/** Starts a real broker.ts process (or finds the one a server started) and stops it by pid. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { dialBroker } from "../../shared/broker-address.ts";
import { probeBroker } from "../../shared/broker-probe.ts";
import { HistoryResultSchema, type Health, type MessageState } from "../../shared/protocol.ts";
import { ROOT, type TestEnv } from "./env.ts";
import { killAndConfirm, waitFor } from "./wait.ts";

export interface TestBroker {
  pid: number;
  /** The API's Unix socket. */
  socketPath: string;
  /** The console's address (TCP): nothing else is served there. */
  consoleUrl: string;
  token: string;
  /** fetch over the broker's socket (`path` is the route), nothing added. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** fetch over the socket with the token and JSON content type already set. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startBroker(t: TestEnv): Promise<TestBroker> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "broker.ts")], {
    env: t.env,
    stdin: "ignore",
    stdout: Bun.file(t.logPath),
    stderr: Bun.file(t.logPath),
  });
  try {
    await waitFor(async () => (await probeBroker(t.socketPath)).kind === "broker", `broker on ${t.socketPath}`);
  } catch (err) {
    proc.kill("SIGKILL");
    throw new Error(`${(err as Error).message}; log: ${safeRead(t.logPath)}`);
  }
  return brokerHandle(t, proc.pid);
}

/** The broker currently serving `t.socketPath` (e.g. one a server auto-started). */
export async function runningBroker(t: TestEnv): Promise<TestBroker> {
  const probe = await waitFor(async () => {
    const p = await probeBroker(t.socketPath);
    return p.kind === "broker" ? p : null;
  }, `a broker on ${t.socketPath}`);
  return brokerHandle(t, probe.health.pid);
}

function brokerHandle(t: TestEnv, pid: number): TestBroker {
  const token = readFileSync(t.tokenPath, "utf8").trim();
  const brokerFetch = (path: string, init: RequestInit = {}) => dialBroker(t.socketPath, path, init);
  return {
    pid,
    socketPath: t.socketPath,
    consoleUrl: `http://127.0.0.1:${t.port}`,
    token,
    fetch: brokerFetch,
    post: (path, body, headers = {}) =>
      brokerFetch(path, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    stop: (signal = "SIGTERM") => killAndConfirm(pid, signal),
  };
}

/** A /register body for a peer named `name` that lives in this test process (so it counts as alive). */
export const peerRegistration = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  pid: process.pid,
  cwd: `/tmp/${name}`,
  git_root: null,
  git_common_dir: null,
  git_branch: null,
  summary: `${name} at work`,
  channel: true, // the test's socket stands in for a server whose Claude Code shows channel push: the broker pushes to it
  ...extra,
});

function safeRead(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "(no log)";
  }
}

/**
 * Pids of every broker.ts process serving this test's database and HOME. Both are only in the
 * environment (not in argv), so this reads /proc/<pid>/environ; zombies have none and drop out.
 * Without /proc (macOS) it finds nothing.
 */
export function brokerPids(t: TestEnv): number[] {
  // Hosts sharing one PostgreSQL share CLAUDE_PEERS_DB too: each test host has its own HOME.
  return processPids((argv) => argv.some((a) => a.endsWith("broker.ts")), [`CLAUDE_PEERS_DB=${t.dbPath}`, `HOME=${t.home}`]);
}

/** Pids of the processes whose argv matches and whose environment holds every one of `env` ("NAME=value"). */
export function processPids(matches: (argv: string[]) => boolean, env: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of existsSync("/proc") ? readdirSync("/proc") : []) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!matches(readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0"))) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (env.every((w) => environ.includes(w))) pids.push(Number(entry));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return pids;
}

/** A message as the broker stores it (the operator's /history view): its state and when it was delivered and read. */
export async function storedMessage(t: TestEnv, messageId: string) {
  const res = await (await runningBroker(t)).post("/history", { limit: 1000 });
  const { messages } = HistoryResultSchema.parse(await res.json());
  return messages.find((m) => m.id === messageId);
}

/** A message's state as the broker stores it (the operator's /history view). */
export async function messageState(t: TestEnv, messageId: string): Promise<MessageState | undefined> {
  return (await storedMessage(t, messageId))?.state;
}

/** Waits until the servers have brought up a broker other than `oldPid` on the socket; returns its health. */
export function awaitNewBroker(t: TestEnv, oldPid: number, timeoutMs = 10_000): Promise<Health> {
  return waitFor(async () => {
    const probe = await probeBroker(t.socketPath);
    return probe.kind === "broker" && probe.health.pid !== oldPid ? probe.health : null;
  }, "the servers to bring up a new broker", timeoutMs);
}
