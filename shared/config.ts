/** Reads the environment once and turns it into the settings every entry point uses. */
import { homedir, hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { AGENTS, DEFAULT_AGENT, isAgent, type Agent } from "./agents.ts";

export const DEFAULT_PORT = 7899;
/** What a Claude Code session id looks like (CLAUDE_CODE_SESSION_ID, a hook input's session_id); anything else is ignored. */
export const CLAUDE_SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;
export const DEFAULT_SUMMARY_MODEL = "gpt-4o-mini";
export const DEFAULT_MAILBOX_DAYS = 7;
/** Peers of a host whose broker stopped heartbeating read as offline after this long. */
export const DEFAULT_HOST_TIMEOUT_S = 15;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface Config {
  port: number;
  /**
   * CLAUDE_PEERS_DB: a SQLite file (the token, log and lock files sit beside it), or a
   * postgres:// URL shared by the brokers of several machines (those files then sit in HOME).
   */
  db: string;
  /** True when `db` is a PostgreSQL URL. */
  shared: boolean;
  /** This machine's name on the network: CLAUDE_PEERS_HOST, else the hostname. */
  host: string;
  /** How long a silent broker's peers still read as live to the other hosts. */
  hostTimeoutMs: number;
  tokenPath: string;
  logPath: string;
  lockPath: string;
  /** Explicit peer name from CLAUDE_PEERS_NAME, if any. */
  peerName: string | undefined;
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  summaryModel: string;
  /** How long a message to an offline name waits in its mailbox. */
  mailboxTtlMs: number;
  /** false only when CLAUDE_PEERS_PUSH=off: servers then use the 1 s poll fallback. */
  push: boolean;
  /** CLAUDE_CODE_SESSION_ID, which Claude Code (2.1.154+) gives its stdio MCP servers: hooks name their session by it. */
  claudeSessionId: string | undefined;
  /** Where the broker keeps the mail flags the plugin's hooks test before starting Bun (broker/mail-flags.ts). */
  mailFlagDir: string;
  /** Where the broker keeps the quiet flags the plugin's pre-edit hook tests before starting Bun (broker/edit-flags.ts). */
  editFlagDir: string;
  /** CLAUDE_PEERS_GROUPS=ui,review: the groups a session joins at start. */
  groups: string[];
  /** CLAUDE_PEERS_AGENT: the coding agent this server runs in (`bun cli.ts install codex` writes it into Codex's entry). */
  agent: Agent;
  /** Loop damping (the broker's): 0 turns a rule off. */
  damping: {
    /** CLAUDE_PEERS_DUPLICATE_WINDOW_S (60): the same text to the same recipient within it is refused. */
    duplicateWindowS: number;
    /** CLAUDE_PEERS_LOOP_LIMIT (30) messages between two peers within CLAUDE_PEERS_LOOP_WINDOW_S (600), no person in between: the rest are held. */
    loopLimit: number;
    loopWindowS: number;
  };
  /** Edit collisions (broker/edits.ts). */
  collisions: {
    /** CLAUDE_PEERS_COLLISIONS (deny): deny refuses an edit once when the same lines or a claim are at stake, else warns; warn never refuses; off says nothing. */
    mode: CollisionMode;
    /** CLAUDE_PEERS_COLLISION_WINDOW_S (1800): how long another session's edit of a file counts (the broker's). */
    windowS: number;
  };
}

export type CollisionMode = "warn" | "deny" | "off";
const COLLISION_MODES: readonly CollisionMode[] = ["warn", "deny", "off"];

export class ConfigError extends Error {}

/** Builds the config from `env`; throws ConfigError naming the variable when a value is unusable. */
export function loadConfig(env: Record<string, string | undefined> = process.env, home = homedir()): Config {
  const port = parsePort(env.CLAUDE_PEERS_PORT);
  const raw = env.CLAUDE_PEERS_DB?.trim() || join(home, ".claude-peers.db");
  const shared = isPostgresUrl(raw);
  const db = shared ? raw : resolve(expandHome(raw, home));
  const files = shared ? join(home, ".claude-peers") : db; // token, log: <files>.token, <files>.log
  const base = join(dirname(files), ".claude-peers");
  const mailboxDays = parsePositive(env.CLAUDE_PEERS_MAILBOX_DAYS, "CLAUDE_PEERS_MAILBOX_DAYS", DEFAULT_MAILBOX_DAYS);
  return {
    port,
    db,
    shared,
    host: parseHost(env.CLAUDE_PEERS_HOST),
    hostTimeoutMs: parsePositive(env.CLAUDE_PEERS_HOST_TIMEOUT, "CLAUDE_PEERS_HOST_TIMEOUT", DEFAULT_HOST_TIMEOUT_S) * 1000,
    tokenPath: `${files}.token`,
    logPath: `${files}.log`,
    lockPath: `${base}-${port}.lock`,
    peerName: env.CLAUDE_PEERS_NAME?.trim() || undefined,
    openaiApiKey: env.OPENAI_API_KEY?.trim() || undefined,
    openaiBaseUrl: env.OPENAI_BASE_URL?.trim() || undefined,
    summaryModel: env.CLAUDE_PEERS_SUMMARY_MODEL?.trim() || DEFAULT_SUMMARY_MODEL,
    mailboxTtlMs: mailboxDays * DAY_MS,
    push: env.CLAUDE_PEERS_PUSH?.trim().toLowerCase() !== "off",
    claudeSessionId: CLAUDE_SESSION_ID.test(env.CLAUDE_CODE_SESSION_ID?.trim() ?? "") ? env.CLAUDE_CODE_SESSION_ID!.trim() : undefined,
    mailFlagDir: join(home, ".claude-peers-mail"),
    editFlagDir: join(home, ".claude-peers-edits"),
    groups: parseGroups(env.CLAUDE_PEERS_GROUPS),
    agent: parseAgent(env.CLAUDE_PEERS_AGENT),
    damping: {
      duplicateWindowS: parseNonNegative(env.CLAUDE_PEERS_DUPLICATE_WINDOW_S, "CLAUDE_PEERS_DUPLICATE_WINDOW_S", 60),
      loopLimit: parseNonNegative(env.CLAUDE_PEERS_LOOP_LIMIT, "CLAUDE_PEERS_LOOP_LIMIT", 30),
      loopWindowS: parseNonNegative(env.CLAUDE_PEERS_LOOP_WINDOW_S, "CLAUDE_PEERS_LOOP_WINDOW_S", 600),
    },
    collisions: {
      mode: parseCollisionMode(env.CLAUDE_PEERS_COLLISIONS),
      windowS: parsePositive(env.CLAUDE_PEERS_COLLISION_WINDOW_S, "CLAUDE_PEERS_COLLISION_WINDOW_S", 1800),
    },
  };
}

/** A group's name, as CLAUDE_PEERS_GROUPS, join_group and `#name` take it. */
export const GROUP_NAME = /^[a-z0-9_-]{1,40}$/;

/** "ui, review" → ["ui", "review"]; a name that is not a group name stops the start with the variable named. */
function parseGroups(raw: string | undefined): string[] {
  const names = (raw ?? "").split(",").map((g) => g.trim().replace(/^#/, "")).filter(Boolean);
  for (const name of names) {
    if (!GROUP_NAME.test(name)) {
      throw new ConfigError(`CLAUDE_PEERS_GROUPS: "${name}" is not a group name (1 to 40 lowercase letters, digits, - or _; comma-separated)`);
    }
  }
  return [...new Set(names)];
}

function parseCollisionMode(raw: string | undefined): CollisionMode {
  const mode = raw?.trim().toLowerCase() || "deny";
  if (!COLLISION_MODES.includes(mode as CollisionMode)) throw new ConfigError(`CLAUDE_PEERS_COLLISIONS must be one of ${COLLISION_MODES.join(", ")}, got "${raw}"`);
  return mode as CollisionMode;
}

function parseAgent(raw: string | undefined): Agent {
  const agent = raw?.trim().toLowerCase() || DEFAULT_AGENT;
  if (!isAgent(agent)) throw new ConfigError(`CLAUDE_PEERS_AGENT must be one of ${AGENTS.join(", ")}, got "${raw}"`);
  return agent;
}

export function brokerUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_PORT;
  // Digits only: Number() would also take "0x1F90" or "1e3" and quietly listen on another port.
  const port = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`CLAUDE_PEERS_PORT must be a port number from 1 to 65535, got "${raw}"`);
  }
  return port;
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** One plain word without '@': it is typed in name@host and shown in tables. */
function parseHost(raw: string | undefined): string {
  if (raw?.trim()) {
    if (!HOST_NAME.test(raw.trim())) {
      throw new ConfigError(`CLAUDE_PEERS_HOST must be a host name (letters, digits, '.', '_', '-'; at most 63), got "${raw}"`);
    }
    return raw.trim();
  }
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63);
  return HOST_NAME.test(host) ? host : "localhost";
}

function parsePositive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function parseNonNegative(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`${name} must be a number, 0 or more (0 turns it off), got "${raw}"`);
  return value;
}

function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? join(home, path.slice(1)) : path;
}
