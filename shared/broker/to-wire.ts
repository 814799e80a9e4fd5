/**
 * Store rows as the wire shapes of protocol.ts. Both use the column names, so the only change is
 * ms → ISO 8601 times, and picking the wire's fields (seq, expiry, send keys and secrets stay here).
 */
import type { Message, PeerInfo } from "../protocol.ts";
import type { MessageRow, PeerRow } from "../store/store.ts";

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function toWireMessage(m: MessageRow): Message {
  // The wire's fields by name: a column added to the table stays in the broker until listed here.
  const { id, from_id, from_name, from_summary, from_cwd, to_id, to_name, text, in_reply_to, state } = m;
  return {
    id,
    from_id,
    from_name,
    from_summary,
    from_cwd,
    to_id,
    to_name,
    text,
    in_reply_to,
    state,
    sent_at: iso(m.created_at),
    delivered_at: isoOrNull(m.delivered_at),
    read_at: isoOrNull(m.read_at),
    reply_by: isoOrNull(m.reply_by),
    reply_status: m.reply_status,
    replaces: m.replaces,
    group: m.to_group,
    fanout_id: m.fanout_id,
    held_by: m.held_by,
  };
}

/**
 * `seenAt`: the live entry's last sign of life, which is newer than the row's last_seen. Groups live
 * in their own table: the routes that show peers fill them in (Groups.withGroups).
 */
export function toWirePeer(p: PeerRow, push: boolean, seenAt: number): PeerInfo {
  const { id, name, summary, pid, cwd, git_root, git_branch, host, agent } = p; // never the secret hash
  return { id, name, summary, pid, cwd, git_root, git_branch, host, agent, registered_at: iso(p.registered_at), last_seen: iso(seenAt), push, groups: [] };
}
