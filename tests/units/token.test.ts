/** The token file: created once, 0600, agreed on by racing processes, refused when damaged. */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadOrCreateToken } from "../../shared/token.ts";
import { ROOT } from "../helpers/env.ts";
import { thrown } from "../helpers/wait.ts";
import { tempDir } from "../helpers/temp-dir.ts";

describe("loadOrCreateToken", () => {
  const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,128}$/;

  test("creates a 0600 token once and returns the same one after", () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "peers.db.token");
    const previous = process.umask(0); // a wide umask must not widen the file
    let token: string;
    try {
      token = loadOrCreateToken(path);
    } finally {
      process.umask(previous);
    }
    expect(token).toMatch(TOKEN_SHAPE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8").trim()).toBe(token);
    expect(loadOrCreateToken(path)).toBe(token);
    expect(readdirSync(tmp.dir)).toEqual(["peers.db.token"]);
  });

  test("an existing token file left readable by others is tightened to 0600", () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "t.token");
    const token = loadOrCreateToken(path);
    chmodSync(path, 0o644);
    expect(loadOrCreateToken(path)).toBe(token);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("eight processes creating it at once all agree on one token", async () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "race.token");
    const ready = join(tmp.dir, "ready");
    mkdirSync(ready);
    // A barrier, not a moment on the clock: each process says it is up, then waits until all eight
    // are, so all of them are running when they race (a late starter on a busy machine cannot miss it).
    const code = `import { loadOrCreateToken } from ${JSON.stringify(join(ROOT, "shared/token.ts"))};
      import { readdirSync, writeFileSync } from "node:fs";
      writeFileSync(${JSON.stringify(ready)} + "/" + process.pid, "");
      while (readdirSync(${JSON.stringify(ready)}).length < 8) {}
      process.stdout.write(loadOrCreateToken(${JSON.stringify(path)}));`;
    const procs = Array.from({ length: 8 }, () => Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } }));
    const outputs = await Promise.all(procs.map(async (p) => ({ out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text(), code: await p.exited })));
    for (const o of outputs) expect(o).toMatchObject({ code: 0, err: "" });
    expect(readdirSync(ready)).toHaveLength(8); // every process passed the barrier with all eight up
    const tokens = new Set(outputs.map((o) => o.out));
    expect(tokens.size).toBe(1);
    expect([...tokens][0]).toBe(readFileSync(path, "utf8").trim());
    expect(readdirSync(tmp.dir).sort()).toEqual(["race.token", "ready"]); // no temp files left behind
  });

  test.each([
    ["empty", ""],
    ["too short", "abc\n"],
    ["not a token", "this is not a token, it has spaces and commas\n"],
    ["binary", "\u0000\u0001\u0002".repeat(20)],
  ])("a damaged (%s) file is a clear error and is left as it is", async (_, content) => {
    using tmp = tempDir();
    const path = join(tmp.dir, "bad.token");
    writeFileSync(path, content, { mode: 0o600 });
    const err = await thrown(() => loadOrCreateToken(path));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/damaged/);
    expect(readFileSync(path, "utf8")).toBe(content);
  });
});
