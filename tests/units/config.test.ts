/** loadConfig: the environment, read once, with every bad value a clear error. */
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { ConfigError, DEFAULT_HOST_TIMEOUT_S, DEFAULT_PORT, checkConfig, defaultConsolePort, loadBrokerLocation, loadConfig } from "../../shared/config.ts";
import { thrown } from "../helpers/wait.ts";

describe("loadConfig", () => {
  const HOME = "/home/tester";

  test("defaults come from the given home (not $HOME) and uid", () => {
    const c = loadConfig({ HOME: "/not/this/one" }, HOME, 1000);
    expect(c).toEqual({
      port: 8899,
      socketPath: "/home/tester/.claude-peers/claude-peers.db.sock",
      db: "/home/tester/.claude-peers.db",
      shared: false,
      host: expect.any(String),
      hostTimeoutMs: DEFAULT_HOST_TIMEOUT_S * 1000,
      tokenPath: "/home/tester/.claude-peers.db.token",
      logPath: "/home/tester/.claude-peers.db.log",
      lockPath: "/home/tester/.claude-peers-8899.lock",
      peerName: undefined,
      openaiApiKey: undefined,
      openaiBaseUrl: undefined,
      summaryModel: "gpt-4o-mini",
      mailboxTtlMs: 7 * 24 * 60 * 60 * 1000,
      heldTtlMs: 7 * 24 * 60 * 60 * 1000,
      push: true,
      claudeSessionId: undefined,
      mailFlagDir: "/home/tester/.claude-peers-mail",
      checkOnly: false,
      editFlagDir: "/home/tester/.claude-peers-edits",
      groups: [],
      agent: "claude-code",
      damping: { duplicateWindowS: 60, loopLimit: 30, loopWindowS: 600 },
      collisions: { mode: "deny", windowS: 1800 },
    });
  });

  test.each([
    [0, DEFAULT_PORT],
    [1000, 8899],
    [1001, 8900],
    [2000, DEFAULT_PORT],
    [65534, 9433],
  ])("the console's default port for uid %p is %p (users apart, CLAUDE_PEERS_PORT over it)", (uid, port) => {
    expect(defaultConsolePort(uid)).toBe(port);
    expect(loadConfig({}, HOME, uid).port).toBe(port);
    expect(loadConfig({ CLAUDE_PEERS_PORT: "9001" }, HOME, uid).port).toBe(9001);
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
    expect(loadConfig({ CLAUDE_PEERS_PORT: raw }, HOME, 0).port).toBe(port);
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
    // The socket too derives from the database, so each database (each test's) has its own broker.
    expect(c.socketPath).toBe(join(dbPath, "..", ".claude-peers", `${dbPath.split("/").at(-1)!.replace(/^\.+/, "")}.sock`));
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

  test.each([
    [{ CLAUDE_PEERS_MAILBOX_DAYS: "3" }, 3 * 24 * 60 * 60 * 1000],
    [{ CLAUDE_PEERS_MAILBOX_DAYS: "3", CLAUDE_PEERS_HELD_DAYS: "0.5" }, 12 * 60 * 60 * 1000],
  ])("held mail lasts CLAUDE_PEERS_HELD_DAYS, else the mailbox's days: %p → %p ms", (env, ms) => {
    expect(loadConfig(env, HOME).heldTtlMs).toBe(ms);
  });

  test.each(["0", "-1", "soon"])("CLAUDE_PEERS_HELD_DAYS=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_HELD_DAYS: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_HELD_DAYS");
  });

  test.each(["0", "-1", "soon"])("CLAUDE_PEERS_MAILBOX_DAYS=%p is a ConfigError naming the variable", async (raw) => {
    const err = await thrown(() => loadConfig({ CLAUDE_PEERS_MAILBOX_DAYS: raw }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_MAILBOX_DAYS");
  });

  test.each(["postgres://u:pw@db.example.com:5432/peers", "postgresql://db/peers?sslmode=require", "POSTGRES://db/x"])(
    "CLAUDE_PEERS_DB=%p is a shared PostgreSQL URL, kept as given, with the token and log in HOME",
    (url) => {
      const c = loadConfig({ CLAUDE_PEERS_DB: ` ${url} ` }, HOME, 0);
      expect(c).toMatchObject({ db: url, shared: true, tokenPath: "/home/tester/.claude-peers.token", logPath: "/home/tester/.claude-peers.log", socketPath: "/home/tester/.claude-peers/claude-peers.sock" });
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

describe("checkConfig and loadBrokerLocation: a bad setting stops only what reads it", () => {
  const HOME = "/home/tester";
  const BAD = {
    CLAUDE_PEERS_GROUPS: "ui,Not A Group",
    CLAUDE_PEERS_AGENT: "cursor",
    CLAUDE_PEERS_HOST: "me@laptop",
    CLAUDE_PEERS_MAILBOX_DAYS: "-1",
    CLAUDE_PEERS_DUPLICATE_WINDOW_S: "a minute",
    CLAUDE_PEERS_LOOP_LIMIT: "-3",
    CLAUDE_PEERS_LOOP_WINDOW_S: "NaN",
  };

  test("checkConfig names every bad variable with its fix, and uses each one's default meanwhile", () => {
    const { config, problems } = checkConfig({ ...BAD, CLAUDE_PEERS_PORT: "9001" }, HOME);
    expect(problems.map((p) => p.variable).sort()).toEqual(Object.keys(BAD).sort());
    for (const p of problems) {
      expect(p).toBeInstanceOf(ConfigError);
      expect(p.message).toContain(p.variable);
      expect(p.fix).toStartWith(`set ${p.variable} to `);
      expect(p.fix).toContain("or unset it");
    }
    expect(config).toEqual(loadConfig({ CLAUDE_PEERS_PORT: "9001" }, HOME));
  });

  test("loadConfig still throws the first of them (the broker and the server refuse to start)", async () => {
    const err = await thrown(() => loadConfig(BAD, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("CLAUDE_PEERS_");
  });

  test("loadBrokerLocation reads CLAUDE_PEERS_PORT and CLAUDE_PEERS_DB only: the hooks' settings", async () => {
    const env = { ...BAD, CLAUDE_PEERS_PORT: "9001", CLAUDE_PEERS_DB: "~/peers.db" };
    const full = loadConfig({ CLAUDE_PEERS_PORT: "9001", CLAUDE_PEERS_DB: "~/peers.db" }, HOME);
    expect(loadBrokerLocation(env, HOME)).toEqual({
      port: 9001,
      socketPath: full.socketPath,
      db: full.db,
      shared: false,
      tokenPath: full.tokenPath,
      logPath: full.logPath,
      lockPath: full.lockPath,
    });
    const err = await thrown(() => loadBrokerLocation({ CLAUDE_PEERS_PORT: "http" }, HOME));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe("CLAUDE_PEERS_PORT");
  });
});
