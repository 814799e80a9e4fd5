/** The real Claude Code CLI (2.1.330, offline) registers our server and finds it Connected. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { runningBroker } from "./helpers/broker.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";

// Real processes on two cores. Bun applies a default timeout file by file, so each file sets it.
setDefaultTimeout(60_000);

const CLAUDE = join(ROOT, "node_modules", ".bin", "claude");

describe("Claude Code CLI", () => {
  let t: TestEnv;
  let env: Record<string, string>;

  beforeAll(() => {
    t = makeTestEnv();
    const configDir = join(t.dir, "claude-config");
    mkdirSync(configDir);
    env = { ...t.env, CLAUDE_CONFIG_DIR: configDir, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" };
  });

  afterAll(async () => {
    // `claude mcp list` spawned our server, which auto-started a broker for this port.
    await (await runningBroker(t)).stop();
    t.cleanup();
  });

  async function claude(...args: string[]): Promise<{ code: number; out: string }> {
    const proc = Bun.spawn([CLAUDE, ...args], { env, cwd: t.home, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out: stdout + stderr };
  }

  test("claude mcp add, as README says, then claude mcp list reports claude-peers Connected", async () => {
    const add = await claude("mcp", "add", "--scope", "user", "--transport", "stdio", "claude-peers", "--", process.execPath, join(ROOT, "server.ts"));
    expect(add.code).toBe(0);
    expect(add.out).toContain("claude-peers");

    // `claude mcp list` exits 0 even when a server fails: the verdict is in the text.
    const list = await claude("mcp", "list");
    expect(list.out).toMatch(/claude-peers: .*server\.ts - \S* ?Connected/);
    expect(list.out).not.toMatch(/claude-peers: .*Failed/);
  });
});
