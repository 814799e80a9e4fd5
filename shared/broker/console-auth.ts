/**
 * Who may use the operator console: one-time login codes (minted for `bun cli.ts dashboard`, which
 * holds the token) exchanged for a browser session of two halves. The cookie (HttpOnly) proves the
 * browser; the key (kept by the page, sent as a header) proves the origin: browsers send a
 * 127.0.0.1 cookie to every port on 127.0.0.1, so a cookie alone would reach any local server the
 * browser visits, while the key lives only in this origin's sessionStorage. Only hashes are kept,
 * so a lookup's timing says nothing; all of it lives in memory, so a broker restart logs every
 * browser out.
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
  /** cookie hash → expiry and the key's hash. */
  private readonly sessions = new Map<string, { expiresAt: number; key: string }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A fresh login code; the oldest pending one goes when there are too many. */
  issueCode(): { code: string; expiresAt: number } {
    this.sweep(this.codes, (expiresAt) => expiresAt);
    const code = randomToken(24);
    const expiresAt = this.now() + LOGIN_CODE_TTL_MS;
    keepUnder(this.codes, MAX_CODES);
    this.codes.set(sha256(code), expiresAt);
    return { code, expiresAt };
  }

  /** Trades a code for a session (its cookie and its key), once; null when the code is unknown, used or expired. */
  redeem(code: string): { cookie: string; key: string } | null {
    const hash = sha256(code);
    const expiresAt = this.codes.get(hash);
    this.codes.delete(hash);
    if (expiresAt === undefined || expiresAt <= this.now()) return null;
    this.sweep(this.sessions, (s) => s.expiresAt);
    keepUnder(this.sessions, MAX_SESSIONS);
    const cookie = randomToken(32);
    const key = randomToken(32);
    this.sessions.set(sha256(cookie), { expiresAt: this.now() + CONSOLE_SESSION_TTL_MS, key: sha256(key) });
    return { cookie, key };
  }

  /** Whether the cookie names a live session: enough for the page itself, which holds nothing. */
  browserKnown(cookie: string | undefined): boolean {
    return this.session(cookie) !== null;
  }

  /** Whether the cookie names a live session and the key is that session's: for the API and the events. */
  valid(cookie: string | undefined, key: string | null | undefined): boolean {
    const s = this.session(cookie);
    return s !== null && !!key && s.key === sha256(key);
  }

  private session(cookie: string | undefined): { expiresAt: number; key: string } | null {
    if (!cookie) return null;
    const s = this.sessions.get(sha256(cookie));
    return s && s.expiresAt > this.now() ? s : null;
  }

  private sweep<V>(map: Map<string, V>, expiry: (v: V) => number): void {
    const now = this.now();
    for (const [key, v] of map) if (expiry(v) <= now) map.delete(key);
  }
}

/** Maps keep insertion order: the first key is the oldest. */
function keepUnder(map: Map<string, unknown>, max: number): void {
  while (map.size >= max) map.delete(map.keys().next().value!);
}
