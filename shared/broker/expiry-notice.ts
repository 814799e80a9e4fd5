/**
 * What a sender is told when its mail expires undelivered: one notice per sender per prune, from
 * claude-peers itself, naming each message, its recipient and why it never reached them.
 */
import type { MessageRow } from "../store/store.ts";

export interface ExpiryNotice {
  /** The sender's peer id. */
  to: string;
  text: string;
  /** The first of its messages that expired: the notice is a reply to it. */
  in_reply_to: string;
}

/**
 * The notices for `rows` (expired messages, oldest first), grouped by sender. Mail that was
 * delivered (written to its recipient's Claude) and only never marked read is not news to its
 * sender: channel-pushed mail often stays so. `untold` are the sender ids with nobody to tell (a
 * person at a terminal, claude-peers itself).
 */
export function expiryNotices(rows: readonly MessageRow[], untold: ReadonlySet<string>): ExpiryNotice[] {
  const bySender = new Map<string, MessageRow[]>();
  for (const row of rows) {
    if (untold.has(row.from_id) || row.delivered_at !== null) continue;
    bySender.set(row.from_id, [...(bySender.get(row.from_id) ?? []), row]);
  }
  return [...bySender].map(([to, mine]) => {
    const lines = mine.map((m) => `${m.id} to ${m.to_name}: ${why(m)}`);
    const text =
      mine.length === 1
        ? `Message ${lines[0]}. It expired and was not delivered; send it again if it still matters.`
        : `${mine.length} of your messages expired and were not delivered; send again what still matters:\n${lines.map((l) => `- ${l}`).join("\n")}`;
    return { to, text, in_reply_to: mine[0]!.id };
  });
}

/** Why a message never reached its recipient, as its expired row still says. */
function why(m: MessageRow): string {
  if (m.held_by === "pause") return `held while ${m.to_name}'s mail was paused, and not resumed in time`;
  if (m.held_by === "pair") return "held as a possible loop, and not released by a person in time";
  return m.to_id === null ? `no session named ${m.to_name} started in time` : `${m.to_name} did not pick it up in time`;
}
