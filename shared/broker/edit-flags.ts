/**
 * Stake files: `~/.claude-peers-edits/stakes-<session id>`, one per hook session id of a live session
 * on this broker in a repository, listing (one a line) the file names of the files another live
 * session has a stake in there (edited within the window), spelled as the agents' hook JSON spells
 * them. The pre-edit hook greps its input for them from the shell and skips Bun when none is there: an
 * edit of a file nobody else touched pays a shell, a `cat` and a `grep`, not Bun's start. An empty file
 * says nobody else has a stake in the repository: the post-shell hook skips Bun then too.
 *
 * The file says "these and no others", so it exists only while the broker can vouch for it: a claim by
 * another session (a folder or glob: no name to grep for), a name the shell could not match byte for
 * byte, too many names, a new session, a failed write: no file, and the hook runs Bun (slower, never
 * wrong). A name listed that is no longer at stake, or that shows in the edit's text, only costs a Bun
 * start. Any edit adds its name to the other sessions' files at once; any claim takes them away;
 * refresh (housekeeping) writes them all again.
 */
import { closeSync, constants, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { UnsafePathError, guardPrivateFolder } from "../private-file.ts";

const PREFIX = "stakes-";
/**
 * More names than this, and the file is not written: the hook's shell tests each name against its
 * input (a `case` per name costs names × input size: 2,000 names over 16 KiB took 0.56 s in dash,
 * far more than Bun's start), so a long list is left to Bun.
 */
export const MAX_STAKE_NAMES = 200;

/**
 * A file's name as it appears in an agent's hook JSON (Claude Code, Gemini CLI: JSON.stringify; Codex:
 * serde_json; both escape only `"`, `\` and control characters), or null when the shell could not be
 * sure to find it: anything beyond printable ASCII (escaped or normalized differently by some writer).
 */
export function stakeName(path: string): string | null {
  const name = basename(path);
  if (name === "" || !/^[\x20-\x7e]+$/.test(name)) return null;
  return JSON.stringify(name).slice(1, -1);
}

/**
 * Each session's stake file: for every hook session id of each session, the names of the files the
 * other sessions have a stake in, in its repository (`path` null: a claim); none for a session whose
 * repository holds a claim by another, a name stakeName() refuses, or more than MAX_STAKE_NAMES names,
 * nor in a repository where a live session on another host works (`remoteRepos`): this broker hears
 * of that session's edits only when it reads the shared store again, so its list could not say "these
 * and no others" in between.
 */
export function stakeLists(
  sessions: ReadonlyArray<{ id: string; repo: string; sessionIds: Iterable<string> }>,
  stakes: ReadonlyArray<{ repo: string; peer: string; path: string | null }>,
  remoteRepos: ReadonlySet<string> = new Set(),
): Map<string, string[]> {
  const inRepo = new Map<string, Array<{ peer: string; path: string | null }>>();
  for (const s of stakes) (inRepo.get(s.repo) ?? inRepo.set(s.repo, []).get(s.repo)!).push(s);
  const files = new Map<string, string[]>();
  for (const session of sessions) {
    if (remoteRepos.has(session.repo)) continue;
    const names = new Set<string | null>();
    for (const s of inRepo.get(session.repo) ?? []) if (s.peer !== session.id) names.add(s.path === null ? null : stakeName(s.path));
    if (names.has(null) || names.size > MAX_STAKE_NAMES) continue;
    for (const sid of session.sessionIds) files.set(sid, [...names] as string[]);
  }
  return files;
}

export class EditFlags {
  /** The folder was refused (a symlink, another user's): nothing is written or removed there again. */
  private unsafe = false;

  constructor(
    private readonly dir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Makes the stake files exactly these: session id → the names listed (other stake files, and its temp files, go; nothing else). */
  set(files: ReadonlyMap<string, readonly string[]>): void {
    if (this.unsafe) return;
    try {
      guardPrivateFolder(this.dir, "the edit stake-file folder"); // a symlink or another user's folder is refused; a looser mode becomes 0700
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      for (const f of readdirSync(this.dir)) {
        const mine = f.startsWith(PREFIX) || (f.startsWith(`.${PREFIX}`) && f.endsWith(".tmp"));
        if (mine && !(f.startsWith(PREFIX) && files.has(f.slice(PREFIX.length)))) rmSync(join(this.dir, f), { force: true });
      }
      for (const [id, names] of files) {
        // Whole or not at all: a reader never sees half a list (tmp + rename).
        const tmp = join(this.dir, `.${PREFIX}${id}.tmp`);
        writeFileSync(tmp, names.map((n) => `${n}\n`).join(""), { mode: 0o600 });
        renameSync(tmp, join(this.dir, PREFIX + id));
      }
    } catch (err) {
      this.log(`edit stake files not written: ${(err as Error).message}`);
      if (err instanceof UnsafePathError) this.unsafe = true;
      else this.remove(files.keys());
    }
  }

  /** Adds a name to these sessions' files, where they exist (a file never starts from an edit: it must list every stake). */
  add(sessionIds: Iterable<string>, name: string): void {
    if (this.unsafe) return;
    for (const id of sessionIds) {
      let fd: number | undefined;
      try {
        // No O_CREAT: a missing file stays missing. One short write with O_APPEND: a reader sees the line or not.
        fd = openSync(join(this.dir, PREFIX + id), constants.O_WRONLY | constants.O_APPEND);
        writeSync(fd, `${name}\n`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.remove([id]);
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    }
  }

  /** Takes these sessions' files away: their hooks run Bun until refresh writes them again. */
  remove(sessionIds: Iterable<string>): void {
    if (this.unsafe) return;
    for (const id of sessionIds) {
      try {
        rmSync(join(this.dir, PREFIX + id), { force: true });
      } catch (err) {
        this.log(`edit stake file not removed (its hook may skip a warning until it is): ${(err as Error).message}`);
      }
    }
  }
}
