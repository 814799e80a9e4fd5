/**
 * The one-time login page `dashboard` hands the desktop's opener: the URL with its code goes in a
 * file only this user can read (never on the opener's command line, which every local user can
 * read), and the file goes once the browser has read it, or after a short bound: a spent login
 * must not stay in the temp folder.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How long the page waits for a browser that is still starting; the code itself lasts a minute. */
export const LOGIN_FILE_MAX_MS = 15_000;
const READ_CHECK_MS = 50;

export interface LoginFile {
  path: string;
  /** Waits until the page was read (its access time moved) or `maxMs` passed, then removes it and its folder; true if it was read. */
  spend(maxMs?: number): Promise<boolean>;
  /** Removes it now (the opener failed). */
  remove(): void;
}

export function writeLoginFile(url: string): LoginFile {
  const dir = mkdtempSync(join(tmpdir(), "claude-peers-login-")); // mode 0700
  const path = join(dir, "login.html");
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    // The URL is ours (digits, letters, _ and -): nothing in it to escape.
    writeFileSync(path, `<!doctype html><meta http-equiv="refresh" content="0;url=${url}"><a href="${url}">Open the claude-peers console</a>\n`, { mode: 0o600 });
  } catch (err) {
    remove();
    throw err;
  }
  // A fresh file's access time equals its change time; the first read moves it (relatime does too).
  const written = statSync(path).atimeMs;
  return {
    path,
    remove,
    async spend(maxMs = LOGIN_FILE_MAX_MS) {
      const deadline = Date.now() + maxMs;
      let read = false;
      while (!(read = readSince(path, written)) && Date.now() < deadline) await Bun.sleep(READ_CHECK_MS);
      remove();
      return read;
    },
  };
}

function readSince(path: string, atimeMs: number): boolean {
  try {
    return statSync(path).atimeMs > atimeMs;
  } catch {
    return true; // gone already: nothing left to read
  }
}
