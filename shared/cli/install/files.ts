/**
 * The files `bun cli.ts install` changes: read (a missing file is empty), previewed as a diff, and
 * written only when different, each after a backup beside it and through a temp file + rename, so
 * an interrupted write never leaves half a config.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../../errors.ts";
import { CliError } from "../errors.ts";

/** One file's planned change: its text before (null: it does not exist) and after. */
export interface FileChange {
  path: string;
  before: string | null;
  after: string;
}

/** The file's text, or null when it does not exist; anything else unreadable is a bad_config error. */
export function readConfigText(path: string): string | null {
  if (!existsSync(path)) return null;
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError("bad_config", `cannot read ${path}: ${errorMessage(err)}; nothing was changed`);
  }
}

export function changed(change: FileChange): boolean {
  return change.before !== change.after;
}

/** A line diff for --dry-run: the unchanged lines around each change, "-" removed, "+" added. */
export function previewChange(change: FileChange): string[] {
  const before = change.before === null ? [] : change.before.split("\n");
  const after = change.after.split("\n");
  let head = 0;
  while (head < before.length && head < after.length && before[head] === after[head]) head++;
  let tail = 0;
  while (tail < before.length - head && tail < after.length - head && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
  const context = 2;
  const lines = [`--- ${change.path}${change.before === null ? " (new file)" : ""}`, `+++ ${change.path}`];
  for (const line of before.slice(Math.max(0, head - context), head)) lines.push(`  ${line}`);
  for (const line of before.slice(head, before.length - tail)) lines.push(`- ${line}`);
  for (const line of after.slice(head, after.length - tail)) lines.push(`+ ${line}`);
  for (const line of after.slice(after.length - tail, after.length - tail + context)) lines.push(`  ${line}`);
  return lines;
}

/** Writes the change: a backup `<file>.bak-<time>` of an existing file first, then tmp + rename (same mode). Returns the backup's path. */
export function applyChange(change: FileChange, now: Date): string | null {
  mkdirSync(dirname(change.path), { recursive: true });
  const backup = change.before === null ? null : `${change.path}.bak-${now.toISOString().replace(/[:.]/g, "-")}`;
  const mode = change.before === null ? 0o600 : statSync(change.path).mode & 0o777;
  if (backup) copyFileSync(change.path, backup);
  const tmp = `${change.path}.claude-peers-${process.pid}.tmp`;
  writeFileSync(tmp, change.after, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, change.path);
  return backup;
}

/** Quoted for POSIX sh, which runs the agents' hook commands. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
