/**
 * Who may use the operator console: one-time login codes (minted for `bun cli.ts dashboard`, which
 * holds the token) exchanged for a browser session. Only hashes are kept, so a lookup's timing says
 * nothing about a code; both live in memory, so a broker restart logs every browser out.
 */
import { randomToken, sha256 } from "../token.ts";

/** A login code works once, within this long. */
export const LOGIN_CODE_TTL_MS = 60_000;
/** A browser session lasts a working day. */
export const CONSOLE_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Bounds, so a script minting codes in a loop costs the broker nothing that grows. */
const MAX_CODES = 32;
const MAX_SESSIONS = 64;

export class ConsoleAuth {
  /** hash → expiry (ms). */
  private readonly codes = new Map<string, number>();
  private readonly sessions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A fresh login code; the oldest pending one goes when there are too many. */
  issueCode(): { code: string; expiresAt: number } {
    this.sweep(this.codes);
    const code = randomToken(24);
    const expiresAt = this.now() + LOGIN_CODE_TTL_MS;
    keepUnder(this.codes, MAX_CODES);
    this.codes.set(sha256(code), expiresAt);
    return { code, expiresAt };
  }

  /** Trades a code for a session id, once; null when the code is unknown, used or expired. */
  redeem(code: string): string | null {
    const key = sha256(code);
    const expiresAt = this.codes.get(key);
    this.codes.delete(key);
    if (expiresAt === undefined || expiresAt <= this.now()) return null;
    this.sweep(this.sessions);
    keepUnder(this.sessions, MAX_SESSIONS);
    const session = randomToken(32);
    this.sessions.set(sha256(session), this.now() + CONSOLE_SESSION_TTL_MS);
    return session;
  }

  /** Whether the browser's session cookie names a live session. */
  valid(session: string | undefined): boolean {
    if (!session) return false;
    const expiresAt = this.sessions.get(sha256(session));
    return expiresAt !== undefined && expiresAt > this.now();
  }

  private sweep(map: Map<string, number>): void {
    const now = this.now();
    for (const [key, expiresAt] of map) if (expiresAt <= now) map.delete(key);
  }
}

/** Maps keep insertion order: the first key is the oldest. */
function keepUnder(map: Map<string, number>, max: number): void {
  while (map.size >= max) map.delete(map.keys().next().value!);
}
