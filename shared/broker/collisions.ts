/**
 * The pure rules of edit collisions (broker/edits.ts applies them): line ranges, what is at stake
 * when a session is about to edit a file others touched or claimed, when to refuse once, and the
 * memory that tells each side once per pair and file per window. No I/O; the clock is a parameter.
 */

/** Line ranges: "all" for a whole-file write, null when unknown (a notebook, a file read failed). */
export type Lines = "all" | Array<[number, number]> | null;
export type { CollisionMode } from "../config.ts";
import type { CollisionMode } from "../config.ts";

/** The most ranges kept per touch: a huge patch is merged down to this many spans. */
export const MAX_RANGES = 20;
/** A refused edit tried again within this long goes through: the model has had its chance to coordinate. */
export const RETRY_MS = 5 * 60_000;

/** Sorted, overlapping and adjacent ranges merged, then the closest ones joined until at most `max` remain. */
export function mergeRanges(ranges: ReadonlyArray<readonly [number, number]>, max = MAX_RANGES): Array<[number, number]> {
  const sorted = ranges
    .filter(([a, b]) => Number.isSafeInteger(a) && Number.isSafeInteger(b) && a >= 1 && b >= a)
    .map(([a, b]): [number, number] => [a, b])
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const merged: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push(r);
  }
  while (merged.length > max) {
    let best = 0;
    for (let i = 1; i < merged.length - 1; i++) if (merged[i + 1]![0] - merged[i]![1] < merged[best + 1]![0] - merged[best]![1]) best = i;
    merged.splice(best, 2, [merged[best]![0], merged[best + 1]![1]]);
  }
  return merged;
}

/** Lines as stored: "10-42,50-51", "all", or null. */
export function formatLines(lines: Lines): string | null {
  if (lines === null || lines === "all") return lines;
  return lines.length === 0 ? null : lines.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
}

export function parseLines(text: string | null): Lines {
  if (text === null || text === "") return null;
  if (text === "all") return "all";
  const ranges = text.split(",").map((part): [number, number] => {
    const [a, b = a] = part.split("-").map(Number);
    return [a!, b!];
  });
  return mergeRanges(ranges);
}

/** Whether two edits are at the same lines; an unknown side is not known to be. */
export function linesOverlap(a: Lines, b: Lines): boolean {
  if (a === null || b === null) return false;
  if (a === "all" || b === "all") return true;
  return a.some(([a1, a2]) => b.some(([b1, b2]) => a1 <= b2 && b1 <= a2));
}

/** "lines 10–42, 50", "the whole file", or "" when unknown. */
export function describeLines(lines: Lines): string {
  if (lines === null || (lines !== "all" && lines.length === 0)) return "";
  if (lines === "all") return "the whole file";
  const shown = lines.slice(0, 4).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
  return `line${lines.length === 1 && lines[0]![0] === lines[0]![1] ? "" : "s"} ${shown.join(", ")}${lines.length > 4 ? ", …" : ""}`;
}

/** Another session's stake in the file: its latest edit within the window, and/or a claim covering it. */
export interface Stake {
  peerId: string;
  /** Its latest edit of the file; null when it only claims it. */
  touchedAt: number | null;
  lines: Lines;
  /** The claim covering the file, if any. */
  claim: { pattern: string; expiresAt: number } | null;
}

export type Decision = "none" | "warn" | "deny";

/**
 * What the pre-edit hook answers: nothing when nobody else holds a stake; a refusal, once, when the
 * same lines or a claim are at stake and the mode is deny (unless this session was refused on this
 * file within RETRY_MS: the retry goes through); else a warning.
 */
export function decide(opts: { stakes: readonly Stake[]; lines: Lines; mode: CollisionMode; now: number; refusedAt?: number }): Decision {
  if (opts.mode === "off" || opts.stakes.length === 0) return "none";
  const sharp = opts.stakes.some((s) => s.claim !== null || linesOverlap(opts.lines, s.lines));
  const retry = opts.refusedAt !== undefined && opts.now - opts.refusedAt < RETRY_MS;
  return opts.mode === "deny" && sharp && !retry ? "deny" : "warn";
}

/** Whether a claim's glob (from the worktree's top) covers a path. */
export function claimCovers(pattern: string, path: string): boolean {
  if (pattern === path) return true;
  if (!/[*?[{]/.test(pattern)) return path.startsWith(`${pattern.replace(/\/+$/, "")}/`); // a folder claims what is in it
  return new Bun.Glob(pattern).match(path);
}

/** The most patterns one claim_files call may hold, the longest one, and the longest and default lifetimes. */
export const MAX_CLAIM_PATTERNS = 32;
export const MAX_PATTERN_CHARS = 200;
export const MAX_CLAIM_TTL_S = 4 * 3600;
export const DEFAULT_CLAIM_TTL_S = 3600;

/**
 * A claim pattern as given (relative to the session's folder, `prefix` from the worktree's top) →
 * the pattern from the worktree's top; or why it is refused. The whole tree is never claimed.
 */
export function normalizeClaim(raw: string, prefix: string): { pattern: string } | { error: string } {
  const given = raw.trim().replace(/\\/g, "/");
  if (given === "") return { error: "is empty" };
  if (given.length > MAX_PATTERN_CHARS) return { error: `is longer than ${MAX_PATTERN_CHARS} characters` };
  if (given.startsWith("/") || /^[a-z]:/i.test(given)) return { error: "must be relative to your folder, not absolute" };
  const parts: string[] = prefix ? prefix.split("/").filter(Boolean) : [];
  for (const part of given.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return { error: "leaves the repository" };
      parts.pop();
    } else parts.push(part);
  }
  const pattern = parts.join("/");
  if (pattern === "" || /^[*/.?]*$/.test(pattern)) return { error: "would claim the whole repository; name the files or folders you will change" };
  if (pattern === ".git" || pattern.startsWith(".git/")) return { error: "is inside .git" };
  return { pattern };
}

/**
 * Once per key per window: "tell B about A's edit of F" is said again only after the window, or when
 * something new happened (`since`: the other side's latest edit is newer than the last telling).
 */
export class Once {
  private readonly told = new Map<string, number>();

  constructor(private readonly windowMs: () => number) {}

  /** Whether to tell now; if so, remembers it. */
  take(key: string, now: number, latest = 0): boolean {
    const last = this.told.get(key);
    if (last !== undefined && now - last < this.windowMs() && latest <= last) return false;
    this.told.set(key, now);
    if (this.told.size > 10_000) for (const [k, at] of this.told) if (now - at >= this.windowMs()) this.told.delete(k);
    return true;
  }
}
