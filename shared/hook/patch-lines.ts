/**
 * The files and line ranges of a Codex `apply_patch` patch, for the edit hook (zod-free, no I/O: the
 * caller reads files). Codex hands its hooks the patch itself (`tool_input.command`), with no line
 * numbers, so the lines are found as Codex finds them when it applies the patch
 * (codex-rs/apply-patch/src/lib.rs, compute_replacements): hunks in order, each `@@ <context>` line
 * sought first, then the hunk's old lines (context and `-`) from there on; a hunk with no old lines
 * is appended at the end. Before the edit the old lines are sought in the file as it is (the lines
 * at stake); after it, the new lines (context and `+`) in the file as it became (the lines changed).
 * A file added, deleted or moved is at stake whole; a hunk that cannot be found leaves its file's
 * lines unknown rather than guessed.
 */

type Lines = "all" | Array<[number, number]> | null;

/** A file section of the patch: its path as written (relative to the session's folder, or absolute) and its hunks. */
interface Section {
  kind: "add" | "delete" | "update";
  path: string;
  moveTo: string | null;
  hunks: Hunk[];
}

interface Hunk {
  /** The text after `@@ `, sought before the hunk's lines; null for a bare `@@`. */
  context: string | null;
  /** The hunk's lines, each with its marker: " " context, "-" removed, "+" added. */
  lines: string[];
  /** Followed by `*** End of File`: its lines are sought at the file's end first, as Codex does. */
  isEndOfFile: boolean;
}

/** A patch names at most this many files, and is read up to this many lines. */
const MAX_FILES = 20;
const MAX_PATCH_LINES = 100_000;
/**
 * Line comparisons one patch may cost (tens of milliseconds): seeking is a scan of the file per hunk,
 * and a patch of many hunks over a big file must not hold up the edit; past it, the lines are unknown.
 */
const MAX_COMPARISONS = 2_000_000;
type Budget = { left: number };

/** The sections of a patch, as Codex's parser reads them (a line that fits no section is skipped). */
export function parsePatch(patch: string): Section[] {
  const sections: Section[] = [];
  let hunk: Hunk | null = null;
  for (const raw of patch.split("\n").slice(0, MAX_PATCH_LINES)) {
    const line = raw.replace(/\r$/, "");
    const header = /^\*\*\* (Add File|Delete File|Update File|Move to): (.+)$/.exec(line);
    if (header) {
      const [, kind, path] = header as unknown as [string, string, string];
      if (kind === "Move to") {
        const last = sections.at(-1);
        if (last?.kind === "update") last.moveTo = path.trim();
        continue;
      }
      if (sections.length >= MAX_FILES) break;
      sections.push({ kind: kind === "Add File" ? "add" : kind === "Delete File" ? "delete" : "update", path: path.trim(), moveTo: null, hunks: [] });
      hunk = null;
      continue;
    }
    const section = sections.at(-1);
    if (section?.kind === "update" && line === "*** End of File") {
      if (hunk) hunk.isEndOfFile = true;
      continue;
    }
    if (section?.kind !== "update" || line.startsWith("*** ")) continue; // Begin/End Patch
    if (line === "@@" || line.startsWith("@@ ")) {
      hunk = { context: line.length > 3 ? line.slice(3) : null, lines: [], isEndOfFile: false };
      section.hunks.push(hunk);
      continue;
    }
    if (!hunk) {
      // The first hunk of a section may leave out its "@@".
      hunk = { context: null, lines: [], isEndOfFile: false };
      section.hunks.push(hunk);
    }
    hunk.lines.push(line === "" ? " " : line); // an empty line is an empty context line
  }
  return sections;
}

/** The file's lines as Codex splits them: on "\n", without the empty element after a final newline. */
function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/**
 * Where `needle` starts in `hay` at or after `from` (exact, then ignoring trailing, then surrounding
 * blanks, as Codex's seek_sequence); -1 if nowhere, or once the budget is spent. An end-of-file hunk
 * (`eof`) is sought at the file's very end first, as Codex's seek_sequence starts there.
 */
function seek(hay: readonly string[], needle: readonly string[], from: number, budget: Budget, eof = false): number {
  if (needle.length === 0) return Math.min(from, hay.length);
  if (eof && needle.length <= hay.length) {
    const atEnd = seekFrom(hay, needle, hay.length - needle.length, budget);
    if (atEnd >= 0 || budget.left < 0) return atEnd;
  }
  return seekFrom(hay, needle, from, budget);
}

function seekFrom(hay: readonly string[], needle: readonly string[], from: number, budget: Budget): number {
  for (const norm of [(s: string) => s, (s: string) => s.trimEnd(), (s: string) => s.trim()]) {
    for (let i = from; i + needle.length <= hay.length; i++) {
      let j = 0;
      while (j < needle.length && norm(hay[i + j]!) === norm(needle[j]!)) j++;
      budget.left -= j + 1;
      if (budget.left < 0) return -1;
      if (j === needle.length) return i;
    }
  }
  return -1;
}

/**
 * The lines a section's hunks touch in `text` (the file before the edit for "pre", after it for
 * "post"): removed lines and where added ones go (pre), added lines and where removed ones were
 * (post), 1-based. Null when a hunk is not found.
 */
function hunkLines(hunks: readonly Hunk[], text: string, phase: "pre" | "post", budget: Budget): Lines {
  const file = splitLines(text);
  const kept = phase === "pre" ? "-" : "+"; // the side of the hunk that is in `text`
  const ranges: Array<[number, number]> = [];
  let from = 0;
  for (const hunk of hunks) {
    if (hunk.context !== null) {
      const at = seek(file, [hunk.context], from, budget);
      if (at < 0) return null;
      from = at + 1;
    }
    const side = hunk.lines.filter((l) => l[0] === " " || l[0] === kept).map((l) => l.slice(1));
    let at = side.length === 0 ? file.length : seek(file, side, from, budget, hunk.isEndOfFile);
    if (at < 0 && side.at(-1) === "") at = seek(file, side.slice(0, -1), from, budget, hunk.isEndOfFile); // a trailing empty line for the final newline
    if (at < 0) return null;
    let n = at + 1; // the 1-based line of `text` the walk is at
    let prev = " ";
    const mark = (line: number) => {
      const last = ranges.at(-1);
      if (!last || last[0] !== line) ranges.push([line, line]);
    };
    for (const l of hunk.lines) {
      if (l[0] === " " || l[0] === kept) {
        if (l[0] === kept) mark(n);
        n++;
      } else if (l[0] === "-" || l[0] === "+") {
        // The other side's line: in place of the changed line just before it, else where it lands.
        mark(prev === kept ? n - 1 : Math.max(n, 1));
      }
      prev = l[0]!;
    }
    from = at + side.length;
  }
  return ranges.length ? ranges : null;
}

/**
 * Every file a patch adds, updates, deletes or moves to, each with the lines at stake (`pre`) or
 * changed (`post`). `read(path)` answers a file's text, or null when it cannot be read.
 */
export function patchEdits(patch: string, phase: "pre" | "post", read: (path: string) => string | null): Array<{ path: string; lines: Lines }> {
  const out: Array<{ path: string; lines: Lines }> = [];
  const budget: Budget = { left: MAX_COMPARISONS };
  for (const s of parsePatch(patch)) {
    if (s.kind !== "update") out.push({ path: s.path, lines: "all" });
    else if (s.moveTo !== null) out.push({ path: s.path, lines: "all" }, { path: s.moveTo, lines: "all" });
    else {
      const text = read(s.path);
      out.push({ path: s.path, lines: text === null ? null : hunkLines(s.hunks, text, phase, budget) });
    }
  }
  return out.slice(0, MAX_FILES);
}
