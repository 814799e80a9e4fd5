/** Reads the environment once and turns it into the settings every entry point uses. */
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const DEFAULT_PORT = 7899;
export const DEFAULT_SUMMARY_MODEL = "gpt-4o-mini";
export const DEFAULT_MAILBOX_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface Config {
  port: number;
  /** SQLite file; the token, log and lock files sit beside it. */
  dbPath: string;
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
}

export class ConfigError extends Error {}

/** Builds the config from `env`; throws ConfigError naming the variable when a value is unusable. */
export function loadConfig(env: Record<string, string | undefined> = process.env, home = homedir()): Config {
  const port = parsePort(env.CLAUDE_PEERS_PORT);
  const dbPath = resolve(expandHome(env.CLAUDE_PEERS_DB?.trim() || join(home, ".claude-peers.db"), home));
  const base = join(dirname(dbPath), ".claude-peers");
  const mailboxDays = parsePositive(env.CLAUDE_PEERS_MAILBOX_DAYS, "CLAUDE_PEERS_MAILBOX_DAYS", DEFAULT_MAILBOX_DAYS);
  return {
    port,
    dbPath,
    tokenPath: `${dbPath}.token`,
    logPath: `${dbPath}.log`,
    lockPath: `${base}-${port}.lock`,
    peerName: env.CLAUDE_PEERS_NAME?.trim() || undefined,
    openaiApiKey: env.OPENAI_API_KEY?.trim() || undefined,
    openaiBaseUrl: env.OPENAI_BASE_URL?.trim() || undefined,
    summaryModel: env.CLAUDE_PEERS_SUMMARY_MODEL?.trim() || DEFAULT_SUMMARY_MODEL,
    mailboxTtlMs: mailboxDays * DAY_MS,
    push: env.CLAUDE_PEERS_PUSH?.trim().toLowerCase() !== "off",
  };
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

function parsePositive(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? join(home, path.slice(1)) : path;
}
