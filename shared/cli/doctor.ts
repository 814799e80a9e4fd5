/**
 * `bun cli.ts doctor`: checks an install and says what to fix. Each check reads what is there
 * (versions, Claude Code's config files, the broker, file modes, the store, this shell's session)
 * and never changes anything. Exit 1 when a check finds something wrong.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { nearestAgentPid } from "../agent-process.ts";
import { ancestorsOf } from "../ancestry.ts";
import { probeBroker, type Probe } from "../broker-probe.ts";
import { PLUGIN_NAME, channelsRequested } from "../channel-flag.ts";
import { checkConfig } from "../config.ts";
import { WireError, errorMessage } from "../errors.ts";
import { SERVER_NAME } from "../instructions.ts";
import { redactUrl, storeLocation } from "../store-location.ts";
import { VERSION } from "../version.ts";
import { clientFor, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { defaultTarget } from "./install/command.ts";
import { channelFlagCheck, claudeConfig, hooksCheck, launchCheck, registrationCheck } from "./doctor-claude.ts";
import { deliveryCheck } from "./doctor-delivery.ts";
import { otherAgentChecks } from "./install/check.ts";

/** ok: as it should be; info: worth knowing, nothing to fix; warn and fail: something to fix (exit 1). */
export type CheckStatus = "ok" | "info" | "warn" | "fail";

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it, for warn and fail. */
  fix?: string;
}

/** The oldest Bun claude-peers runs on, and the Claude Code that gives MCP servers its session id. */
const MIN_BUN = [1, 3, 0];
const MIN_CLAUDE_CODE = [2, 1, 154];
const CLAUDE_VERSION_TIMEOUT_MS = 5000;
const STORE_TIMEOUT_S = 3;

export async function runDoctor(ctx: CliContext): Promise<Check[]> {
  const claude = claudeConfig(ctx);
  const probe = await probeBroker(ctx.config.socketPath, ctx.fetch);
  return [
    bunCheck(),
    await claudeCodeCheck(),
    settingsCheck(ctx),
    registrationCheck(claude, ctx.cwd),
    hooksCheck(claude),
    await launchCheck(claude, ctx.cwd),
    channelFlagCheck(),
    await brokerCheck(ctx, probe),
    fileModeCheck(ctx),
    await storeCheck(ctx),
    await sessionCheck(ctx, probe),
    await deliveryCheck(ctx, probe),
    ...otherAgentChecks(defaultTarget()),
  ];
}

export function doctorFailed(checks: readonly Check[]): boolean {
  return checks.some((c) => c.status === "warn" || c.status === "fail");
}

// ---- versions -------------------------------------------------------------------------------------

function bunCheck(): Check {
  const version = Bun.version;
  return atLeast(version, MIN_BUN)
    ? { name: "bun", status: "ok", detail: `Bun ${version}` }
    : { name: "bun", status: "fail", detail: `Bun ${version} is older than ${MIN_BUN.join(".")}`, fix: "bun upgrade" };
}

async function claudeCodeCheck(): Promise<Check> {
  const path = Bun.which("claude");
  if (!path) return { name: "claude code", status: "warn", detail: "no `claude` on PATH", fix: "install Claude Code (npm install -g @anthropic-ai/claude-code), or put it on PATH" };
  try {
    const proc = Bun.spawn([path, "--version"], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
    // A shim whose child holds stdout open must not hang the doctor: the answer or the deadline.
    const out = await Promise.race([new Response(proc.stdout).text(), Bun.sleep(CLAUDE_VERSION_TIMEOUT_MS).then(() => "")]);
    proc.kill();
    const version = /\d+\.\d+\.\d+/.exec(out)?.[0];
    if (!version) return { name: "claude code", status: "warn", detail: `\`${path} --version\` printed no version`, fix: "reinstall Claude Code" };
    if (!atLeast(version, MIN_CLAUDE_CODE)) {
      return {
        name: "claude code",
        status: "warn",
        detail: `Claude Code ${version}: before ${MIN_CLAUDE_CODE.join(".")} it gives MCP servers no session id, so hooks find their session only by process ancestry`,
        fix: "claude update",
      };
    }
    return { name: "claude code", status: "ok", detail: `Claude Code ${version} (${path})` };
  } catch (err) {
    return { name: "claude code", status: "warn", detail: `\`${path} --version\` failed: ${errorMessage(err)}`, fix: "reinstall Claude Code" };
  }
}

// ---- settings -------------------------------------------------------------------------------------

/** CLAUDE_PEERS_* in this shell: a bad one stops the broker and every session's server (hooks ignore it). */
function settingsCheck(ctx: CliContext): Check {
  const { problems } = checkConfig(process.env, ctx.home);
  const set = Object.keys(process.env).filter((name) => name.startsWith("CLAUDE_PEERS_")).sort();
  if (problems.length === 0) return { name: "settings", status: "ok", detail: set.length ? `valid: ${set.join(", ")}` : "no CLAUDE_PEERS_* set: the defaults" };
  return {
    name: "settings",
    status: "fail",
    detail: `${problems.map((p) => p.message).join("; ")}: the broker and every session's server started with ${problems.length === 1 ? "it" : "them"} refuse to start`,
    fix: `${problems.map((p) => p.fix).join("; ")} (in this shell, and in the env of any MCP entry that sets ${problems.length === 1 ? "it" : "them"})`,
  };
}

// ---- the broker, its files and its store ------------------------------------------------------

async function brokerCheck(ctx: CliContext, probe: Probe): Promise<Check> {
  const { socketPath } = ctx.config;
  if (probe.kind === "none") return { name: "broker", status: "info", detail: `none on ${socketPath}; the first session starts one` };
  if (probe.kind === "unsafe") return { name: "broker", status: "fail", detail: `${probe.detail}; no token is sent to it`, fix: "remove it, or set CLAUDE_PEERS_DB to a file in a folder of yours" };
  if (probe.kind === "foreign") {
    return { name: "broker", status: "fail", detail: `${socketPath} is held by another program (${probe.detail})`, fix: "stop that program, or remove the socket" };
  }
  const { health } = probe;
  if (health.version !== VERSION) {
    return {
      name: "broker",
      status: "warn",
      detail: `pid ${health.pid} on ${socketPath} runs claude-peers ${health.version}; this is ${VERSION}`,
      fix: "bun cli.ts kill-broker (running sessions start the new one by themselves)",
    };
  }
  const notOurs = await otherSetup(ctx, probe);
  if (notOurs) {
    return {
      name: "broker",
      status: "fail",
      detail: `pid ${health.pid} on ${socketPath} is not this setup's broker: ${notOurs}; every tool of a session here fails on it`,
      fix: `kill ${health.pid} (it is yours, but kill-broker needs its token); the next session starts a broker of this setup`,
    };
  }
  return { name: "broker", status: "ok", detail: `pid ${health.pid} on ${socketPath}, claude-peers ${health.version}, since ${health.started_at}, store ${storeLocation(ctx.config)}` };
}

/** Why the broker on the socket is not this setup's (another HOME's token, another store), or null when it is. */
async function otherSetup(ctx: CliContext, probe: Probe): Promise<string | null> {
  const expected = storeLocation(ctx.config);
  try {
    const { client } = clientFor(ctx, probe);
    const status = await client.call("/status", {});
    return status.broker.db === expected ? null : `it serves the store ${status.broker.db}, this setup's is ${expected}`;
  } catch (err) {
    if (err instanceof CliError && err.code === "token_missing") return `this setup has no token file (${ctx.config.tokenPath})`;
    if (err instanceof WireError && err.code === "unauthorized") return `it refuses this setup's token (${ctx.config.tokenPath})`;
    return null; // it answered /health; a failing /status is the store check's and the session check's to say
  }
}

/** The token and the SQLite files hold every message: readable by this user only. */
function fileModeCheck(ctx: CliContext): Check {
  const { tokenPath, db, shared } = ctx.config;
  const files = [tokenPath, ...(shared ? [] : [db, `${db}-wal`, `${db}-shm`])];
  const loose: string[] = [];
  let seen = 0;
  for (const file of files) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    seen++;
    if (mode & 0o077) loose.push(`${file} (${mode.toString(8).padStart(3, "0")})`);
  }
  if (loose.length) {
    return { name: "file modes", status: "fail", detail: `readable by other users: ${loose.join(", ")}`, fix: `chmod 600 ${loose.map((l) => l.split(" ")[0]).join(" ")}` };
  }
  if (seen === 0) return { name: "file modes", status: "info", detail: "no token or database yet (the first broker creates them, mode 0600)" };
  return { name: "file modes", status: "ok", detail: `${seen} file${seen === 1 ? "" : "s"} (token${shared ? "" : ", database"}) mode 0600` };
}

async function storeCheck(ctx: CliContext): Promise<Check> {
  const { db, shared } = ctx.config;
  if (!shared) {
    if (!existsSync(db)) return { name: "store", status: "info", detail: `SQLite ${db} does not exist yet (the first broker creates it)` };
    try {
      const head = readHeader(db);
      if (head.length > 0 && head !== "SQLite format 3\0") {
        return { name: "store", status: "fail", detail: `${db} is not a SQLite database`, fix: "move it aside, or point CLAUDE_PEERS_DB at another file" };
      }
      return { name: "store", status: "ok", detail: `SQLite ${db}` };
    } catch (err) {
      return { name: "store", status: "fail", detail: `cannot read ${db}: ${errorMessage(err)}`, fix: "check the file's owner and mode" };
    }
  }
  const { SQL } = await import("bun");
  const sql = new SQL({ url: db, adapter: "postgres", max: 1, connectionTimeout: STORE_TIMEOUT_S });
  try {
    // A server that accepts and then stalls is not bounded by connectionTimeout: the deadline is ours.
    const answered = await Promise.race([sql`SELECT 1`.then(() => true), Bun.sleep(STORE_TIMEOUT_S * 1000).then(() => false)]);
    if (!answered) throw new Error(`no answer within ${STORE_TIMEOUT_S} s`);
    return { name: "store", status: "ok", detail: `PostgreSQL ${redactUrl(db)} answers` };
  } catch (err) {
    return { name: "store", status: "fail", detail: `PostgreSQL ${redactUrl(db)}: ${errorMessage(err).replaceAll(db, redactUrl(db))}`, fix: "check that PostgreSQL runs there and that CLAUDE_PEERS_DB names the right host, port, user and password" };
  } finally {
    await sql.close({ timeout: 0 }).catch(() => {});
  }
}

/** Which session this shell belongs to, as a hook run here would find it (by ancestry, then session id); read-only. */
async function sessionCheck(ctx: CliContext, probe: Probe): Promise<Check> {
  const name = "this session";
  const sessionId = process.env.CLAUDE_CODE_SESSION_ID;
  let client;
  try {
    ({ client } = clientFor(ctx, probe));
  } catch {
    return { name, status: "info", detail: "no broker to ask" };
  }
  const chain = (await ancestorsOf()).slice(0, 64);
  const ancestors = chain.map((a) => a.pid);
  const agentPid = await nearestAgentPid(chain);
  if (ancestors.length === 0) return { name, status: "info", detail: "this process has no ancestors to look up" };
  try {
    const found = await client.call("/hook", { ancestors, peek: true, ...(agentPid !== undefined ? { agent_pid: agentPid } : {}), ...(sessionId ? { session_id: sessionId } : {}) });
    if (!found.peer) return { name, status: "info", detail: sessionId ? `Claude Code session ${sessionId}, but no live claude-peers server belongs to it` : "not inside a Claude Code session" };
    return { name, status: "ok", detail: `paired with ${found.peer.name} (${found.peer.id})${found.parent_pid === null ? ` by session id ${sessionId}` : " by process ancestry"}; ${found.unread} unread` };
  } catch (err) {
    return { name, status: "warn", detail: `could not ask the broker: ${errorMessage(err)}`, fix: "bun cli.ts kill-broker, then start a session" };
  }
}

// ---- small helpers -----------------------------------------------------------------------------

function atLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split(/[.-]/).map(Number);
  for (let i = 0; i < min.length; i++) {
    const p = parts[i] ?? 0;
    if (p !== min[i]) return p > min[i]!;
  }
  return true;
}

/** The first 16 bytes of a file (a SQLite header), not the whole database. */
function readHeader(path: string): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(16);
    return buf.subarray(0, readSync(fd, buf, 0, 16, 0)).toString("latin1");
  } finally {
    closeSync(fd);
  }
}
