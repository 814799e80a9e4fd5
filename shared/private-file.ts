/**
 * Files only this user may hold: the token, the SQLite DB (and its -wal/-shm), the broker's log, the
 * mail-flag folder. CLAUDE_PEERS_DB may point into a folder other users can write (/tmp, a shared
 * mount): there another user could plant a symlink (our writes then land where it points) or a file
 * of their own (a token they know, a log they read). Such a path is refused, never followed, and a
 * file of ours with looser modes is tightened.
 */
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, type Stats } from "node:fs";

/** Why a path is refused: the message says what to do next. */
export class UnsafePathError extends Error {
  override readonly name = "UnsafePathError";
}

/** The path's own entry (a symlink is not followed), or null when nothing is there. */
export function entryOf(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Throws UnsafePathError when `path` is a symlink, not a `kind`, or owned by another user; returns whether it exists. */
export function assertOwnEntry(path: string, what: string, kind: "file" | "folder"): boolean {
  const entry = entryOf(path);
  if (!entry) return false;
  const fix = `remove it, or point CLAUDE_PEERS_DB at a folder only you can write (the default is ~/.claude-peers.db)`;
  if (entry.isSymbolicLink()) throw new UnsafePathError(`refusing ${what} ${path}: it is a symbolic link; ${fix}`);
  if (kind === "file" ? !entry.isFile() : !entry.isDirectory()) throw new UnsafePathError(`refusing ${what} ${path}: it is not a ${kind}; ${fix}`);
  const uid = process.getuid?.();
  if (uid !== undefined && entry.uid !== uid) throw new UnsafePathError(`refusing ${what} ${path}: it belongs to another user (uid ${entry.uid}); ${fix}`);
  return true;
}

/**
 * Checks an existing private file (no symlink, a regular file, this user's) and sets its mode to
 * 0600 if it was looser. Nothing there is fine: the caller creates it with mode 0600. The mode is
 * set through a descriptor opened without following links, so a swap after the check changes nothing.
 */
export function guardPrivateFile(path: string, what: string): void {
  if (!assertOwnEntry(path, what, "file")) return;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new UnsafePathError(`refusing ${what} ${path}: it became a symbolic link`);
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    const uid = process.getuid?.();
    if (!stat.isFile() || (uid !== undefined && stat.uid !== uid)) throw new UnsafePathError(`refusing ${what} ${path}: it changed while it was checked`);
    if ((stat.mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** The same for a private folder: 0700 once checked. */
export function guardPrivateFolder(path: string, what: string): void {
  if (assertOwnEntry(path, what, "folder")) chmodSync(path, 0o700);
}
