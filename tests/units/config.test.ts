/** loadConfig: the environment, read once, with every bad value a clear error. */
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { ConfigError, DEFAULT_HOST_TIMEOUT_S, DEFAULT_PORT, loadConfig } from "../../shared/config.ts";
import { thrown } from "../helpers/wait.ts";

describe("loadConfig", () => {
  const HOME = "/home/tester";

  test("defaults come from the given home, not $HOME", () => {
    const c = loadConfig({ HOME: "/not/this/one" }, HOME);
    expect(c).toEqual({
      port: DEFAULT_PORT,
      db: "/home/tester/.claude-peers.db",
      shared: false,
      host: expect.any(String),
      hostTimeoutMs: DEFAULT_HOST_TIMEOUT_S * 1000,
      tokenPath: "/home/tester/.claude-peers.db.token",
      logPath: "/home/tester/.claude-peers.db.log",
      lockPath: `/home/tester/.claude-peers-${DEFAULT_PORT}.lock`,
      peerName: undefined,
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
      summaryModel: "gpt-4o-mini",
      mailboxTtlMs: 7 * 24 * 60 * 60 * 1000,
      push: true,
      claudeSessionId: undefined,
      mailFlagDir: "/home/tester/.claude-peers-mail",
      editFlagDir: "/home/tester/.claude-peers-edits",
      groups: [],
      agent: "claude-code",
      damping: { duplicateWindowS: 60, loopLimit: 30, loopWindowS: 600 },
      collisions: { mode: "deny", windowS: 1800 },
    });
  });

  test.each([
    [{ CLAUDE_PEERS_COLLISIONS: "WARN" }, { mode: "warn", windowS: 1800 }],
    [{ CLAUDE_PEERS_COLLISIONS: " off " }, { mode: "off", windowS: 1800 }],
    [{ CLAUDE_PEERS_COLLISION_WINDOW_S: "600" }, { mode: "deny", windowS: 600 }],
  ])("edit collisions: %p → %p", (env, collisions) => {
    expect(loadConfig(env, HOME).collisions).toEqual(collisions as never);
  });

  test.each([
    [{ CLAUDE_PEERS_COLLISIONS: "block" }, /CLAUDE_PEERS_COLLISIONS must be one of warn, deny, off/],
    [{ CLAUDE_PEERS_COLLISION_WINDOW_S: "0" }, /CLAUDE_PEERS_COLLISION_WINDOW_S must be a positive number/],
  ])("edit collisions: %p is refused, naming the variable", (env, message) => {
    expect(() => loadConfig(env, HOME)).toThrow(message);
  });

  test.each([
    ["8080", 8080],
    [" 8080 ", 8080],
    ["1", 1],
    ["65535", 65535],
    ["", DEFAULT_PORT],
    ["  ", DEFAULT_PORT],
  ])("CLAUDE_PEERS_PORT=%p → %p", (raw, port) => {
    expect(loadConfig({ CLAUDE_PEERS_PORT: raw }, HOME).port).toBe(port);
  });

  test.each(["abc", "0", "65536", "-1", "80.5", "0x1F90", "1e3", "8080abc", "80 80"])("CLAUDE_PEERS_PORT=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_PORT: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_PORT");
    expect(err.message).toContain(`"${raw}"`);
  });

  test.each([
    ["~/data/peers.db", "/home/tester/data/peers.db"],
    ["~/peers.db", "/home/tester/peers.db"],
    ["/var/tmp/peers.db", "/var/tmp/peers.db"],
    ["  /var/tmp/peers.db  ", "/var/tmp/peers.db"],
    ["relative/peers.db", resolve("relative/peers.db")],
    ["/var/tmp/../tmp/peers.db", "/var/tmp/peers.db"],
    ["", "/home/tester/.claude-peers.db"],
  ])("CLAUDE_PEERS_DB=%p → %p, with the token and log beside it", (raw, dbPath) => {
    const c = loadConfig({ CLAUDE_PEERS_DB: raw, CLAUDE_PEERS_PORT: "9001" }, HOME);
    expect(c.db).toBe(dbPath);
    expect(c.shared).toBe(false);
    expect(c.tokenPath).toBe(`${dbPath}.token`);
    expect(c.logPath).toBe(`${dbPath}.log`);
    expect(c.lockPath).toBe(join(dbPath, "..", ".claude-peers-9001.lock"));
  });

  test.each([
    ["codex", "codex" as const],
    [" Gemini ", "gemini"],
    ["claude-code", "claude-code"],
    ["", "claude-code"],
    [undefined, "claude-code"],
  ])("CLAUDE_PEERS_AGENT=%p → agent %p", (raw, agent) => {
    expect(loadConfig({ CLAUDE_PEERS_AGENT: raw }, HOME).agent as string).toBe(agent);
  });

  test("CLAUDE_PEERS_AGENT of an agent claude-peers does not know is a ConfigError that lists the known ones", async () => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_AGENT: "cursor" }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe('CLAUDE_PEERS_AGENT must be one of claude-code, codex, gemini, got "cursor"');
  });

  test.each([
    ["off", false],
    ["OFF", false],
    [" off ", false],
    ["on", true],
    ["", true],
    [undefined, true],
  ])("CLAUDE_PEERS_PUSH=%p → push %p", (raw, push) => {
    expect(loadConfig({ CLAUDE_PEERS_PUSH: raw }, HOME).push).toBe(push);
  });

  test("optional strings are trimmed, and blank means unset", () => {
    const c = loadConfig({ CLAUDE_PEERS_NAME: "  bob ", OPENAI_API_KEY: "  ", OPENAI_BASE_URL: " http://127.0.0.1:9/v1 ", CLAUDE_PEERS_SUMMARY_MODEL: " " }, HOME);
    expect(c).toMatchObject({ peerName: "bob", openaiApiKey: undefined, openaiBaseUrl: "http://127.0.0.1:9/v1", summaryModel: "gpt-4o-mini" });
  });

  test.each([
    ["0.5", 12 * 60 * 60 * 1000],
    ["30", 30 * 24 * 60 * 60 * 1000],
  ])("CLAUDE_PEERS_MAILBOX_DAYS=%p → %p ms", (raw, ms) => {
    expect(loadConfig({ CLAUDE_PEERS_MAILBOX_DAYS: raw }, HOME).mailboxTtlMs).toBe(ms);
  });

  test.each(["0", "-1", "soon"])("CLAUDE_PEERS_MAILBOX_DAYS=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_MAILBOX_DAYS: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_MAILBOX_DAYS");
  });

  test.each(["postgres://u:pw@db.example.com:5432/peers", "postgresql://db/peers?sslmode=require", "POSTGRES://db/x"])(
    "CLAUDE_PEERS_DB=%p is a shared PostgreSQL URL, kept as given, with the token and log in HOME",
    (url) => {
      const c = loadConfig({ CLAUDE_PEERS_DB: ` ${url} ` }, HOME);
      expect(c).toMatchObject({ db: url, shared: true, tokenPath: "/home/tester/.claude-peers.token", logPath: "/home/tester/.claude-peers.log" });
      expect(c.lockPath).toBe(`/home/tester/.claude-peers-${DEFAULT_PORT}.lock`);
    },
  );

  test("CLAUDE_PEERS_HOST names this machine; CLAUDE_PEERS_HOST_TIMEOUT is in seconds", () => {
    expect(loadConfig({ CLAUDE_PEERS_HOST: " dev-box.lan ", CLAUDE_PEERS_HOST_TIMEOUT: "1.5" }, HOME)).toMatchObject({ host: "dev-box.lan", hostTimeoutMs: 1500 });
    expect(loadConfig({}, HOME).host).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  });

  test.each([
    ["CLAUDE_PEERS_HOST", "me@laptop"],
    ["CLAUDE_PEERS_HOST", "-dash"],
    ["CLAUDE_PEERS_HOST_TIMEOUT", "0"],
    ["CLAUDE_PEERS_HOST_TIMEOUT", "soon"],
  ])("%s=%p is a ConfigError naming the variable", async (name, raw) => {
    const err = await thrown(() => loadConfig({ [name]: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(name);
  });
});
