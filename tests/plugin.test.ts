/**
 * The Claude Code plugin in this repository (.claude-plugin/, hooks/hooks.json, skills/), checked
 * by the real Claude Code CLI (2.1.330, offline, its own config dir): `claude plugin validate`
 * passes with --strict, and `plugin marketplace add` + `plugin install` give a session the MCP
 * server (Connected), the four hooks and the skill.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { HOOK_EVENTS } from "../shared/hook/output.ts";
import { PLUGIN_NAME } from "../shared/hook/run.ts";
import { SERVER_NAME } from "../shared/instructions.ts";
import { suiteClaudeCli } from "./helpers/claude-cli.ts";
import { ROOT } from "./helpers/env.ts";

// Real processes on two cores. Bun applies a default timeout file by file, so each file sets it.
setDefaultTimeout(60_000);

const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), "utf8"));
const MARKETPLACE = readJson(".claude-plugin/marketplace.json").name as string;
const HOOK_COMMAND = 'bun "${CLAUDE_PLUGIN_ROOT}/cli.ts" hook';

describe("Claude Code plugin", () => {
  const cli = suiteClaudeCli();
  const claude = (...args: string[]) => cli.run(...args);

  test("the manifests name what the code expects: plugin peers, server claude-peers, the hook's events", () => {
    const plugin = readJson(".claude-plugin/plugin.json");
    expect(plugin.name).toBe(PLUGIN_NAME);
    expect(plugin.version).toBe(readJson("package.json").version); // Claude Code caches installs by version
    expect(plugin.mcpServers).toEqual({ [SERVER_NAME]: { command: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] } });
    expect(readJson(".claude-plugin/marketplace.json").plugins).toEqual([expect.objectContaining({ name: PLUGIN_NAME, source: "./" })]);
    const hooks = readJson("hooks/hooks.json").hooks as Record<string, Array<{ hooks: Array<{ type: string; command: string }> }>>;
    expect(Object.keys(hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    for (const entries of Object.values(hooks)) expect(entries.flatMap((e) => e.hooks)).toEqual([{ type: "command", command: HOOK_COMMAND, timeout: 5 }] as never);
    // One skill text: the repository's SKILL.md is the plugin's skill.
    expect(realpathSync(join(ROOT, "SKILL.md"))).toBe(realpathSync(join(ROOT, "skills", "claude-peers", "SKILL.md")));
  });

  test.each([
    ["the repository (its marketplace)", "", "marketplace"],
    ["the plugin manifest", ".claude-plugin/plugin.json", "plugin"],
  ])("claude plugin validate --strict on %s passes: no errors, no warnings; it sees the server, the hooks and the skill", async (_, path, type) => {
    const r = await claude("plugin", "validate", "--strict", "--json", join(ROOT, path));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.success).toBe(true);
    expect(report.manifest).toMatchObject({ type, errors: [], warnings: [] });
    expect(report.provides.mcpServers).toEqual([{ name: SERVER_NAME, type: "stdio", target: "bun", args: ["${CLAUDE_PLUGIN_ROOT}/server.ts"] }]);
    expect(report.provides.hooks.map((h: { event: string }) => h.event).sort()).toEqual([...HOOK_EVENTS].sort());
    for (const hook of report.provides.hooks) expect(hook).toMatchObject({ type: "command", command: HOOK_COMMAND });
    expect(report.provides.skills).toEqual([`${PLUGIN_NAME}:claude-peers`]);
  });

  test("marketplace add + install, as README says: the plugin's server is Connected, its hooks and skill are loaded", async () => {
    // The marketplace folder holds the manifests as they are and links the code: a local plugin
    // is read in place, but install also copies its folder, and a checkout's node_modules is
    // ~470 MB (the Claude Code binary among it) that this test need not copy each run.
    const market = join(cli.t.dir, "marketplace");
    mkdirSync(market);
    for (const dir of [".claude-plugin", "hooks", "skills"]) cpSync(join(ROOT, dir), join(market, dir), { recursive: true, dereference: true });
    for (const entry of ["server.ts", "cli.ts", "shared", "package.json", "node_modules"]) symlinkSync(join(ROOT, entry), join(market, entry));

    const add = await claude("plugin", "marketplace", "add", market);
    expect(add.out).toContain(`Successfully added marketplace: ${MARKETPLACE}`);
    expect(add.code).toBe(0);
    const install = await claude("plugin", "install", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.out).toContain(`Successfully installed plugin: ${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(install.code).toBe(0);

    // `claude mcp list` exits 0 even when a server fails: the verdict is in the text.
    const list = await claude("mcp", "list");
    expect(list.out).toContain(`plugin:${PLUGIN_NAME}:${SERVER_NAME}: bun ${market}/server.ts - ✔ Connected`);
    expect(list.out).not.toMatch(/Failed/);

    const details = await claude("plugin", "details", `${PLUGIN_NAME}@${MARKETPLACE}`);
    expect(details.code).toBe(0);
    expect(details.out).toMatch(/Hooks \(4\)\s+SessionStart, UserPromptSubmit, PostToolUse, Stop/);
    expect(details.out).toMatch(/Skills \(1\)\s+claude-peers/);
    expect(details.out).toMatch(new RegExp(`MCP servers \\(1\\)\\s+${SERVER_NAME}`));
  });
});
