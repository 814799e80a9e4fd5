/** The broker token: created once, beside the DB, mode 0600, written atomically so racing starters agree. */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { guardPrivateFile } from "./private-file.ts";

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Compares secrets in constant time, so response timing leaks nothing about the token. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y);
}

/**
 * Reads the token, or undefined when the file does not exist yet. Throws on a malformed file, and on
 * a symlink or another user's file there (private-file.ts); a looser mode is tightened to 0600.
 */
export function readToken(path: string): string | undefined {
  guardPrivateFile(path, "the broker's token file");
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  if (!TOKEN_PATTERN.test(text)) {
    throw new Error(`the token file ${path} is damaged; delete it and restart the broker (bun cli.ts kill-broker)`);
  }
  return text;
}

/**
 * Returns the token at `path`, creating it first if needed. The new token is written to a
 * private temp file and hard-linked into place: link() fails if another starter won the race,
 * and then everyone reads the winner's token.
 */
export function loadOrCreateToken(path: string): string {
  const existing = readToken(path);
  if (existing) return existing;
  const tmp = `${path}.${process.pid}.${randomToken(6)}.tmp`;
  writeFileSync(tmp, `${randomToken()}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(tmp, 0o600); // the umask may have widened nothing, but never trust it
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readToken(path)!;
}
