/**
 * Whether a Claude Code process was started with channel push for claude-peers, read from its
 * command line: then its messages arrive as <channel> notifications. The hook stays quiet there
 * (it would show each message twice), and the server stops counting pushed mail as unread.
 */
import type { Ancestor } from "./ancestry.ts";
import { SERVER_NAME } from "./instructions.ts";

/** The plugin's name in .claude-plugin/plugin.json: channel flags name it plugin:peers@<marketplace>. */
export const PLUGIN_NAME = "peers";
/** Claude Code runs hook commands through a shell and may run a server through a wrapper: it is within this many ancestors. */
export const CLAUDE_WITHIN = 3;

/** Which registration of claude-peers a process belongs to: the plugin's (`plugin:peers@…`) or `claude mcp add`'s (`server:claude-peers`). */
export type Registration = "plugin" | "server";

/**
 * The registration of the server, hook or monitor running with `env`: Claude Code gives a plugin's
 * MCP servers, hooks and monitors CLAUDE_PLUGIN_ROOT (2.1.332), and nothing else of ours.
 */
export function registrationOf(env: Record<string, string | undefined>): Registration {
  return env.CLAUDE_PLUGIN_ROOT ? "plugin" : "server";
}

/**
 * `--channels` or `--dangerously-load-development-channels` naming server:claude-peers or
 * plugin:peers@…; given a registration, only the flag that names it (Claude Code pushes a
 * channel only from the registration the flag names: the other one's notifications are dropped).
 */
export function channelsRequested(command: string, registration?: Registration): boolean {
  const words = command.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const flag = /^--(?:dangerously-load-development-channels|channels)(?:=(.*))?$/.exec(words[i]!);
    if (!flag) continue;
    // The flag's values: `--flag=a,b`, or the words after it up to the next option (it takes several).
    const values = flag[1] !== undefined ? [flag[1]] : takeWhile(words.slice(i + 1), (w) => !w.startsWith("-"));
    const names = (ref: string) => (registration !== "plugin" && ref === `server:${SERVER_NAME}`) || (registration !== "server" && ref.startsWith(`plugin:${PLUGIN_NAME}@`));
    if (values.flatMap((v) => v.split(",")).some(names)) return true;
  }
  return false;
}

function takeWhile<T>(items: readonly T[], keep: (item: T) => boolean): T[] {
  const end = items.findIndex((item) => !keep(item));
  return end < 0 ? [...items] : items.slice(0, end);
}

/** Whether the Claude Code above (claudeAbove) was started with channel push for claude-peers. */
export async function channelsRequestedAbove(ancestors: readonly Ancestor[], registration?: Registration): Promise<boolean> {
  for (const command of await claudeAbove(ancestors)) if (channelsRequested(command, registration)) return true;
  return false;
}

/**
 * The command line of the Claude Code above this process: the nearest of the CLAUDE_WITHIN
 * ancestors whose program is named like Claude Code (`claude`, npm's `…/claude-code/cli.js`), so
 * a Claude Code started inside another one's shell reads as itself. None of them is: all of them.
 */
export async function claudeAbove(ancestors: readonly Ancestor[]): Promise<string[]> {
  const commands = await Promise.all(ancestors.slice(0, CLAUDE_WITHIN).map((a) => a.command()));
  const claude = commands.find((command) => command.split(/\s+/).slice(0, 2).some((word) => /claude/i.test(word.split("/").pop() ?? "") || word.includes("claude-code/")));
  return claude !== undefined ? [claude] : commands;
}
