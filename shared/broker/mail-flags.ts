/**
 * Mail flags: an empty file per Claude Code session id, `~/.claude-peers-mail/<session id>`, that
 * exists while unread mail may wait for that session. The plugin's frequent hooks (every tool call,
 * every prompt, every stop) test it from the shell before they start Bun at all: with no mail, a
 * hook costs a shell's start-up, not Bun's. A flag left on only costs that one Bun start, and the
 * hook it starts clears it (HookMail); a flag must never be off while mail waits, so every arrival
 * sets it.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { guardPrivateFolder } from "../private-file.ts";

export class MailFlags {
  /** Session id → whether its flag is on, as last written (so unchanged state costs no file I/O). */
  private readonly state = new Map<string, boolean>();
  private made = false;

  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Sets or clears the flag of each of a session's ids. */
  mark(sessionIds: Iterable<string>, waiting: boolean): void {
    for (const id of sessionIds) {
      if (this.state.get(id) === waiting) continue;
      try {
        if (waiting) {
          if (!this.made) {
            guardPrivateFolder(this.dir, "the mail-flag folder"); // an existing one with a looser mode becomes 0700
            mkdirSync(this.dir, { recursive: true, mode: 0o700 });
          }
          this.made = true;
          writeFileSync(join(this.dir, id), "", { mode: 0o600 });
        } else rmSync(join(this.dir, id), { force: true });
        this.state.set(id, waiting);
      } catch (err) {
        // The hooks then start Bun as they did before flags: slower, never wrong.
        this.log(`mail flag for session ${id} not written: ${(err as Error).message}`);
      }
    }
  }

  /**
   * The sessions are over (their peer left): their flags and what is remembered of them go. A
   * session that comes back registers again, and its mail sets its flag again.
   */
  forget(sessionIds: Iterable<string>): void {
    for (const id of sessionIds) {
      try {
        rmSync(join(this.dir, id), { force: true });
        this.state.delete(id);
      } catch (err) {
        this.log(`mail flag for session ${id} not removed: ${(err as Error).message}`);
      }
    }
  }

  /** Sessions remembered, for tests that check nothing is kept. */
  get size(): number {
    return this.state.size;
  }
}
