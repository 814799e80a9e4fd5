/**
 * The hooks table Claude Code, Codex CLI and Gemini CLI share in their JSON configs:
 * `{ "<Event>": [ { "matcher"?: …, "hooks": [ { "type": "command", "command": … } ] } ] }`.
 * claude-peers' groups are appended after the user's and found again by their command.
 */
import { CliError } from "../errors.ts";

export interface HookHandler {
  type: "command";
  command: string;
  [key: string]: unknown;
}
export interface HookGroup {
  matcher?: string;
  hooks: HookHandler[];
}
export type HooksTable = Record<string, unknown[]>;

/** `bun …/cli.ts hook` (or `hook --wait`, `hook --edits`), however it was quoted or prefixed (the plugin's shell test). */
export function isOurHookCommand(command: unknown): boolean {
  return typeof command === "string" && /cli\.ts['"]? hook( --wait| --edits)?$/.test(command.trim());
}

function isOurGroup(group: unknown): boolean {
  const hooks = (group as { hooks?: unknown })?.hooks;
  return Array.isArray(hooks) && hooks.length > 0 && hooks.every((h) => isOurHookCommand((h as { command?: unknown })?.command));
}

/** The `hooks` value of a config, checked: an object of arrays (or absent). `file` names it in the error. */
export function hooksTable(value: unknown, file: string, key = "hooks"): HooksTable {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError("bad_config", `${file}: "${key}" is not an object of hook events; fix it, then run this again (nothing was changed)`);
  }
  for (const [event, groups] of Object.entries(value)) {
    if (!Array.isArray(groups))
      throw new CliError("bad_config", `${file}: "${key}.${event}" is not a list of hook groups; fix it, then run this again (nothing was changed)`);
  }
  return value as HooksTable;
}

/** The table without claude-peers' groups (an event left empty is dropped). */
export function withoutOurHooks(table: HooksTable): HooksTable {
  const out: HooksTable = {};
  for (const [event, groups] of Object.entries(table)) {
    const kept = groups.filter((g) => !isOurGroup(g));
    if (kept.length > 0 || groups.length === 0) out[event] = kept;
  }
  return out;
}

/**
 * The table with claude-peers' groups last under each of `ours`' events (one group, or several: the
 * mail hook and the edit hook); returns where each event's first one landed (Codex trusts hooks by index).
 */
export function withOurHooks(table: HooksTable, ours: Record<string, HookGroup | HookGroup[]>): { table: HooksTable; index: Record<string, number> } {
  const out = withoutOurHooks(table);
  const index: Record<string, number> = {};
  for (const [event, group] of Object.entries(ours)) {
    const groups = [...(out[event] ?? [])];
    index[event] = groups.length;
    groups.push(...(Array.isArray(group) ? group : [group]));
    out[event] = groups;
  }
  return { table: out, index };
}

/** Parses a JSON config that must be an object; `null` text (no file) is `{}`. */
export function parseJsonObject(text: string | null, file: string, hint = ""): Record<string, unknown> {
  if (text === null || text.trim() === "") return {};
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CliError("bad_config", `${file} is not valid JSON (${(err as Error).message})${hint}; fix it, then run this again (nothing was changed)`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new CliError("bad_config", `${file} does not hold a JSON object; fix it, then run this again (nothing was changed)`);
  }
  return data as Record<string, unknown>;
}

/** A JSON config's new text: unchanged (byte for byte) when it means the same as before. */
export function jsonText(before: string | null, data: Record<string, unknown>): string {
  if (before !== null && before.trim() !== "" && Bun.deepEquals(JSON.parse(before), data, true)) return before;
  return `${JSON.stringify(data, null, 2)}\n`;
}
