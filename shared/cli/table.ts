/**
 * Aligned text tables for people: measured in terminal cells, long cells cut with an ellipsis.
 * Every cell is made one safe line first (safe-text.ts oneLine): cells hold what peers gave.
 */
import { oneLine } from "../safe-text.ts";

export interface Column {
  header: string;
  /** Widest the column may get, in terminal cells. */
  max?: number;
  /** Which end of a long value survives: "end" for paths, where the last folders matter. */
  keep?: "start" | "end";
}

export interface TableOptions {
  /** Terminal width: the last column is cut so lines fit (TTY only). */
  width?: number;
  /** Styles the header line (bold on a TTY); applied after padding so alignment holds. */
  styleHeader?: (text: string) => string;
}

const GAP = "  ";
const ELLIPSIS = "…";
/** The last column keeps at least this much room, even on a narrow terminal. */
const MIN_LAST_WIDTH = 12;

const width = (text: string): number => Bun.stringWidth(text);

/** Cuts `text` to at most `max` cells, marking the cut with "…". */
export function truncate(text: string, max: number, keep: "start" | "end" = "start"): string {
  if (width(text) <= max) return text;
  const chars = [...text];
  let kept = "";
  while (chars.length && width(kept) + width(chars[keep === "start" ? 0 : chars.length - 1]!) < max) {
    kept = keep === "start" ? kept + chars.shift()! : chars.pop()! + kept;
  }
  return keep === "start" ? kept + ELLIPSIS : ELLIPSIS + kept;
}

/** Renders rows under their headers, one string per line, without trailing spaces. */
export function renderTable(columns: Column[], rows: string[][], opts: TableOptions = {}): string[] {
  const cut = rows.map((row) => columns.map((c, i) => truncate(oneLine(row[i] ?? ""), c.max ?? Infinity, c.keep)));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cut.map((row) => width(row[i]!))));
  const last = columns.length - 1;
  if (opts.width !== undefined && last >= 0) {
    const before = widths.slice(0, last).reduce((sum, w) => sum + w + GAP.length, 0);
    const room = Math.max(MIN_LAST_WIDTH, opts.width - before);
    for (const row of cut) row[last] = truncate(row[last]!, room, columns[last]!.keep);
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === last ? cell : cell + " ".repeat(widths[i]! - width(cell))))
      .join(GAP)
      .trimEnd();
  const header = line(columns.map((c) => c.header));
  return [opts.styleHeader ? opts.styleHeader(header) : header, ...cut.map(line)];
}
