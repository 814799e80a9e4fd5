/**
 * README's quick start on a fresh clone of this repository's HEAD: `bun install` fetches only what
 * runs (at most 100 MB of node_modules, by `du`, with none of the test tools), and `bun run demo`
 * then works. The test tools live in tests/package.json, pinned, and the test command installs
 * them from their own lockfile, frozen.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./helpers/env.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { tempDir } from "./helpers/temp-dir.ts";

/** The quick start's promise (issue 25): someone trying the demo does not wait for a gigabyte. */
const MAX_QUICK_START_MB = 100;
/** The bun cache this repository's own `bun install` filled: the clone installs from it. */
const BUN_CACHE = process.env.BUN_INSTALL_CACHE_DIR || join(homedir(), ".bun", "install", "cache");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

describe("the quick start on a fresh clone", () => {
  test("bun install stays under 100 MB and brings no test tool; bun run demo works", async () => {
    using tmp = tempDir();
    const clone = join(tmp.dir, "claude-peers");
    expect(Bun.spawnSync(["git", "clone", "-q", ROOT, clone]).exitCode).toBe(0);
    const env = { HOME: join(tmp.dir), PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, BUN_INSTALL_CACHE_DIR: BUN_CACHE };
    const install = await runToEnd([process.execPath, "install"], env, clone);
    expect(install.stderr).not.toContain("error:");
    expect(install.code).toBe(0);

    const du = Bun.spawnSync(["du", "-sk", join(clone, "node_modules")]);
    const mb = Number(du.stdout.toString().split("\t")[0]) / 1024;
    console.log(`quick start: node_modules ${mb.toFixed(1)} MB by du`);
    expect(mb).toBeGreaterThan(0);
    expect(mb).toBeLessThanOrEqual(MAX_QUICK_START_MB);
    for (const tool of ["claude", "codex", "gemini", "tsc"]) expect(existsSync(join(clone, "node_modules", ".bin", tool))).toBe(false);
    expect(existsSync(join(clone, "tests", "node_modules"))).toBe(false);

    const demo = await runToEnd([process.execPath, "run", "demo"], env, clone);
    expect(demo.stderr).not.toContain("error");
    expect(demo.stdout).toContain("Done: every message was stored");
    expect(demo.code).toBe(0);
  });

  test("the test tools are pinned in tests/package.json, and the test command installs them from its lockfile, frozen", () => {
    const tools = readJson(join(ROOT, "tests", "package.json"));
    const pinned = { ...tools.dependencies, ...tools.devDependencies } as Record<string, string>;
    expect(Object.keys(pinned)).toEqual(expect.arrayContaining(["@anthropic-ai/claude-code", "@openai/codex", "@google/gemini-cli", "playwright-core", "fast-check"]));
    for (const [name, version] of Object.entries(pinned)) expect(`${name}@${version}`).toMatch(/@\d+\.\d+\.\d+$/);
    expect(existsSync(join(ROOT, "tests", "bun.lock"))).toBe(true);
    const root = readJson(join(ROOT, "package.json"));
    for (const name of Object.keys(pinned)) expect({ ...root.dependencies, ...root.devDependencies }).not.toHaveProperty([name]);
    expect(root.scripts.test).toBe("bun install --cwd tests --frozen-lockfile && bun test --timeout 60000");
  });
});
