/** channelsLogin: whether Claude Code shows channel push at all, read from its environment and config folder. */
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { channelsLogin } from "../../shared/channel-login.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const OAUTH = JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-x" } });

test.each([
  // [case, env, files under HOME (".claude/…" or ".claude.json"), platform, expected]
  ["a claude.ai login in .credentials.json", {}, { ".claude/.credentials.json": OAUTH }, "linux", true],
  ["CLAUDE_CODE_OAUTH_TOKEN", { CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-x" }, {}, "linux", true],
  ["an API key in the environment, even beside a claude.ai login", { ANTHROPIC_API_KEY: "sk-ant-api03-x" }, { ".claude/.credentials.json": OAUTH }, "linux", false],
  ["ANTHROPIC_AUTH_TOKEN", { ANTHROPIC_AUTH_TOKEN: "t" }, {}, "linux", false],
  ["Bedrock", { CLAUDE_CODE_USE_BEDROCK: "1", CLAUDE_CODE_OAUTH_TOKEN: "x" }, {}, "linux", false],
  ["Vertex", { CLAUDE_CODE_USE_VERTEX: "true" }, { ".claude/.credentials.json": OAUTH }, "linux", false],
  ["CLAUDE_CODE_USE_BEDROCK=0 is off", { CLAUDE_CODE_USE_BEDROCK: "0" }, { ".claude/.credentials.json": OAUTH }, "linux", true],
  ["an API key kept by /login (primaryApiKey)", {}, { ".claude.json": JSON.stringify({ primaryApiKey: "sk" }), ".claude/.credentials.json": OAUTH }, "linux", false],
  ["a settings apiKeyHelper", {}, { ".claude/settings.json": JSON.stringify({ apiKeyHelper: "echo k" }) }, "linux", false],
  ["no login at all on Linux", {}, {}, "linux", false],
  ["no credentials file on macOS (the Keychain holds it)", {}, {}, "darwin", true],
  ["a credentials file without claudeAiOauth", {}, { ".claude/.credentials.json": "{}" }, "linux", false],
  ["CLAUDE_CONFIG_DIR is where Claude Code keeps them", { CLAUDE_CONFIG_DIR: "cfg" }, { "cfg/.credentials.json": OAUTH }, "linux", true],
] as const)("%s: %p", async (_, env, files, platform, expected) => {
  using tmp = tempDir();
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(tmp.dir, path, ".."), { recursive: true });
    writeFileSync(join(tmp.dir, path), text);
  }
  const resolved = "CLAUDE_CONFIG_DIR" in env ? { ...env, CLAUDE_CONFIG_DIR: join(tmp.dir, env.CLAUDE_CONFIG_DIR) } : env;
  expect(await channelsLogin({ ...resolved, HOME: tmp.dir }, tmp.dir, platform)).toBe(expected);
});

test.each([
  // [plan in .credentials.json, managed-settings.json (null: none), expected]
  ["max", null, true],
  ["team", null, false],
  ["enterprise", JSON.stringify({ channelsEnabled: false }), false],
  ["team", JSON.stringify({ channelsEnabled: true }), true],
  ["enterprise", "not json", false],
] as const)("a claude.ai %s plan with managed settings %p: %p (Team and Enterprise need their org to turn channels on)", async (plan, managed, expected) => {
  using tmp = tempDir();
  mkdirSync(join(tmp.dir, ".claude"), { recursive: true });
  writeFileSync(join(tmp.dir, ".claude/.credentials.json"), JSON.stringify({ claudeAiOauth: { accessToken: "sk-ant-oat01-x", subscriptionType: plan } }));
  const managedPath = join(tmp.dir, "managed-settings.json");
  if (managed !== null) writeFileSync(managedPath, managed);
  expect(await channelsLogin({ HOME: tmp.dir }, tmp.dir, "linux", managedPath)).toBe(expected);
});
