/** The broker's storage contract: one async interface, one file per backend (SQLite now, Postgres next). */
import type { MessageState } from "../protocol.ts";

export interface PeerRow {
  id: string;
  secretHash: string;
  name: string;
  pid: number;
  /** The server's parent (Claude Code); null for servers that did not say. */
  parentPid: number | null;
  cwd: string;
  gitRoot: string | null;
  gitCommonDir: string | null;
  gitBranch: string | null;
  /** The repository across machines: its normalized origin URL, else its root commit. */
  repoKey: string | null;
  /** The host whose broker the peer registered with (stamped by that broker, never by the peer). */
  host: string;
  summary: string;
  registeredAt: number;
  lastSeen: number;
}

export interface MessageRow {
  seq: number;
  id: string;
  fromId: string;
  fromName: string;
  fromSummary: string;
  fromCwd: string;
  toId: string | null;
  toName: string;
  text: string;
  inReplyTo: string | null;
  state: MessageState;
  createdAt: number;
  deliveredAt: number | null;
  readAt: number | null;
  expiresAt: number;
}

export type NewMessage = Omit<MessageRow, "seq" | "state" | "deliveredAt" | "readAt"> & {
  /** The sender's idempotency key: a resent request with the same key finds the first message. */
  sendKey?: string | null;
};

export interface PruneLimits {
  now: number;
  /** Read and expired messages older than this are deleted. */
  keepReadMs: number;
  /** Peers not seen for this long (and not live) are deleted. */
  keepPeersMs: number;
  /** Peers that must never be deleted (the live ones). */
  liveIds: ReadonlySet<string>;
}

export interface PruneResult {
  expired: number;
  deletedMessages: number;
  deletedPeers: number;
}

export interface Store {
  /** Where the data lives, for status output. */
  readonly location: string;

  savePeer(peer: PeerRow): Promise<void>;
  getPeer(id: string): Promise<PeerRow | null>;
  peerBySecretHash(secretHash: string): Promise<PeerRow | null>;
  peersByIds(ids: readonly string[]): Promise<PeerRow[]>;
  /** The most recently seen peer that ever had this name (names are reusable, ids are not). */
  lastPeerNamed(name: string): Promise<PeerRow | null>;
  setSummary(id: string, summary: string): Promise<void>;
  touchPeer(id: string, now: number): Promise<void>;

  insertMessage(message: NewMessage): Promise<MessageRow>;
  getMessage(id: string): Promise<MessageRow | null>;
  /** The message this sender already stored under this idempotency key, if any. */
  messageBySendKey(fromId: string, sendKey: string): Promise<MessageRow | null>;
  /**
   * Hands the unread mail of `name` whose recipient is not live (or was never set) to `peerId`,
   * back in state queued so it is pushed to the new session. Returns how many moved.
   */
  claimMailbox(name: string, peerId: string, liveIds: ReadonlySet<string>, now: number): Promise<number>;
  /** Messages for this peer not yet acknowledged, oldest first. */
  queuedFor(peerId: string): Promise<MessageRow[]>;
  /** Messages for this peer not yet read (queued or delivered), oldest first. */
  unreadFor(peerId: string): Promise<MessageRow[]>;
  countUnread(peerId: string): Promise<number>;
  /** Unread messages addressed to this name (a mailbox), whichever session they wait for. */
  countUnreadNamed(name: string): Promise<number>;
  /** queued → delivered for the given ids addressed to peerId; returns the ids that changed. */
  markDelivered(peerId: string, ids: readonly string[], now: number): Promise<string[]>;
  /** queued|delivered → read for the given ids addressed to peerId; returns the ids that changed. */
  markRead(peerId: string, ids: readonly string[], now: number): Promise<string[]>;
  /** Newest first; `peer` filters on sender or recipient id/name. */
  history(limit: number, peer?: string): Promise<MessageRow[]>;
  countByState(): Promise<Record<MessageState, number>>;
  prune(limits: PruneLimits): Promise<PruneResult>;
  close(): Promise<void>;
}

/** The store cannot be opened (bad file, bad URL, refused login, newer schema); the message says what to do. */
export class StoreOpenError extends Error {}

/** The shared database (PostgreSQL) cannot be reached right now: the broker answers 503, retryable. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}
