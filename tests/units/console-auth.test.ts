/** The console's login codes and browser sessions, on an injected clock. */
import { describe, expect, test } from "bun:test";
import { CONSOLE_SESSION_TTL_MS, ConsoleAuth, LOGIN_CODE_TTL_MS } from "../../shared/broker/console-auth.ts";

function auth() {
  let now = 1_000_000;
  const a = new ConsoleAuth(() => now);
  return { a, tick: (ms: number) => (now += ms) };
}

describe("ConsoleAuth", () => {
  test("a code logs in once, and a second use gets nothing", () => {
    const { a } = auth();
    const { code } = a.issueCode();
    const session = a.redeem(code);
    expect(session).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(a.valid(session!)).toBe(true);
    expect(a.redeem(code)).toBeNull();
  });

  test("a code expires within a minute", () => {
    const { a, tick } = auth();
    const { code, expiresAt } = a.issueCode();
    const fresh = a.issueCode().code;
    expect(expiresAt).toBe(1_000_000 + LOGIN_CODE_TTL_MS);
    expect(LOGIN_CODE_TTL_MS).toBeLessThanOrEqual(60_000);
    tick(LOGIN_CODE_TTL_MS - 1);
    expect(a.redeem(fresh)).not.toBeNull();
    tick(1);
    expect(a.redeem(code)).toBeNull();
  });

  test("unknown codes and cookies are refused; codes are not sessions", () => {
    const { a } = auth();
    const { code } = a.issueCode();
    expect(a.redeem("")).toBeNull();
    expect(a.redeem("not-a-code")).toBeNull();
    expect(a.valid(undefined)).toBe(false);
    expect(a.valid("")).toBe(false);
    expect(a.valid(code)).toBe(false);
  });

  test("a browser session ends after its time", () => {
    const { a, tick } = auth();
    const session = a.redeem(a.issueCode().code)!;
    tick(CONSOLE_SESSION_TTL_MS - 1);
    expect(a.valid(session)).toBe(true);
    tick(1);
    expect(a.valid(session)).toBe(false);
  });

  test("minting codes in a loop keeps a bounded number: the oldest go first", () => {
    const { a } = auth();
    const first = a.issueCode().code;
    for (let i = 0; i < 1000; i++) a.issueCode();
    const last = a.issueCode().code;
    expect(a.redeem(first)).toBeNull();
    expect(a.redeem(last)).not.toBeNull();
  });
});
