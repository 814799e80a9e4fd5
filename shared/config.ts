/** Reads the environment once and turns it into the settings every entry point uses. */
import { homedir, hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { AGENTS, DEFAULT_AGENT, isAgent, type Agent } from "./agents.ts";
import { RESERVED_NAMES, isReservedName, sanitizeName } from "./peer-names.ts";

/** The console's port for uid 0; every other user's default is offset by its uid (defaultConsolePort). */
export const DEFAULT_PORT = 7899;
/** Users whose uids differ by less than this never share a default console port. */
const PORT_SPREAD = 2000;
/** What a Claude Code session id looks like (CLAUDE_CODE_SESSION_ID, a hook input's session_id); anything else is ignored. */
export const CLAUDE_SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;
export const DEFAULT_SUMMARY_MODEL = "gpt-4o-mini";
export const DEFAULT_MAILBOX_DAYS = 7;
/** Peers of a host whose broker stopped heartbeating read as offline after this long. */
export const DEFAULT_HOST_TIMEOUT_S = 15;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface Config {
  /** The operator console's TCP port on 127.0.0.1 (CLAUDE_PEERS_PORT, else defaultConsolePort). */
  port: number;
  /** The broker's Unix socket, which carries every token-bearing call (broker-address.ts dials it). */
  socketPath: string;
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
  /** CLAUDE_PEERS_HELD_DAYS (the mailbox's days): how long held mail (a loop, a pause) waits for a person before it expires. */
  heldTtlMs: number;
  /** false only when CLAUDE_PEERS_PUSH=off: servers then use the 1 s poll fallback. */
  push: boolean;
  /** CLAUDE_CODE_SESSION_ID, which Claude Code (2.1.154+) gives its stdio MCP servers: hooks name their session by it. */
  claudeSessionId: string | undefined;
  /** Where the broker keeps the mail flags the plugin's hooks test before starting Bun (broker/mail-flags.ts). */
  mailFlagDir: string;
  /** `doctor` runs the registered server with CLAUDE_PEERS_CHECK_ONLY=1: answer initialize, touch nothing. */
  checkOnly: boolean;
  /** Where the broker keeps the stake files the edit hooks test before starting Bun (broker/edit-flags.ts). */
  editFlagDir: string;
  /** CLAUDE_PEERS_GROUPS=ui,review: the groups a session joins at start. */
  groups: string[];
  /** CLAUDE_PEERS_AGENT: the coding agent this server runs in (`bun cli.ts install codex` writes it into Codex's entry). */
  agent: Agent;
  /** Loop damping (the broker's): 0 turns a rule off. */
  damping: {
    /** CLAUDE_PEERS_DUPLICATE_WINDOW_S (60): the same text to the same recipient within it is refused. */
    duplicateWindowS: number;
    /** CLAUDE_PEERS_LOOP_LIMIT (30) messages between two peers within CLAUDE_PEERS_LOOP_WINDOW_S (600), no person in between, each sending half of them: the rest are held. */
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

/** A setting that cannot be used: names the variable, what is wrong, and how to fix it. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
    /** What to set it to instead (doctor shows it). */
    readonly fix: string,
  ) {
    super(message);
  }
}

type Env = Record<string, string | undefined>;

/** Where the broker listens and keeps its files: all a hook reads. */
export type BrokerLocation = Pick<Config, "port" | "socketPath" | "db" | "shared" | "tokenPath" | "logPath" | "lockPath">;

/**
 * The broker's address and files from CLAUDE_PEERS_PORT and CLAUDE_PEERS_DB only. Hooks read this
 * and nothing else, so a bad setting they do not use (groups, damping) never stops their mail.
 */
export function loadBrokerLocation(env: Env = process.env, home = homedir(), uid = process.getuid?.() ?? 0): BrokerLocation {
  return brokerLocation(parsePort(env.CLAUDE_PEERS_PORT, uid), env, home);
}

/**
 * Where this user's broker of the other kind of store listens: the default SQLite file's when
 * `current` is a PostgreSQL URL, the shared database's otherwise. Right after CLAUDE_PEERS_DB
 * changes kind, the broker still running is there (kill-broker looks).
 */
export function otherKindOfStore(current: Pick<BrokerLocation, "port" | "shared">, home = homedir()): Pick<BrokerLocation, "socketPath" | "tokenPath" | "shared"> {
  // Any URL will do: every PostgreSQL database shares one socket and token per HOME.
  const { socketPath, tokenPath, shared } = brokerLocation(current.port, current.shared ? {} : { CLAUDE_PEERS_DB: "postgres://localhost/" }, home);
  return { socketPath, tokenPath, shared };
}

function brokerLocation(port: number, env: Env, home: string): BrokerLocation {
  const raw = env.CLAUDE_PEERS_DB?.trim() || join(home, ".claude-peers.db");
  const shared = isPostgresUrl(raw);
  const db = shared ? raw : resolve(expandHome(raw, home));
  const files = shared ? join(home, ".claude-peers") : db; // token, log: <files>.token, <files>.log
  const base = join(dirname(files), ".claude-peers");
  return {
    port,
    // In a folder of its own (0700, this user's): the folder's mode decides who may connect.
    socketPath: join(dirname(files), ".claude-peers", `${basename(files).replace(/^\.+/, "")}.sock`),
    db,
    shared,
    tokenPath: `${files}.token`,
    logPath: `${files}.log`,
    lockPath: `${base}-${port}.lock`,
  };
}

/** Builds the config from `env`; throws ConfigError naming the variable when a value is unusable. */
export function loadConfig(env: Env = process.env, home = homedir(), uid = process.getuid?.() ?? 0): Config {
  const { config, problems } = checkConfig(env, home, uid);
  if (problems[0]) throw problems[0];
  return config;
}

/**
 * Every setting, with each unusable value reported and its default used in its place: what
 * `doctor` shows. The broker and the server refuse to start on any problem (loadConfig).
 */
export function checkConfig(env: Env = process.env, home = homedir(), uid = process.getuid?.() ?? 0): { config: Config; problems: ConfigError[] } {
  const problems: ConfigError[] = [];
  const read = <T>(parse: () => T, fallback: () => T): T => {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
      return fallback();
    }
  };
  const port = read(() => parsePort(env.CLAUDE_PEERS_PORT, uid), () => defaultConsolePort(uid));
  const number = (name: string, fallback: number, parse: typeof parsePositive) => read(() => parse(env[name], name, fallback), () => fallback);
  const mailboxDays = number("CLAUDE_PEERS_MAILBOX_DAYS", DEFAULT_MAILBOX_DAYS, parsePositive);
  const config: Config = {
    ...brokerLocation(port, env, home),
    host: read(() => parseHost(env.CLAUDE_PEERS_HOST), () => parseHost(undefined)),
    hostTimeoutMs: number("CLAUDE_PEERS_HOST_TIMEOUT", DEFAULT_HOST_TIMEOUT_S, parsePositive) * 1000,
    peerName: read(() => parsePeerName(env.CLAUDE_PEERS_NAME), () => undefined),
    openaiApiKey: env.OPENAI_API_KEY?.trim() || undefined,
    openaiBaseUrl: env.OPENAI_BASE_URL?.trim() || undefined,
    summaryModel: env.CLAUDE_PEERS_SUMMARY_MODEL?.trim() || DEFAULT_SUMMARY_MODEL,
    mailboxTtlMs: mailboxDays * DAY_MS,
    heldTtlMs: number("CLAUDE_PEERS_HELD_DAYS", mailboxDays, parsePositive) * DAY_MS,
    push: env.CLAUDE_PEERS_PUSH?.trim().toLowerCase() !== "off",
    claudeSessionId: CLAUDE_SESSION_ID.test(env.CLAUDE_CODE_SESSION_ID?.trim() ?? "") ? env.CLAUDE_CODE_SESSION_ID!.trim() : undefined,
    mailFlagDir: join(home, ".claude-peers-mail"),
    checkOnly: env.CLAUDE_PEERS_CHECK_ONLY === "1",
    editFlagDir: join(home, ".claude-peers-edits"),
    groups: read(() => parseGroups(env.CLAUDE_PEERS_GROUPS), () => []),
    agent: read(() => parseAgent(env.CLAUDE_PEERS_AGENT), () => DEFAULT_AGENT),
    damping: {
      duplicateWindowS: number("CLAUDE_PEERS_DUPLICATE_WINDOW_S", 60, parseNonNegative),
      loopLimit: number("CLAUDE_PEERS_LOOP_LIMIT", 30, parseNonNegative),
      loopWindowS: number("CLAUDE_PEERS_LOOP_WINDOW_S", 600, parseNonNegative),
    },
    collisions: {
      mode: read(() => parseCollisionMode(env.CLAUDE_PEERS_COLLISIONS), () => "deny"),
      windowS: number("CLAUDE_PEERS_COLLISION_WINDOW_S", 1800, parsePositive),
    },
  };
  return { config, problems };
}

/** A group's name, as CLAUDE_PEERS_GROUPS, join_group and `#name` take it. */
export const GROUP_NAME = /^[a-z0-9_-]{1,40}$/;

/** "ui, review" → ["ui", "review"]; a name that is not a group name stops the start with the variable named. */
function parseGroups(raw: string | undefined): string[] {
  const names = (raw ?? "").split(",").map((g) => g.trim().replace(/^#/, "")).filter(Boolean);
  for (const name of names) {
    if (!GROUP_NAME.test(name)) {
      throw new ConfigError(
        "CLAUDE_PEERS_GROUPS",
        `CLAUDE_PEERS_GROUPS: "${name}" is not a group name (1 to 40 lowercase letters, digits, - or _; comma-separated)`,
        "set CLAUDE_PEERS_GROUPS to comma-separated group names (e.g. ui,review), or unset it",
      );
    }
  }
  return [...new Set(names)];
}

/**
 * CLAUDE_PEERS_NAME, as given: someone chose it on purpose, so one that would be (after the name
 * rules) reserved stops the start with what to do, rather than quietly becoming "cli-2".
 */
function parsePeerName(raw: string | undefined): string | undefined {
  const name = raw?.trim();
  if (!name) return undefined;
  if (isReservedName(sanitizeName(name))) {
    throw new ConfigError(
      "CLAUDE_PEERS_NAME",
      `CLAUDE_PEERS_NAME: "${sanitizeName(name)}" is reserved (${RESERVED_NAMES.join(", ")} stand for the person at the terminal and claude-peers itself); choose another name`,
      "set CLAUDE_PEERS_NAME to another name, or unset it (the name then comes from the folder)",
    );
  }
  return name;
}

/**
 * CLAUDE_PEERS_COLLISIONS alone, for the edit hook, which reads nothing else of the session's
 * settings: a bad value is doctor's to name, and the hook keeps the default rather than stop.
 */
export function loadCollisionMode(env: Env = process.env): CollisionMode {
  try {
    return parseCollisionMode(env.CLAUDE_PEERS_COLLISIONS);
  } catch {
    return "deny";
  }
}

function parseCollisionMode(raw: string | undefined): CollisionMode {
  const mode = raw?.trim().toLowerCase() || "deny";
  if (!COLLISION_MODES.includes(mode as CollisionMode)) {
    throw new ConfigError(
      "CLAUDE_PEERS_COLLISIONS",
      `CLAUDE_PEERS_COLLISIONS must be one of ${COLLISION_MODES.join(", ")}, got "${raw}"`,
      `set CLAUDE_PEERS_COLLISIONS to ${COLLISION_MODES.join(", ")}, or unset it (deny)`,
    );
  }
  return mode as CollisionMode;
}

function parseAgent(raw: string | undefined): Agent {
  const agent = raw?.trim().toLowerCase() || DEFAULT_AGENT;
  if (!isAgent(agent)) {
    throw new ConfigError("CLAUDE_PEERS_AGENT", `CLAUDE_PEERS_AGENT must be one of ${AGENTS.join(", ")}, got "${raw}"`, `set CLAUDE_PEERS_AGENT to one of ${AGENTS.join(", ")}, or unset it (${DEFAULT_AGENT})`);
  }
  return agent;
}

/**
 * 7899 + uid % 2000: root keeps 7899, uid 1000 gets 8899, so the users of one machine do not
 * reach for the same port. A collision anyway costs only the console: the API is on the socket.
 */
export function defaultConsolePort(uid: number): number {
  return DEFAULT_PORT + (uid % PORT_SPREAD);
}

function parsePort(raw: string | undefined, uid: number): number {
  if (raw === undefined || raw.trim() === "") return defaultConsolePort(uid);
  // Digits only: Number() would also take "0x1F90" or "1e3" and quietly listen on another port.
  const port = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError("CLAUDE_PEERS_PORT", `CLAUDE_PEERS_PORT must be a port number from 1 to 65535, got "${raw}"`, `set CLAUDE_PEERS_PORT to a port number from 1 to 65535, or unset it (${defaultConsolePort(uid)} for you)`);
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
      throw new ConfigError(
        "CLAUDE_PEERS_HOST",
        `CLAUDE_PEERS_HOST must be a host name (letters, digits, '.', '_', '-'; at most 63), got "${raw}"`,
        "set CLAUDE_PEERS_HOST to one word of letters, digits, '.', '_' or '-', or unset it (this machine's hostname)",
      );
    }
    return raw.trim();
  }
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63);
  return HOST_NAME.test(host) ? host : "localhost";
}

function parsePositive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(name, `${name} must be a positive number, got "${raw}"`, `set ${name} to a positive number, or unset it (${fallback})`);
  return value;
}

function parseNonNegative(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(name, `${name} must be a number, 0 or more (0 turns it off), got "${raw}"`, `set ${name} to a number, 0 or more (0 turns the rule off), or unset it (${fallback})`);
  }
  return value;
}

function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? join(home, path.slice(1)) : path;
}
