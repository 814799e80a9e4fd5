/**
 * `bun cli.ts doctor`: checks an install and says what to fix. Each check reads what is there
 * (versions, Claude Code's config files, the broker, file modes, the store, this shell's session)
 * and never changes anything. Exit 1 when a check finds something wrong.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ancestorsOf } from "../ancestry.ts";
import { probeBroker, type Probe } from "../broker-probe.ts";
import { PLUGIN_NAME, channelsRequested } from "../channel-flag.ts";
import { errorMessage } from "../errors.ts";
import { SERVER_NAME } from "../instructions.ts";
import { redactUrl } from "../store/postgres.ts";
import { VERSION } from "../version.ts";
import { clientFor, type CliContext } from "./context.ts";
import { defaultTarget } from "./install/command.ts";
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
    registrationCheck(claude, ctx.cwd),
    hooksCheck(claude),
    channelFlagCheck(),
    brokerCheck(ctx.config.socketPath, probe),
    fileModeCheck(ctx),
    await storeCheck(ctx),
    await sessionCheck(ctx, probe),
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

// ---- Claude Code's config ---------------------------------------------------------------------

interface ClaudeConfig {
  /** Where Claude Code keeps settings.json and plugins/ (CLAUDE_CONFIG_DIR, else ~/.claude). */
  dir: string;
  /** .claude.json: user and local MCP servers. */
  state: Record<string, unknown> | null;
  settings: Record<string, unknown> | null;
  statePath: string;
}

function claudeConfig(ctx: CliContext): ClaudeConfig {
  const fromEnv = process.env.CLAUDE_CONFIG_DIR;
  const dir = fromEnv || join(ctx.home || homedir(), ".claude");
  const statePath = fromEnv ? join(fromEnv, ".claude.json") : join(ctx.home || homedir(), ".claude.json");
  return { dir, statePath, state: readJsonObject(statePath), settings: readJsonObject(join(dir, "settings.json")) };
}

/** How claude-peers is registered: the plugin, `claude mcp add` (user, local or project scope), or both. */
function registrationCheck(c: ClaudeConfig, cwd: string): Check {
  const plugin = pluginKeys(c);
  const mcp: string[] = [];
  const userServers = record(c.state?.mcpServers);
  if (userServers && SERVER_NAME in userServers) mcp.push(`user scope (${c.statePath})`);
  const local = record(record(record(c.state?.projects)?.[cwd])?.mcpServers);
  if (local && SERVER_NAME in local) mcp.push(`local scope for ${cwd}`);
  const project = record(readJsonObject(join(cwd, ".mcp.json"))?.mcpServers);
  if (project && SERVER_NAME in project) mcp.push(`project scope (${join(cwd, ".mcp.json")})`);
  const name = "registration";
  if (plugin.length && mcp.length) {
    return {
      name,
      status: "warn",
      detail: `both the plugin (${plugin.join(", ")}) and \`claude mcp add\` (${mcp.join(", ")}): every session runs two claude-peers servers`,
      fix: `keep one: claude mcp remove ${SERVER_NAME}, or claude plugin uninstall ${plugin[0]}`,
    };
  }
  if (plugin.length) return { name, status: "ok", detail: `the plugin ${plugin.join(", ")} (server, hooks and skill)` };
  if (mcp.length) return { name, status: "ok", detail: `\`claude mcp add\`: ${mcp.join(", ")}` };
  return { name, status: "warn", detail: "claude-peers is not registered with Claude Code here", fix: "install the plugin or run `claude mcp add` (README: Install into Claude Code)" };
}

function pluginKeys(c: ClaudeConfig): string[] {
  const enabled = record(c.settings?.enabledPlugins) ?? {};
  return Object.entries(enabled)
    .filter(([key, on]) => key.startsWith(`${PLUGIN_NAME}@`) && on === true)
    .map(([key]) => key);
}

/** The hooks come with the plugin; a `claude mcp add` install needs them in settings.json. */
function hooksCheck(c: ClaudeConfig): Check {
  if (pluginKeys(c).length) return { name: "hooks", status: "ok", detail: "from the plugin (hooks/hooks.json)" };
  const hooks = JSON.stringify(c.settings?.hooks ?? {});
  if (/cli\.ts\\?"? hook|claude-peers hook/.test(hooks)) return { name: "hooks", status: "ok", detail: `in ${join(c.dir, "settings.json")}` };
  return {
    name: "hooks",
    status: "info",
    detail: "no claude-peers hooks: where channels are off, mail reaches Claude only when it calls check_messages",
    fix: "install the plugin, or add the hooks to settings.json (README: Which delivery works where)",
  };
}

/** The Claude Code processes running now, and which were started with channel push for claude-peers. */
function channelFlagCheck(): Check {
  const running: boolean[] = [];
  for (const entry of existsSync("/proc") ? safeReaddir("/proc") : []) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    // The native binary (…/claude), or npm's (node …/@anthropic-ai/claude-code/cli.js).
    if (!argv.some((a, i) => i < 2 && (/(^|\/)claude(\.exe)?$/.test(a) || a.includes("@anthropic-ai/claude-code")))) continue;
    running.push(channelsRequested(argv.join(" ")));
  }
  if (running.length === 0) return { name: "channel flag", status: "info", detail: "no Claude Code running now" };
  const flagged = running.filter(Boolean).length;
  return {
    name: "channel flag",
    status: "info",
    detail: `${running.length} Claude Code process${running.length === 1 ? "" : "es"} running, ${flagged} with channel push for claude-peers (--dangerously-load-development-channels server:${SERVER_NAME}, or the claudepeers alias)`,
  };
}

// ---- the broker, its files and its store ------------------------------------------------------

function brokerCheck(socketPath: string, probe: Probe): Check {
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
  return { name: "broker", status: "ok", detail: `pid ${health.pid} on ${socketPath}, claude-peers ${health.version}, since ${health.started_at}` };
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
  const ancestors = (await ancestorsOf()).map((a) => a.pid).slice(0, 64);
  if (ancestors.length === 0) return { name, status: "info", detail: "this process has no ancestors to look up" };
  try {
    const found = await client.call("/hook", { ancestors, peek: true, ...(sessionId ? { session_id: sessionId } : {}) });
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

function readJsonObject(path: string): Record<string, unknown> | null {
  try {
    return record(JSON.parse(readFileSync(path, "utf8")));
  } catch {
    return null;
  }
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
