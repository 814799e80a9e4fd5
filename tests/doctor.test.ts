/**
 * `bun cli.ts doctor` against real installs: Claude Code's own CLI (offline, its own config dir)
 * registers claude-peers with `claude mcp add` and as the plugin, a real broker runs, and the
 * doctor reads what they wrote. A healthy install exits 0; a doubled registration, a token file
 * other users can read and a foreign program on the port are named, with the fix, and exit 1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { CLAUDE, claudeCli, type ClaudeCli } from "./helpers/claude-cli.ts";
import { CLI } from "./helpers/cli.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";

interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: "ok" | "info" | "warn" | "fail"; detail: string; fix?: string }>;
}

async function doctor(t: TestEnv, cli: ClaudeCli, extraEnv: Record<string, string> = {}): Promise<{ code: number; report: Report; text: string }> {
  // PATH: this bun and the pinned Claude Code, as a user's shell would have them.
  const env = { ...cli.env, PATH: `${dirname(CLAUDE)}:${dirname(process.execPath)}:/usr/bin:/bin`, ...extraEnv };
  const run = async (args: string[]) => {
    const proc = Bun.spawn([process.execPath, CLI, ...args], { env, cwd: t.home, stdout: "pipe", stderr: "pipe" });
    const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return { stdout, code };
  };
  const json = await run(["doctor", "--json"]);
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
      ["registration", "ok"],
      ["hooks", "info"], // `claude mcp add` brings no hooks
      ["channel flag", expect.stringMatching(/^info$/)],
      ["broker", "ok"],
      ["file modes", "ok"],
      ["store", "ok"],
      ["this session", "info"], // this test is no Claude Code session
    ]);
    expect(check(report, "claude code").detail).toContain("Claude Code 2.1.332");
    expect(check(report, "registration").detail).toContain("user scope");
    expect(check(report, "broker").detail).toContain(`pid ${broker.pid}`);
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    expect(text).toMatch(/^ok {4}bun +Bun \d/m);
    expect(text).toEndWith("\nall good\n");
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
