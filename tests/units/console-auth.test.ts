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
    const session = a.redeem(code)!;
    expect(session.cookie).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(session.key).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(a.valid(session.cookie, session.key)).toBe(true);
    expect(a.redeem(code)).toBeNull();
  });

  test("the cookie alone shows the page, but only with its own key does it reach the API", () => {
    const { a } = auth();
    const one = a.redeem(a.issueCode().code)!;
    const two = a.redeem(a.issueCode().code)!;
    expect(a.browserKnown(one.cookie)).toBe(true);
    expect(a.valid(one.cookie, undefined)).toBe(false);
    expect(a.valid(one.cookie, "")).toBe(false);
    expect(a.valid(one.cookie, two.key)).toBe(false);
    expect(a.valid(one.key, one.cookie)).toBe(false);
    expect(a.valid(two.cookie, two.key)).toBe(true);
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
    expect(a.browserKnown(undefined)).toBe(false);
    expect(a.browserKnown("")).toBe(false);
    expect(a.browserKnown(code)).toBe(false);
  });

  test("a browser session ends after its time", () => {
    const { a, tick } = auth();
    const { cookie, key } = a.redeem(a.issueCode().code)!;
    tick(CONSOLE_SESSION_TTL_MS - 1);
    expect(a.valid(cookie, key)).toBe(true);
    tick(1);
    expect(a.valid(cookie, key)).toBe(false);
    expect(a.browserKnown(cookie)).toBe(false);
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
