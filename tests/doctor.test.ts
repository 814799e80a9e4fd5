/**
 * `bun cli.ts doctor` against real installs: Claude Code's own CLI (offline, its own config dir)
 * registers claude-peers with `claude mcp add` and as the plugin, a real broker runs, and the
 * doctor reads what they wrote. A healthy install exits 0; a doubled registration, a token file
 * other users can read and a foreign program on the port are named, with the fix, and exit 1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { CLAUDE, claudeCli, type ClaudeCli } from "./helpers/claude-cli.ts";
import { CLI } from "./helpers/cli.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { startServer, whoami } from "./helpers/server.ts";

interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: "ok" | "info" | "warn" | "fail"; detail: string; fix?: string }>;
}

async function doctor(t: TestEnv, cli: ClaudeCli, extraEnv: Record<string, string> = {}, textToo = true): Promise<{ code: number; report: Report; text: string }> {
  // PATH: this bun and the pinned Claude Code, as a user's shell would have them.
  const env = { ...cli.env, PATH: `${dirname(CLAUDE)}:${dirname(process.execPath)}:/usr/bin:/bin`, ...extraEnv };
  const run = async (args: string[]) => {
    const proc = Bun.spawn([process.execPath, CLI, ...args], { env, cwd: t.home, stdout: "pipe", stderr: "pipe" });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return { stdout, code };
  };
  const json = await run(["doctor", "--json"]);
  if (!textToo) return { code: json.code, report: JSON.parse(json.stdout) as Report, text: "" };
  const text = await run(["doctor"]);
  expect(text.code).toBe(json.code);
  return { code: json.code, report: JSON.parse(json.stdout) as Report, text: text.stdout };
}

const check = (r: Report, name: string) => r.checks.find((c) => c.name === name)!;

describe("doctor", () => {
  let t: TestEnv;
  let cli: ClaudeCli;
  let broker: TestBroker;

  beforeAll(async () => {
    t = makeTestEnv();
    cli = claudeCli(t);
    broker = await startBroker(t);
  });

  afterAll(async () => {
    await broker?.stop();
    t?.cleanup();
  });

  test("a healthy install (claude mcp add, a broker of this version): every check ok or info, exit 0", async () => {
    const add = await cli.run("mcp", "add", "--scope", "user", "--transport", "stdio", "claude-peers", "--", process.execPath, join(ROOT, "server.ts"));
    expect(add.code).toBe(0);
    const { code, report, text } = await doctor(t, cli);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ["bun", "ok"],
      ["claude code", "ok"],
      ["settings", "ok"],
      ["registration", "ok"],
      ["hooks", "info"], // `claude mcp add` brings no hooks
      ["launch", "ok"], // the registered server started and answered initialize
      ["channel flag", expect.stringMatching(/^info$/)],
      ["broker", "ok"],
      ["file modes", "ok"],
      ["store", "ok"],
      ["this session", "info"], // this test is no Claude Code session
      ["mail delivery", "info"],
    ]);
    expect(check(report, "claude code").detail).toContain("Claude Code 2.1.332");
    expect(check(report, "registration").detail).toContain("user scope");
    expect(check(report, "broker").detail).toContain(`pid ${broker.pid}`);
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    expect(text).toMatch(/^ok {4}bun +Bun \d/m);
    expect(text).toEndWith("\nall good\n");
  });

  test("mail delivery names the path each running session really has: channel push only where its Claude Code shows it", async () => {
    // alice's Claude Code has the flag and a claude.ai login; bob's has the flag and API-key auth (it would drop every push); carol's no flag.
    const sessions = await Promise.all([
      startServer(t, { name: "alice" }),
      startServer(t, { name: "bob", env: { ANTHROPIC_API_KEY: "sk-ant-api03-test" } }),
      startServer(t, { name: "carol", channels: false }),
    ]);
    try {
      await Promise.all(sessions.map(whoami));
      const detail = check((await doctor(t, cli, {}, false)).report, "mail delivery").detail;
      expect(detail).toStartWith("3 sessions here: 1 pushed by channel");
      expect(detail).toContain("0 pushed by the plugin's monitor");
      expect(detail).toContain("2 at their next hook or tool call");
      for (const [name, path] of [["alice", "push by channel"], ["bob", "at the next tool call"], ["carol", "at the next tool call"]]) expect(detail).toContain(`${name}: ${path}`);
    } finally {
      await Promise.all(sessions.map((s) => s.stop()));
    }
  });

  test("three broken setups that look fine on paper: a broker that refuses this setup's token, a registered Bun that is gone, a clone that moved", async () => {
    // (a) The broker on this setup's socket does not take its token (the token file was replaced).
    const token = readFileSync(t.tokenPath, "utf8");
    writeFileSync(t.tokenPath, "x".repeat(token.trim().length));
    try {
      const { code, report } = await doctor(t, cli, {}, false);
      expect(code).toBe(1);
      expect(check(report, "broker")).toMatchObject({ status: "fail", detail: expect.stringContaining("is not this setup's broker: it refuses this setup's token") });
      expect(check(report, "broker").fix).toContain(`kill ${broker.pid}`);
    } finally {
      writeFileSync(t.tokenPath, token);
    }
    // (b) The Bun registered by install is gone (a version manager moved it): install again mends it.
    const mcpPath = join(cli.env.CLAUDE_CONFIG_DIR!, ".claude.json");
    const before = existsSync(mcpPath) ? readFileSync(mcpPath, "utf8") : "{}";
    const state = { mcpServers: {}, ...JSON.parse(before) };
    state.mcpServers["claude-peers"] = { type: "stdio", command: join(t.dir, "gone", "bun"), args: [join(ROOT, "server.ts")], env: { CLAUDE_PEERS_INSTALLED_BY: "bun cli.ts install claude" } };
    writeFileSync(mcpPath, JSON.stringify(state));
    try {
      const gone = await doctor(t, cli, {}, false);
      expect(gone.code).toBe(1);
      expect(check(gone.report, "launch")).toMatchObject({ status: "fail", fix: "bun cli.ts install claude" });
      expect(check(gone.report, "launch").detail).toContain(`${join(t.dir, "gone", "bun")} ${join(ROOT, "server.ts")}\` cannot start`);
      // (c) The clone moved (a user's own `claude mcp add` entry): the fix says how to register it again.
      state.mcpServers["claude-peers"] = { type: "stdio", command: process.execPath, args: [join(t.dir, "moved", "server.ts")], env: {} };
      writeFileSync(mcpPath, JSON.stringify(state));
      const moved = await doctor(t, cli, {}, false);
      expect(moved.code).toBe(1);
      expect(check(moved.report, "launch")).toMatchObject({ status: "fail", detail: expect.stringContaining("did not answer Claude Code's initialize: exited (1)") });
      expect(check(moved.report, "launch").fix).toStartWith("claude mcp remove --scope user claude-peers, then bun cli.ts install claude");
    } finally {
      writeFileSync(mcpPath, before);
    }
  });

  test("a malformed setting (CLAUDE_PEERS_GROUPS, a damping variable): doctor still runs every check and names each variable with its fix, exit 1", async () => {
    const bad = { CLAUDE_PEERS_GROUPS: "ui,Not A Group", CLAUDE_PEERS_LOOP_WINDOW_S: "ten minutes" };
    const { code, report, text } = await doctor(t, cli, bad);
    expect(code).toBe(1);
    expect(check(report, "broker").status).toBe("ok"); // the other checks ran, with the port as set
    const settings = check(report, "settings");
    expect(settings.status).toBe("fail");
    expect(settings.detail).toContain('CLAUDE_PEERS_GROUPS: "Not A Group" is not a group name');
    expect(settings.detail).toContain('CLAUDE_PEERS_LOOP_WINDOW_S must be a number, 0 or more (0 turns it off), got "ten minutes"');
    expect(settings.fix).toContain("set CLAUDE_PEERS_GROUPS to comma-separated group names (e.g. ui,review), or unset it");
    expect(settings.fix).toContain("set CLAUDE_PEERS_LOOP_WINDOW_S to a number, 0 or more (0 turns the rule off), or unset it (600)");
    expect(text).toMatch(/^fail {2}settings +CLAUDE_PEERS_GROUPS/m);
    // Any other command stops at the first bad setting, as before, and points at doctor.
    const proc = Bun.spawn([process.execPath, CLI, "status"], { env: { ...cli.env, ...bad }, cwd: t.home, stdout: "pipe", stderr: "pipe" });
    const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(exit).toBe(1);
    expect(stderr).toContain("CLAUDE_PEERS_GROUPS");
    expect(stderr).toContain("`bun cli.ts doctor` lists every bad setting");
  });
  test("the plugin as well, a token file others can read, a foreign program on the socket: each named with its fix, exit 1", async () => {
    // The bun cache the repository's `bun install` filled serves the plugin's dependencies (no network).
    const cache = { BUN_INSTALL_CACHE_DIR: process.env.BUN_INSTALL_CACHE_DIR || join(homedir(), ".bun", "install", "cache") };
    expect((await cli.runWith(cache, "plugin", "marketplace", "add", ROOT)).code).toBe(0);
    expect((await cli.runWith(cache, "plugin", "install", "peers@claude-peers")).code).toBe(0);
    chmodSync(t.tokenPath, 0o644);
    await broker.stop(); // the last test: the socket is the foreign program's now
    const foreign = Bun.serve({ unix: t.socketPath, fetch: () => new Response("not a broker", { status: 404 }) });
    try {
      const { code, report, text } = await doctor(t, cli);
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(check(report, "registration")).toMatchObject({ status: "warn", detail: expect.stringContaining("every session runs two claude-peers servers") });
      expect(check(report, "registration").fix).toContain("claude mcp remove claude-peers");
      expect(check(report, "hooks").status).toBe("ok"); // the plugin brings them
      expect(check(report, "file modes")).toMatchObject({ status: "fail", fix: `chmod 600 ${t.tokenPath}` });
      expect(check(report, "broker")).toMatchObject({ status: "fail", detail: expect.stringContaining(`${t.socketPath} is held by another program`) });
      expect(text).toContain("fix: chmod 600");
      expect(text).toEndWith("\nsomething needs fixing (see fix:)\n");
    } finally {
      foreign.stop(true);
      chmodSync(t.tokenPath, 0o600);
    }
  });
});
