/** The rows both SQL stores read (snake_case, as in their schemas) and how they become store rows. */
import type { MessageState } from "../protocol.ts";
import type { MessageRow, PeerRow } from "./store.ts";

export interface PeerRecord {
  id: string;
  secret_hash: string;
  name: string;
  pid: number;
  parent_pid: number | null;
  cwd: string;
  git_root: string | null;
  git_common_dir: string | null;
  git_branch: string | null;
  repo_key: string | null;
  host: string;
  summary: string;
  registered_at: number;
  last_seen: number;
}

export interface MessageRecord {
  seq: number;
  id: string;
  from_id: string;
  from_name: string;
  from_summary: string;
  from_cwd: string;
  to_id: string | null;
  to_name: string;
  text: string;
  in_reply_to: string | null;
  state: MessageState;
  created_at: number;
  delivered_at: number | null;
  read_at: number | null;
  expires_at: number;
}

export const toPeer = (r: PeerRecord): PeerRow => ({
  id: r.id,
  secretHash: r.secret_hash,
  name: r.name,
  pid: r.pid,
  parentPid: r.parent_pid,
  cwd: r.cwd,
  gitRoot: r.git_root,
  gitCommonDir: r.git_common_dir,
  gitBranch: r.git_branch,
  repoKey: r.repo_key,
  host: r.host,
  summary: r.summary,
  registeredAt: r.registered_at,
  lastSeen: r.last_seen,
});

export const toMessage = (r: MessageRecord): MessageRow => ({
  seq: r.seq,
  id: r.id,
  fromId: r.from_id,
  fromName: r.from_name,
  fromSummary: r.from_summary,
  fromCwd: r.from_cwd,
  toId: r.to_id,
  toName: r.to_name,
  text: r.text,
  inReplyTo: r.in_reply_to,
  state: r.state,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
  readAt: r.read_at,
  expiresAt: r.expires_at,
});
