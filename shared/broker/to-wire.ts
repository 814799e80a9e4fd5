/**
 * Store rows as the wire shapes of protocol.ts. Both use the column names, so the only change is
 * ms → ISO 8601 times, and leaving out what stays in the broker (seq, expiry, send keys, secrets).
 */
import type { Message, PeerInfo } from "../protocol.ts";
import type { MessageRow, PeerRow } from "../store/store.ts";

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function toWireMessage(m: MessageRow): Message {
  const { seq: _seq, expires_at: _expires, send_key: _key, created_at, delivered_at, read_at, ...rest } = m;
  return { ...rest, sent_at: iso(created_at), delivered_at: isoOrNull(delivered_at), read_at: isoOrNull(read_at) };
}

/** `seenAt`: the live entry's last sign of life, which is newer than the row's last_seen. */
export function toWirePeer(p: PeerRow, push: boolean, seenAt: number): PeerInfo {
  const { id, name, summary, pid, cwd, git_root, git_branch, host } = p; // never the secret hash
  return { id, name, summary, pid, cwd, git_root, git_branch, host, registered_at: iso(p.registered_at), last_seen: iso(seenAt), push };
}
