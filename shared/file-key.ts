/**
 * A file's name across worktrees and hosts: the repository's identity (git.ts repoKey, as `repo`
 * scope matches it: normalized origin, else root commit) plus the path from the worktree's top.
 * Only this key and line ranges leave the host; never the file's contents or its absolute path.
 * Generated, ignored and lock files have no key: nobody collides over them.
 */
import { existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { readGitInfo } from "./git.ts";

export interface FileKey {
  /** The repository on every host (git.ts repoKey). */
  repo: string;
  /** From the worktree's top, with "/" separators. */
  path: string;
}

/** Why a path has no key: each one ends the edit hook quietly. */
export type NoKeyReason = "not_absolute" | "not_repo" | "no_identity" | "symlink_out" | "git_internal" | "generated" | "ignored";

export type FileKeyResult = { ok: true; key: FileKey; top: string } | { ok: false; reason: NoKeyReason };

/** Lock files, build output and vendored trees: written by tools, merged by regenerating them. */
const GENERATED: readonly RegExp[] = [
  /(^|\/)(package-lock\.json|npm-shrinkwrap\.json|bun\.lockb?|yarn\.lock|pnpm-lock\.yaml|Cargo\.lock|poetry\.lock|Pipfile\.lock|uv\.lock|Gemfile\.lock|composer\.lock|go\.sum|flake\.lock|[^/]+\.lock)$/,
  /(^|\/)(node_modules|dist|build|out|target|coverage|__pycache__|\.next|\.nuxt|\.turbo|\.cache|\.venv|venv)\//,
  /\.(min\.js|min\.css|map|pyc|class|o|so|dylib|dll|exe)$/,
  /(^|[./_-])generated\.[^/]+$|\.g\.[^/]+$|\.pb\.go$|_pb2\.py$/,
];

/** Whether a path from the worktree's top names a generated or lock file. */
export function isGenerated(path: string): boolean {
  return GENERATED.some((re) => re.test(path));
}

/** How long what git said about a folder is believed: an origin added meanwhile shows within it. */
const CACHE_MS = 60_000;

type Git = (cwd: string, args: string[]) => Promise<{ code: number; out: string }>;

async function runGit(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const proc = Bun.spawn(["git", ...args], { cwd, stdout: "pipe", stderr: "ignore", stdin: "ignore", timeout: 3000 });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return { code, out: out.trim() };
  } catch {
    return { code: -1, out: "" };
  }
}

/**
 * Keys files, remembering per folder what git said (the broker keys every edit of every session,
 * and a git start costs milliseconds): a folder's top and identity, a file's ignored-ness.
 */
export class FileKeys {
  private readonly repos = new Map<string, { at: number; repo: { top: string; key: string | null } | null }>();
  private readonly ignored = new Map<string, { at: number; ignored: boolean }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly git: Git = runGit,
  ) {}

  /** The key of the file at `absPath` (which may not exist yet: a Write creates it). */
  async of(absPath: string): Promise<FileKeyResult> {
    if (!isAbsolute(absPath)) return { ok: false, reason: "not_absolute" };
    // Inside .git, git itself answers "not a work tree": say what it is.
    if (absPath.split(/[\\/]/).includes(".git")) return { ok: false, reason: "git_internal" };
    const existing = nearestExisting(dirname(absPath));
    if (!existing) return { ok: false, reason: "not_repo" };
    const repo = await this.repoOf(existing);
    if (!repo) return { ok: false, reason: "not_repo" };
    if (!repo.key) return { ok: false, reason: "no_identity" };
    // The folder's real path plus the name: where the file is, seen from the repository.
    const lexical = join(realpathSync(existing), relative(existing, absPath));
    const real = realTarget(lexical);
    if (!inside(repo.top, real)) return { ok: false, reason: inside(repo.top, lexical) ? "symlink_out" : "not_repo" };
    const path = relative(repo.top, real).split(sep).join("/");
    if (path === "" || path === ".git" || path.startsWith(".git/")) return { ok: false, reason: "git_internal" };
    if (isGenerated(path)) return { ok: false, reason: "generated" };
    if (await this.isIgnored(repo.top, path)) return { ok: false, reason: "ignored" };
    return { ok: true, key: { repo: repo.key, path }, top: repo.top };
  }

  /** The (real) top of the worktree the folder `dir` is in; null outside a repository. */
  async topOf(dir: string): Promise<string | null> {
    const existing = isAbsolute(dir) ? nearestExisting(dir) : null;
    return existing ? ((await this.repoOf(existing))?.top ?? null) : null;
  }

  private async repoOf(dir: string): Promise<{ top: string; key: string | null } | null> {
    const cached = this.repos.get(dir);
    if (cached && this.now() - cached.at < CACHE_MS) return cached.repo;
    const info = await readGitInfo(dir);
    const repo = info ? { top: realpathSync(info.root), key: info.repoKey } : null;
    this.repos.set(dir, { at: this.now(), repo });
    if (this.repos.size > 1000) this.repos.delete(this.repos.keys().next().value!);
    return repo;
  }

  private async isIgnored(top: string, path: string): Promise<boolean> {
    const id = `${top}\0${path}`;
    const cached = this.ignored.get(id);
    if (cached && this.now() - cached.at < CACHE_MS) return cached.ignored;
    // Exit 0: ignored; 1: not; anything else (no git): not, and the edit is keyed.
    // No fsmonitor: a repository's own config must not make the broker run a program of its choosing.
    const ignored = (await this.git(top, ["-c", "core.fsmonitor=false", "check-ignore", "-q", "--", path])).code === 0;
    this.ignored.set(id, { at: this.now(), ignored });
    if (this.ignored.size > 5000) this.ignored.delete(this.ignored.keys().next().value!);
    return ignored;
  }
}

/** The nearest folder from `dir` up that exists; null if none does. */
function nearestExisting(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d)) return d;
    if (dirname(d) === d) return null;
  }
}

/** Where a path really leads: its target if it is a symlink (even a dangling one), else itself. */
function realTarget(path: string): string {
  try {
    if (existsSync(path)) return realpathSync(path);
    // A dangling symlink: a Write through it would create its target.
    if (lstatSync(path).isSymbolicLink()) return resolve(dirname(path), readlinkSync(path));
  } catch {}
  return path;
}

function inside(top: string, path: string): boolean {
  const rel = relative(top, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}
