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

/** `--channels` or `--dangerously-load-development-channels` naming server:claude-peers or plugin:peers@…. */
export function channelsRequested(command: string): boolean {
  const words = command.split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    const flag = /^--(?:dangerously-load-development-channels|channels)(?:=(.*))?$/.exec(words[i]!);
    if (!flag) continue;
    // The flag's values: `--flag=a,b`, or the words after it up to the next option (it takes several).
    const values = flag[1] !== undefined ? [flag[1]] : takeWhile(words.slice(i + 1), (w) => !w.startsWith("-"));
    if (values.flatMap((v) => v.split(",")).some((ref) => ref === `server:${SERVER_NAME}` || ref.startsWith(`plugin:${PLUGIN_NAME}@`))) return true;
  }
  return false;
}

function takeWhile<T>(items: readonly T[], keep: (item: T) => boolean): T[] {
  const end = items.findIndex((item) => !keep(item));
  return end < 0 ? [...items] : items.slice(0, end);
}

/** Whether the Claude Code above (claudeAbove) was started with channel push for claude-peers. */
export async function channelsRequestedAbove(ancestors: readonly Ancestor[]): Promise<boolean> {
  for (const command of await claudeAbove(ancestors)) if (channelsRequested(command)) return true;
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
