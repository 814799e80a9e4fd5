/**
 * Turns broker answers into short, safe text for a terminal: times, paths, one-line message text.
 * Every field a peer gave (names, summaries, folders, branches, message text) is printed through
 * safe-text.ts oneLine, here or in table.ts: ESC, OSC 52 and line breaks never reach the terminal raw.
 */
import { styleText } from "node:util";
import type { BrokerFrame, Message } from "../protocol.ts";
import { oneLine } from "../safe-text.ts";
import { groupLabel } from "../tool-text.ts";
import { truncate } from "./table.ts";

export type Paint = (format: Parameters<typeof styleText>[0], text: string) => string;

/** Colours only when asked (stdout is a TTY), so pipes and tests get plain text. */
export function makePaint(color: boolean): Paint {
  return color ? (format, text) => styleText(format, text, { validateStream: false }) : (_format, text) => text;
}

/** "42s", "5m 3s", "2h 5m", "3d 4h". */
export function duration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const [d, h, m] = [Math.floor(s / 86_400), Math.floor((s % 86_400) / 3600), Math.floor((s % 3600) / 60)];
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Local "HH:MM:SS" for today, "YYYY-MM-DD HH:MM" for older times. */
export function clock(iso: string, now: number): string {
  const t = new Date(iso);
  const today = new Date(now);
  const time = `${pad2(t.getHours())}:${pad2(t.getMinutes())}`;
  if (t.toDateString() === today.toDateString()) return `${time}:${pad2(t.getSeconds())}`;
  return `${t.getFullYear()}-${pad2(t.getMonth() + 1)}-${pad2(t.getDate())} ${time}`;
}

/** "/home/me/src/app" → "~/src/app". */
export function shortenHome(path: string, home: string): string {
  if (!home || home === "/") return path;
  if (path === home) return "~";
  return path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

/** The state a person cares about: "mailbox" is mail for a name with no live session yet. */
export function deliveryLabel(m: Message): string {
  if (m.state === "held") return m.held_by === "pause" ? "held (paused)" : "held (loop)";
  return m.state === "queued" && m.to_id === null ? "mailbox" : m.state;
}

/** "api", or "api (#ui)" for a group send's copy. */
export function recipientLabel(m: Message): string {
  return m.group ? `${m.to_name} (${groupLabel(m.group)})` : m.to_name;
}

/** What `send` prints once the broker accepted a message: a line, or for a group a line per copy. */
export function describeSent(m: Message, copies?: Message[]): string {
  if (copies) {
    const lines = copies.map((c) => `  ${c.id}  ${oneLine(c.to_name)}: ${deliveryLabel(c)}`);
    return [`sent ${m.id} to ${groupLabel(m.group ?? "")}: ${copies.length} ${copies.length === 1 ? "copy" : "copies"}`, ...lines].join("\n");
  }
  const name = oneLine(m.to_name);
  const to = m.to_id ? `${name} (${m.to_id})` : name;
  const note: Record<string, string> = {
    mailbox: `: waiting in the mailbox of ${name} until a session with that name starts`,
    queued: `: ${name} has not confirmed it yet; it gets it when its session next connects or polls (if that session has ended, the next session named ${name} gets it)`,
  };
  return `sent ${m.id} to ${to}: ${deliveryLabel(m)}${note[deliveryLabel(m)] ?? ""}`;
}

type BrokerEventName = Extract<BrokerFrame, { type: "event" }>["event"];

const EVENT_WIDTH = "delivered".length;
const EVENT_TEXT_MAX = 100;
const EVENT_COLOR: Record<BrokerEventName, Parameters<Paint>[0]> = {
  sent: "cyan",
  delivered: "green",
  read: "dim",
  retracted: "yellow",
  released: "magenta",
  expired: "dim",
  joined: "green",
  left: "yellow",
  summary: "dim",
  paused: "magenta",
  resumed: "magenta",
};

/** An awaited reply's state: "reply awaiting until 12:10:00", "reply answered", "reply overdue". */
export function replyLabel(m: Message): string {
  return m.reply_status === "awaiting" && m.reply_by ? `reply awaiting until ${m.reply_by.slice(11, 19)}` : `reply ${m.reply_status}`;
}

/** One line per watch event: "12:00:01  sent       m-…  cli -> bob  hello". */
export function eventLine(frame: BrokerFrame, now: number, home: string, paint: Paint): string | null {
  if (frame.type !== "event") return null;
  const time = clock(new Date(now).toISOString(), now);
  const name = paint(EVENT_COLOR[frame.event], frame.event.padEnd(EVENT_WIDTH));
  const parts: string[] = [];
  if (frame.message) {
    const m = frame.message;
    parts.push(m.id, `${m.from_name} -> ${recipientLabel(m)}`);
    if (frame.event === "released" || m.state === "held") parts.push(m.state);
    if (m.reply_status) parts.push(replyLabel(m));
    if (frame.event === "sent") parts.push(truncate(oneLine(m.text), EVENT_TEXT_MAX));
  } else if (frame.peer) {
    const p = frame.peer;
    parts.push(`${p.name} (${p.id})`, frame.event === "summary" ? truncate(oneLine(p.summary), EVENT_TEXT_MAX) : shortenHome(p.cwd, home));
  } else if (frame.name) {
    parts.push(frame.name, frame.event === "paused" ? "inbound mail held until resumed" : "inbound mail flows again");
  }
  // Every part here holds what a peer gave: one line, control characters written visibly.
  return [time, name, ...parts.map(oneLine)].join("  ");
}
