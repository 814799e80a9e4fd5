/**
 * Quiet flags: an empty file per Claude Code session id, `~/.claude-peers-edits/quiet-<session id>`,
 * that exists only while no other live session holds a stake (a recent edit or a claim) anywhere in
 * that session's repository. The plugin's pre-edit hook tests it from the shell and skips Bun when it
 * is there: a session editing alone pays a shell's start-up, not Bun's. The flag says "quiet", so
 * every doubt (no flag yet, a new session, a failed write) runs the hook: slower, never wrong. Any
 * edit or claim takes the other sessions' flags away at once; refresh() puts back those that hold.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const PREFIX = "quiet-";

export class EditFlags {
  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Makes the quiet flags exactly these session ids'. */
  set(quiet: ReadonlySet<string>): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const present = new Set(this.present());
      for (const id of present) if (!quiet.has(id)) rmSync(join(this.dir, PREFIX + id), { force: true });
      for (const id of quiet) if (!present.has(id)) writeFileSync(join(this.dir, PREFIX + id), "", { mode: 0o600 });
    } catch (err) {
      this.log(`edit flags not written: ${(err as Error).message}`);
    }
  }

  /** Takes away every quiet flag but these session ids' (another session just edited or claimed). */
  clearExcept(keep: ReadonlySet<string>): void {
    try {
      for (const id of this.present()) if (!keep.has(id)) rmSync(join(this.dir, PREFIX + id), { force: true });
    } catch (err) {
      this.log(`edit flags not cleared: ${(err as Error).message}`);
    }
  }

  private present(): string[] {
    try {
      return readdirSync(this.dir).flatMap((f) => (f.startsWith(PREFIX) ? [f.slice(PREFIX.length)] : []));
    } catch {
      return [];
    }
  }
}
