/** Model-facing text for tool results: short, plain, one fact per line. */
import { ago } from "./ago.ts";
import { frameMessages } from "./envelope.ts";
// Types only: protocol.ts's zod would cost a hook run ~40 ms.
import type { Message, PeerInfo } from "./protocol.ts";
import { oneLine } from "./safe-text.ts";

/** How a send's group is written: "#ui", or "*" for every live session of one host. */
export function groupLabel(group: string): string {
  return group === "*" ? "*" : `#${group}`;
}

export function describePeers(peers: PeerInfo[], scope: string): string {
  if (peers.length === 0) return `No other peers (scope: ${scope}).`;
  // Every field the peer gave is one line: a summary with a line break must not add a fake entry.
  const lines = peers.map((p) => {
    const where = [oneLine(p.cwd), p.git_branch ? `branch ${oneLine(p.git_branch)}` : null].filter(Boolean).join(", ");
    const reach = reachOf(p);
    const host = p.host ? `, host ${oneLine(p.host)}` : "";
    const groups = p.groups.length ? `; in ${p.groups.map((g) => `#${oneLine(g)}`).join(" ")}` : "";
    const edits = describeEdits(p).join("; ");
    return `- ${oneLine(p.name)} (id ${p.id}${host}): ${oneLine(p.summary) || "(no summary)"}\n  ${where}; runs in ${oneLine(p.agent)}; seen ${ago(p.last_seen)}; reachable by ${reach}${groups}${edits ? `\n  ${edits}` : ""}`;
  });
  return `${peers.length} peer${peers.length === 1 ? "" : "s"} (scope: ${scope}):\n${lines.join("\n")}`;
}

/**
 * How a session's mail reaches its model: pushed by channel or by the plugin's monitor, or shown at
 * its next tool call (hooks). A session on another host: its broker keeps that record, so only
 * whether its server holds a push connection there.
 */
function reachOf(p: PeerInfo): string {
  if (p.path === "channel") return "push by channel";
  if (p.path === "monitor") return "push by monitor";
  if (p.path === "hooks") return "at the next tool call";
  return p.push ? "push" : "poll";
}

/** "editing: src/auth.ts, src/db.ts" and "claims: src/api/**": a session's recent edits and claims, when it has any. */
export function describeEdits(p: Pick<PeerInfo, "editing" | "claims">): string[] {
  const list = (items: string[]) => items.map(oneLine).join(", ");
  return [p.editing?.length ? `editing: ${list(p.editing)}` : null, p.claims?.length ? `claims: ${list(p.claims)}` : null].filter((l): l is string => l !== null);
}

export function describeSent(m: Message): string {
  const to = m.to_id ? `${m.to_name} (${m.to_id})` : m.to_name;
  switch (m.state) {
    case "delivered":
      return `Message ${m.id} delivered to ${to}.`;
    case "read":
      return `Message ${m.id} read by ${to}.`;
    case "queued":
      return m.to_id
        ? `Message ${m.id} queued for ${to}: not confirmed yet; it is kept until that session reads it.`
        : `Message ${m.id} queued in ${to}'s mailbox: no session named ${m.to_name} is live; it is delivered when one starts.`;
    case "expired":
      return `Message ${m.id} expired before ${to} read it.`;
    case "retracted":
      return `Message ${m.id} to ${to} is retracted: it will not be shown or returned to them.`;
    case "held":
      return `Message ${m.id} to ${to} is held, not delivered. ${heldNote(m)}`;
    case "discarded":
      return `Message ${m.id} to ${to} was discarded by a person.`;
  }
}

/** A send's (or retraction's) result: one line for one peer; for a group, the copies by state. */
export function describeSendResult({ message: m, copies }: { message: Message; copies?: Message[] }): string {
  const reply = m.reply_by && m.state !== "retracted" ? ` A reply is expected by ${m.reply_by}; if none comes, claude-peers tells you.` : "";
  if (!copies) return describeSent(m) + reply;
  const byState = new Map<string, string[]>();
  for (const c of copies) byState.set(stateLabel(c), [...(byState.get(stateLabel(c)) ?? []), c.to_name]);
  const states = [...byState].map(([state, names]) => `${state} ${names.length} (${names.join(", ")})`).join("; ");
  const group = m.group === "*" ? "every live session here (*)" : groupLabel(m.group ?? "");
  const held = copies.find((c) => c.state === "held");
  return `Message ${m.id} to ${group}: ${copies.length} cop${copies.length === 1 ? "y" : "ies"}; ${states}. retract_message and check_messages(reply_to) take ${m.id} for them all.${held ? ` ${heldNote(held)}` : ""}${reply}`;
}

/** Why a message is held, and what the sender should do: wait for a person, or stop. */
function heldNote(m: Message): string {
  if (m.held_by === "pause") {
    return `A person paused ${m.to_name}: it gets this, in order, when they resume it (bun cli.ts resume ${m.to_name}). Nothing to do; do not resend.`;
  }
  return `You and ${m.to_name} have exchanged many messages with no person in between (a loop?). The user can release it: bun cli.ts release ${m.from_name} ${m.to_name} (in the claude-peers folder). Stop unless the user asked for this; do not answer acknowledgements.`;
}

function stateLabel(m: Message): string {
  return m.state === "queued" && m.to_id === null ? "in mailbox" : m.state;
}

/** check_messages' answer: every message in its envelope (envelope.ts), oldest first. */
export function describeInbox(messages: Message[]): string {
  return frameMessages(messages, { intro: "from other agent sessions, oldest first (now marked read)" }).text;
}

export function unreadFooter(unread: number | undefined): string {
  if (!unread) return "";
  return `\n\n(${unread} unread peer message${unread === 1 ? "" : "s"} waiting: call check_messages.)`;
}
