/**
 * Text that other sessions wrote, made safe to show: one place that says which characters are
 * control characters and how each display path writes them. Zod-free and import-free: the hook
 * loads it when it has mail to show, and the broker's schemas and the CLI use the same definitions.
 *
 * Why: a folder name, branch or summary holding ESC can clear the operator's screen or write the
 * clipboard (OSC 52) when printed raw, and one holding a line break adds fake lines (a fake peer in
 * list_peers, a fake "from cli" block in a hook's text) where a model or a person reads it.
 */

/** C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F): the characters terminals act on. */
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_CHARS_G = new RegExp(CONTROL_CHARS.source, "g");
/** Control characters other than tab, line feed and carriage return: written visibly in a message's text. */
const CONTROL_EXCEPT_LAYOUT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
/** Bidirectional overrides and isolates: they reorder what a terminal shows ("Trojan Source"). */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;
/** What breaks a line somewhere (line feed, CR, vertical tab, form feed, NEL, the Unicode line and paragraph separators) or a tab, with the blanks around it. */
const LINE_BREAKS = /[ ]*[\n\r\u000b\u000c\u0085\u2028\u2029\t]\s*/g;

/** The first control character in `text`, written as U+XXXX, or null: for error messages that say what to remove. */
export function firstControlChar(text: string): string | null {
  const found = CONTROL_CHARS.exec(text);
  return found ? codePoint(found[0]) : null;
}

/** "U+001B". */
function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** A character a display must not pass on, written visibly instead: ESC becomes "\x1b", U+202E "\u202e". */
function visible(char: string): string {
  const code = char.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * One line of plain text for a table cell, an attribute or a list entry: line breaks and tabs
 * become one space, every other control character (and bidi override) is written visibly, and
 * the ends are trimmed. Names, summaries, folders and branches go through this wherever shown.
 */
export function oneLine(text: string): string {
  return text.replace(LINE_BREAKS, " ").replace(CONTROL_CHARS_G, visible).replace(BIDI_CONTROLS, visible).trim();
}

/**
 * A message's text as shown to a model or a person: line feeds and tabs stay (code and lists keep
 * their shape), CR LF becomes LF, and every other control character is written visibly.
 */
export function printableText(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(CONTROL_EXCEPT_LAYOUT, visible).replace(BIDI_CONTROLS, visible);
}

/**
 * JSON for a terminal (`--json`): JSON.stringify escapes C0 but writes DEL, C1 and bidi overrides
 * raw, and some terminals act on C1 (U+009B is CSI). The same document, with those as \u escapes.
 */
export function terminalJson(data: unknown, indent?: number): string {
  return JSON.stringify(data, null, indent).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`);
}
