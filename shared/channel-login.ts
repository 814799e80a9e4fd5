/**
 * Whether Claude Code will show channel push at all: the flag is not enough. Read from the
 * 2.1.332 binary (its channels notice): with Bedrock, Vertex or Foundry it says "Channels are not
 * available on third-party providers", and without a claude.ai login (an API key) "Channels are
 * not currently available"; either way it drops every push, silently. Where this says no, the
 * monitor or the hooks deliver, even in a session started with the flag. Zod-free: hooks use it.
 *
 * The login is read from Claude Code's environment (its hooks, monitor and servers inherit it)
 * and its config folder (CLAUDE_CONFIG_DIR, else ~/.claude): no third-party switch, no API key in
 * the environment or the config, and a claude.ai credential (CLAUDE_CODE_OAUTH_TOKEN, or
 * .credentials.json holding claudeAiOauth; on macOS the Keychain holds it, so there a missing
 * file still counts as logged in). A Team or Enterprise plan needs its org's managed settings to
 * turn channels on (channelsEnabled), as Claude Code does.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { Ancestor } from "./ancestry.ts";
import { readOr } from "./ancestry.ts";
import { channelsRequestedAbove, registrationOf } from "./channel-flag.ts";

type Env = Record<string, string | undefined>;

const THIRD_PARTY = ["CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"];

function truthy(value: string | undefined): boolean {
  return value !== undefined && !["", "0", "false", "no", "off"].includes(value.trim().toLowerCase());
}

/** Whether Claude Code's login (from `env` and its config folder) is a claude.ai login, the one channels work with. */
export async function channelsLogin(env: Env = process.env, home = env.HOME || homedir(), platform: string = process.platform, managedPath = managedSettingsPath(platform)): Promise<boolean> {
  if (THIRD_PARTY.some((name) => truthy(env[name]))) return false;
  if (env.ANTHROPIC_API_KEY?.trim() || env.ANTHROPIC_AUTH_TOKEN?.trim()) return false;
  if (env.CLAUDE_CODE_OAUTH_TOKEN?.trim()) return true;
  const configDir = env.CLAUDE_CONFIG_DIR?.trim() || join(home, ".claude");
  // An API key kept by /login (primaryApiKey) or a settings apiKeyHelper: not claude.ai.
  const [state, settings, credentials] = await Promise.all([
    readOr(env.CLAUDE_CONFIG_DIR?.trim() ? join(configDir, ".claude.json") : join(home, ".claude.json")),
    readOr(join(configDir, "settings.json")),
    readOr(join(configDir, ".credentials.json")),
  ]);
  if (hasKey(state, "primaryApiKey") || hasKey(settings, "apiKeyHelper")) return false;
  if (credentials !== undefined && !hasKey(credentials, "claudeAiOauth")) return false;
  if (credentials === undefined && platform !== "darwin") return false;
  // claude.ai Team and Enterprise: channels are off unless the org's managed settings turn them on
  // (2.1.332: "channels not enabled by org policy (set channelsEnabled: true in managed settings)").
  // Settings an org serves from its server cannot be read here: then the monitor or hooks deliver.
  if (!ORG_PLANS.has(subscriptionOf(credentials))) return true;
  return jsonField(await readOr(managedPath), "channelsEnabled") === true;
}

const ORG_PLANS: ReadonlySet<unknown> = new Set(["team", "enterprise"]);

/** Where an administrator's managed-settings.json is (Claude Code's paths on Linux and macOS). */
export function managedSettingsPath(platform: string = process.platform): string {
  return platform === "darwin" ? "/Library/Application Support/ClaudeCode/managed-settings.json" : "/etc/claude-code/managed-settings.json";
}

/** The claude.ai plan in .credentials.json (claudeAiOauth.subscriptionType: pro, max, team, enterprise). */
function subscriptionOf(credentials: string | undefined): unknown {
  const oauth = jsonField(credentials, "claudeAiOauth");
  return typeof oauth === "object" && oauth !== null ? (oauth as Record<string, unknown>).subscriptionType : undefined;
}

/** Whether the JSON text has a non-empty top-level `key`; unreadable JSON has none. */
function hasKey(text: string | undefined, key: string): boolean {
  return Boolean(jsonField(text, key));
}

/** A top-level field of the JSON text; undefined when the text is missing or not a JSON object. */
function jsonField(text: string | undefined, key: string): unknown {
  if (!text) return undefined;
  try {
    const data: unknown = JSON.parse(text);
    return typeof data === "object" && data !== null ? (data as Record<string, unknown>)[key] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the Claude Code above was started with channel push for this registration of
 * claude-peers (registrationOf `env`) and will show it (a claude.ai login).
 */
export async function channelsShownAbove(ancestors: readonly Ancestor[], env: Env = process.env): Promise<boolean> {
  return (await channelsRequestedAbove(ancestors, registrationOf(env))) && (await channelsLogin(env));
}
