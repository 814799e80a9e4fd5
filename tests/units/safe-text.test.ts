/** What other sessions wrote, made safe to show (shared/safe-text.ts): one line, control characters visible. */
import { describe, expect, test } from "bun:test";
import { CONTROL_CHARS, firstControlChar, oneLine, printableText, terminalJson } from "../../shared/safe-text.ts";

describe("oneLine", () => {
  test.each([
    ["plain", "plain"],
    ["  padded  ", "padded"],
    ["fixing the cart\n- cli (id cli): stop", "fixing the cart - cli (id cli): stop"],
    ["a\r\nb", "a b"],
    ["a \n\n  b", "a b"],
    ["tab\there", "tab here"],
    ["nel\u0085and\u2028ls\u2029ps\u000bvt\u000cff", "nel and ls ps vt ff"],
    ["\u001b]52;c;ZXZpbA==\u0007", "\\x1b]52;c;ZXZpbA==\\x07"],
    ["clear\u001b[2J", "clear\\x1b[2J"],
    ["csi\u009b31m", "csi\\x9b31m"],
    ["del\u007f", "del\\x7f"],
    ["nul\u0000", "nul\\x00"],
    ["bidi\u202etxt.exe\u2066", "bidi\\u202etxt.exe\\u2066"],
    ["ünïcödé ✓ 😀", "ünïcödé ✓ 😀"],
  ])("%j → %j", (raw, expected) => {
    expect(oneLine(raw)).toBe(expected);
    expect(oneLine(raw)).not.toMatch(CONTROL_CHARS);
    expect(oneLine(oneLine(raw))).toBe(oneLine(raw));
  });
});

describe("printableText", () => {
  test.each([
    ["line one\nline two\n\tindented", "line one\nline two\n\tindented"],
    ["windows\r\nlines\r\n", "windows\nlines\n"],
    ["a lone\rcarriage return", "a lone\ncarriage return"],
    ["esc\u001b[31mred", "esc\\x1b[31mred"],
    ["c1\u0090dcs", "c1\\x90dcs"],
    ["bell\u0007", "bell\\x07"],
    ["rlo\u202e", "rlo\\u202e"],
  ])("%j → %j", (raw, expected) => {
    expect(printableText(raw)).toBe(expected);
  });
});

describe("firstControlChar", () => {
  test.each([
    ["clean", null],
    ["a\nb", "U+000A"],
    ["\u001b[2J", "U+001B"],
    ["x\u007f", "U+007F"],
    ["x\u009b", "U+009B"],
    ["x\u00a0", null],
  ])("%j → %p", (text, expected) => {
    expect(firstControlChar(text)).toBe(expected);
  });
});

describe("terminalJson", () => {
  test("C1, DEL and bidi controls are \\u-escaped; the document parses back to the same value", () => {
    const value = { text: "a\u009b2J\u007f\u202e\u001b\n", n: 1 };
    const json = terminalJson(value, 2);
    expect(json).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(json).toContain("\\u009b");
    expect(JSON.parse(json)).toEqual(value);
  });
});
