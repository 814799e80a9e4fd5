/**
 * The broker's storage contract: one async interface, one file per backend (SQLite, PostgreSQL).
 * Rows carry the column names, which are also the wire's (snake_case); times are ms since the epoch.
 */
import { MessageStateSchema, type MessageState } from "../protocol.ts";

/** A type, not an interface: it binds as SQLite named parameters as it is. */
export type PeerRow = {
  id: string;
  secret_hash: string;
  name: string;
  pid: number;
  /** The server's parent (Claude Code); null for servers that did not say. */
  parent_pid: number | null;
  cwd: string;
  git_root: string | null;
  git_common_dir: string | null;
  git_branch: string | null;
  /** The repository across machines: its normalized origin URL, else its root commit. */
  repo_key: string | null;
  /** The host whose broker the peer registered with (stamped by that broker, never by the peer). */
  host: string;
  /** The coding agent the peer runs in (claude-code, codex, gemini). */
  agent: string;
  summary: string;
  registered_at: number;
  last_seen: number;
};

export type MessageRow = {
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
  /** The sender's idempotency key: a resent request with the same key finds the first message. */
  send_key: string | null;
  /** When the sender expects a reply by (send_message reply_within_s), else null. */
  reply_by: number | null;
  /** With reply_by: awaiting until the recipient replies (answered) or the time runs out (overdue). */
  reply_status: ReplyStatus | null;
  /** The earlier message of the same sender this one replaces (that one is retracted). */
  replaces: string | null;
  retracted_at: number | null;
  /** A group send's copy: the group ("ui") or "*" (every live session of one host). */
  to_group: string | null;
  /** A group send's copy: the id of its first copy, shared by every copy of that send. */
  fanout_id: string | null;
  /** When a person released (or discarded) this held message; the pair's count starts again there. */
  released_at: number | null;
  /** CRC-32 of the text (textCrc): the duplicate rule remembers sends by it, and reads a text only on a match. */
  text_crc: number | null;
  /** Why a held message is held: between a runaway pair, or for a paused name. */
  held_by: HeldBy | null;
};

export type HeldBy = "pair" | "pause";

/** The held_by a new message is stored with: why it is held (a pair, when not said), or null. */
export function heldByOf(m: NewMessage): HeldBy | null {
  return m.state === "held" ? (m.held_by ?? "pair") : null;
}

export type ReplyStatus = "awaiting" | "answered" | "overdue";

/** A message as send stores it: queued or held, and awaiting a reply when it has reply_by. */
export type NewMessage = Omit<MessageRow, "seq" | "state" | "delivered_at" | "read_at" | "reply_status" | "retracted_at" | "released_at" | "text_crc" | "held_by"> & {
  state: "queued" | "held";
  /** With state held: why (a pair, when not said). */
  held_by?: HeldBy;
};

/** What loop damping asks before a peer's message to another peer is stored. */
export interface PairQuery {
  /** The two peers' names (a pair is a pair in either direction). */
  a: string;
  b: string;
  /** Messages between them before this time do not count. */
  since: number;
  /** Count at most this many each way: whether the pair reached its limit, not how far past it. */
  upTo: number;
}

export interface PairActivity {
  /**
   * When each peer sent to the other (`fromA`: a → b; at most `upTo` each, the newest, oldest
   * first), since `since` and since a person last wrote to either of them or released the pair.
   */
  fromA: number[];
  fromB: number[];
  /** Whether mail between them is held right now. */
  held: boolean;
}

/** The pair rule, decided while a send is stored (insertMessages). */
export interface PairGuard {
  /** For each copy, the two names of the pair it feeds, or null (a copy the rule does not look at). */
  pairs: ReadonlyArray<readonly [string, string] | null>;
  since: number;
  upTo: number;
  /** Whether the copy is held, given its pair's activity (`a` the copy's sender). */
  holds(activity: PairActivity): boolean;
}

/** A send as the duplicate rule remembers it. */
export type RecentSend = Pick<MessageRow, "id" | "to_name" | "to_group" | "text_crc" | "created_at">;

/** A name in a group. */
export interface Membership {
  group_name: string;
  peer_name: string;
}

export interface HistoryQuery {
  limit: number;
  /** Sender or recipient id or name. */
  peer?: string;
  /** Only copies of sends to this group ("*" for broadcast). */
  group?: string;
  /** Only messages whose text holds this (case-insensitive). */
  text?: string;
  /** Only messages stored before this one (its seq): the next page back in time. */
  beforeSeq?: number;
}

/**
 * When a sweep of the shared data runs: a time in ms on the caller's clock, or "database", the
 * store's own clock: on a shared PostgreSQL its now(), which every host agrees on, so a leader
 * whose clock is off neither expires mail early nor keeps it forever; on SQLite (one host) the
 * process's clock.
 */
export type SweepTime = number | "database";

/** A SweepTime in ms on this process's clock (SQLite: the database's clock is this host's). */
export const sweepMs = (at: SweepTime): number => (at === "database" ? Date.now() : at);

export interface PruneLimits {
  now: SweepTime;
  /** Read and expired messages older than this are deleted. */
  keepReadMs: number;
  /** Peers not seen for this long (and not live) are deleted. */
  keepPeersMs: number;
  /** Peers that must never be deleted (the live ones). */
  liveIds: ReadonlySet<string>;
}

export interface PruneResult {
  expired: number;
  /** The messages that expired (their time over, unread or held), as they are now: watchers and senders are told. */
  expiredMessages: MessageRow[];
  deletedMessages: number;
  deletedPeers: number;
}

export interface Store {
  /** Where the data lives, for status output. */
  readonly location: string;

  /**
   * Runs `work` as one unit: on PostgreSQL one transaction, so every store and network call made
   * inside it (a send's lookups, its insert and the wake-up NOTIFY) costs one commit, and all of it
   * happens or none. `work` must not wait for anything outside it (a pace, an ack). SQLite, where
   * one broker owns the file, runs `work` as it is.
   */
  atomically<T>(work: () => Promise<T>): Promise<T>;

  /**
   * Runs `fn` once the open unit committed, outside it (never if it rolls back); outside a unit,
   * now. What a unit tells the rest of the broker (watch events, a local sender's ack) goes through
   * it: a callback scheduled inside a unit would otherwise run its queries in the unit's transaction.
   */
  afterCommit(fn: () => void): void;

  /** Runs `fn` outside any unit: what it schedules (a timer, a callback) never joins one. */
  detached<T>(fn: () => T): T;

  savePeer(peer: PeerRow): Promise<void>;
  getPeer(id: string): Promise<PeerRow | null>;
  peerBySecretHash(secret_hash: string): Promise<PeerRow | null>;
  peersByIds(ids: readonly string[]): Promise<PeerRow[]>;
  /** The most recently seen peer that ever had this name (names are reusable, ids are not). */
  lastPeerNamed(name: string): Promise<PeerRow | null>;
  setSummary(id: string, summary: string): Promise<void>;
  touchPeer(id: string, now: number): Promise<void>;

  insertMessage(message: NewMessage): Promise<MessageRow>;
  /**
   * Stores the copies of one group send, all or none. With a `guard`, the pair rule is decided in
   * the same transaction: each queued copy it names a pair for is stored held when `guard.holds`
   * says so of the pair's activity, read under a lock every broker on the database takes for that
   * pair, so two brokers' sends between one pair (a pair on two hosts) are decided one after the other.
   */
  insertMessages(messages: readonly NewMessage[], guard?: PairGuard): Promise<MessageRow[]>;
  /** Every copy of the group send whose first copy has this id, in order. */
  copiesOf(fanoutId: string): Promise<MessageRow[]>;
  getMessage(id: string): Promise<MessageRow | null>;
  /** The messages with these ids that exist, in no particular order. */
  getMessages(ids: readonly string[]): Promise<MessageRow[]>;
  /** The message this sender already stored under this idempotency key, if any. */
  messageBySendKey(from_id: string, send_key: string): Promise<MessageRow | null>;
  /**
   * Hands the mail of `name` never shown to a session (queued) whose recipient is not live (or was
   * never set) to `peerId`, so it is pushed to the new session. Mail a session was shown (delivered)
   * stays with that session: the next one must not see yesterday's mail again. Returns how many moved.
   */
  claimMailbox(name: string, peerId: string, liveIds: ReadonlySet<string>, now: number): Promise<number>;
  /** The sessions mail of `name` that claimMailbox could move is set for: whose liveness it needs, no more. */
  mailboxRecipients(name: string, now: number): Promise<string[]>;
  /** Messages for this peer not yet acknowledged, oldest first. */
  queuedFor(peerId: string): Promise<MessageRow[]>;
  /** Messages for this peer not yet read (queued or delivered), oldest first. */
  unreadFor(peerId: string): Promise<MessageRow[]>;
  countUnread(peerId: string): Promise<number>;
  /** countUnread, and how many of those are still queued (not yet acknowledged as written to Claude). */
  unreadCounts(peerId: string): Promise<{ unread: number; queued: number }>;
  /** unreadCounts of many peers in one grouped count (the console); a peer with no unread mail is absent. */
  unreadCountsOf(peerIds: readonly string[]): Promise<Map<string, { unread: number; queued: number }>>;
  /** What the unread cap counts for this peer: its unread messages and the ones held for it (a loop, a pause). */
  countWaiting(peerId: string): Promise<number>;
  /** countWaiting for a name (a mailbox), whichever session the messages wait for. */
  countWaitingNamed(name: string): Promise<number>;
  /** queued → delivered for the given ids addressed to peerId; returns the ids that changed. */
  markDelivered(peerId: string, ids: readonly string[], now: number): Promise<string[]>;
  /** queued|delivered → read for the given ids addressed to peerId; returns the ids that changed. */
  markRead(peerId: string, ids: readonly string[], now: number): Promise<string[]>;
  /**
   * A reply to `originalId` came from its recipient (`replier` id or name): an awaited reply is
   * answered (an overdue one too, late). Returns whether the message was awaiting or overdue.
   */
  markAnswered(originalId: string, replier: { id: string; name: string }): Promise<boolean>;
  /**
   * Awaited replies whose time ran out become overdue, each once across every broker sharing the
   * store (the one that takes a row tells its sender); returns the rows this call took.
   */
  takeOverdue(now: SweepTime): Promise<MessageRow[]>;
  /**
   * queued|delivered|held → retracted for this sender's message and, for a copy of a group send,
   * every other copy still unread; returns the rows as they were before (none: not the sender's,
   * or no longer unread).
   */
  retract(fromId: string, id: string, now: number): Promise<MessageRow[]>;
  /** This sender's sends since `since` (a group send once, by its first copy), not retracted, oldest first: the duplicate rule's memory after a restart. */
  recentSends(fromId: string, since: number): Promise<RecentSend[]>;
  /** Loop damping: how busy the pair has been between peers (not counting people or notices). */
  pairActivity(q: PairQuery): Promise<PairActivity>;
  /**
   * held (by the pair) → queued (or discarded) for the mail between the two names; released mail waits in its
   * mailbox until `expiresAt` from now on, however long it was held. Returns the rows after, in order.
   */
  releaseHeld(a: string, b: string, now: number, discard: boolean, expiresAt: number): Promise<MessageRow[]>;

  /** Adds the name to the group unless the group holds `max` names; false when it was full. */
  joinGroup(group: string, name: string, now: number, max: number): Promise<"joined" | "already" | "full">;
  /** false when the name was not in the group. */
  leaveGroup(group: string, name: string): Promise<boolean>;
  /** The groups of these names, or every membership when `names` is absent; by group, then name. */
  memberships(names?: readonly string[]): Promise<Membership[]>;
  groupMembers(group: string): Promise<string[]>;
  /** Newest first, filtered and paged back in time (HistoryQuery). */
  history(q: HistoryQuery): Promise<MessageRow[]>;
  /**
   * Pauses a name's inbound mail (held until resumed); false when it was paused already. The pause
   * belongs to the name, like its mailbox, so it holds across restarts and hosts.
   */
  pause(name: string, now: number): Promise<boolean>;
  /**
   * Ends the name's pause and, in the same transaction, queues again the mail its pause held
   * (releasePauseHeld). null when the name was not paused.
   */
  resume(name: string, now: number, expiresAt: number): Promise<MessageRow[] | null>;
  /**
   * held (by a pause) → queued for mail to this name, with a fresh mailbox time (`expiresAt`);
   * oldest first. Also frees mail a send stored held just as a resume ran.
   */
  releasePauseHeld(name: string, now: number, expiresAt: number): Promise<MessageRow[]>;
  /** Paused names and since when (ms), or whether this one is. */
  paused(name?: string): Promise<Map<string, number>>;
  countByState(): Promise<Record<MessageState, number>>;
  prune(limits: PruneLimits): Promise<PruneResult>;
  close(): Promise<void>;
}

/** A live peer as its broker reports it to the other hosts' brokers. */
export interface PresenceClaim {
  id: string;
  name: string;
  push: boolean;
}

/** A peer live on another host's broker, as the shared database has it. */
export interface PresenceRow {
  peer_id: string;
  broker_id: string;
  push: boolean;
  /** That broker's last heartbeat (the database's clock), ms since the epoch. */
  seen_at: number;
}

/** What a heartbeat returns (NetworkStore.heartbeat). */
export interface Heartbeat {
  /** Whether this broker leads: the live broker started first (the database's clock) runs the shared sweeps. */
  leader: boolean;
  /** The host of the broker that leads, whichever it is (status names it); null when no live broker does. */
  leaderHost: string | null;
  lost: string[];
  queued: Array<{ id: string; to_id: string }>;
  mailboxes: string[];
  /**
   * In how many ms (the database's clock; 0 or less: already) the earliest awaited reply falls due,
   * as takeOverdue compares; null when no reply is awaited.
   */
  replyDueInMs: number | null;
}

/** Which of the other hosts' live peers a caller needs (each field narrows; none: all of them). */
export interface PresenceFilter {
  /** Only these names (a group's members). */
  names?: readonly string[];
  /** Only these peer ids (whether the sessions a mailbox's mail was set for are live). */
  ids?: readonly string[];
  /** Only peers in a repository with one of these keys (scope repo; the edit hooks' stake files). */
  repoKeys?: readonly string[];
  /** Only `name` itself and the names made from it (`name-2`, …): what a registration may collide with. */
  nameFamily?: { name: string; base: string };
}

/** This broker, as the other hosts' brokers see it in the shared database. */
export interface BrokerIdentity {
  id: string;
  host: string;
  pid: number;
  /** Brokers whose heartbeat is older than this read as gone. */
  offlineAfterS: number;
}

/**
 * What brokers on several hosts share besides the Store (PostgreSQL only): a row per broker with its
 * heartbeat, presence rows with network-wide unique names, and notices (LISTEN/NOTIFY). Every
 * connection failure is a StoreUnavailableError, as with the Store.
 */
export interface NetworkStore {
  /** Adds this broker's row; forgets brokers gone for a day and the presence they left behind. */
  join(self: BrokerIdentity): Promise<void>;
  /** Removes this broker's row and its presence: its peers read as offline at once. */
  leave(self: BrokerIdentity): Promise<void>;
  /**
   * Refreshes this broker's heartbeat and makes its presence rows equal to `peers`, in one
   * statement; returns the ids whose names another host took while this one was silent (their rows
   * could not come back), and the mail a lost wake-up may have missed: queued mail of its push
   * peers, and the names among them with mail waiting in a mailbox.
   */
  heartbeat(self: BrokerIdentity, peers: readonly PresenceClaim[]): Promise<Heartbeat>;
  /**
   * Live peers of the other brokers (recent heartbeats), or the one with this id or name (on `host`);
   * without `to`, only those `filter` asks for, filtered in SQL so the cost follows what is returned.
   */
  othersPresence(self: BrokerIdentity, to?: { id?: string; name?: string; host?: string }, filter?: PresenceFilter): Promise<PresenceRow[]>;
  /** How many peers are live on the other brokers. */
  countOthers(self: BrokerIdentity): Promise<number>;
  /** Takes the peer's name on the whole network; false when a live peer of another broker holds it. */
  claimName(self: BrokerIdentity, peer: PresenceClaim): Promise<boolean>;
  /** The peer left this broker. */
  releaseName(self: BrokerIdentity, peerId: string): Promise<void>;
  /**
   * Subscribes broker `self` to the notices for it alone and to those for every broker;
   * `onSubscribed` runs at every (re)subscription of its own. Returns the unsubscribe.
   */
  listen(self: string, onNotice: (payload: string) => void, onSubscribed: () => void): Promise<() => Promise<void>>;
  /** Sends a notice to broker `to` only, or (null) to every broker. */
  notify(to: string | null, payload: string): Promise<void>;
}

/** The text's CRC-32, stored beside it (text_crc) for the duplicate rule; equal CRCs are still compared whole. */
export function textCrc(text: string): number {
  return Bun.hash.crc32(text);
}

/** Every state at zero: countByState's start. */
export function zeroCounts(): Record<MessageState, number> {
  return Object.fromEntries(MessageStateSchema.options.map((state) => [state, 0])) as Record<MessageState, number>;
}

/** The store cannot be opened (bad file, bad URL, refused login, newer schema); the message says what to do. */
export class StoreOpenError extends Error {}

/** The shared database (PostgreSQL) cannot be reached right now: the broker answers 503, retryable. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}
