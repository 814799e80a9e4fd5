/** Converts store rows into the wire shapes of protocol.ts. */
import type { Message, PeerInfo } from "../protocol.ts";
import type { MessageRow, PeerRow } from "../store/store.ts";

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function toWireMessage(m: MessageRow): Message {
  return {
    id: m.id,
    from_id: m.fromId,
    from_name: m.fromName,
    from_summary: m.fromSummary,
    from_cwd: m.fromCwd,
    to_id: m.toId,
    to_name: m.toName,
    text: m.text,
    in_reply_to: m.inReplyTo,
    state: m.state,
    sent_at: iso(m.createdAt),
    delivered_at: isoOrNull(m.deliveredAt),
    read_at: isoOrNull(m.readAt),
  } satisfies Message;
}

export function toWirePeer(p: PeerRow, push: boolean, lastSeen: number): PeerInfo {
  return {
    id: p.id,
    name: p.name,
    summary: p.summary,
    pid: p.pid,
    cwd: p.cwd,
    git_root: p.gitRoot,
    git_branch: p.gitBranch,
    host: p.host,
    registered_at: iso(p.registeredAt),
    last_seen: iso(lastSeen),
    push,
  } satisfies PeerInfo;
}
