/** The real Claude Code CLI (2.1.332, offline) registers our server and finds it Connected. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { suiteClaudeCli } from "./helpers/claude-cli.ts";
import { ROOT } from "./helpers/env.ts";

describe("Claude Code CLI", () => {
  const cli = suiteClaudeCli();
  const claude = (...args: string[]) => cli.run(...args);

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
