/** The broker's brain: registration, who gets which message, and when a message changes state. */
import { AckWaits } from "./ack-waits.ts";
import { Pusher } from "./push.ts";
import type { BrokerNetwork, LocalPeer } from "./network.ts";
import { Presence, parseAddress, type LiveAddress, type LivePeer, type PushSocket, type Viewer } from "./presence.ts";
import { WireError, errorMessage } from "../errors.ts";
import { newMessageId, newPeerId } from "./ids.ts";
import { processAlive } from "../process-alive.ts";
import { MailboxRoom } from "./mailbox-quota.ts";
import { RateLimiter, type PaceLimits } from "./send-pace.ts";
import {
  MAX_MESSAGE_BYTES,
  type BrokerFrame,
  type Message,
  type PeerInfo,
  type RegisterBody,
  type RegisterResult,
  type Scope,
  type SendBody,
} from "../protocol.ts";
import type { MessageRow, PeerRow, Store } from "../store/store.ts";
import { randomToken, sha256 } from "../token.ts";
import { toWireMessage, toWirePeer } from "./to-wire.ts";

export { POLL_GRACE_MS, type PushSocket, type Viewer } from "./presence.ts";

/** How long send waits for the recipient's ack, so the sender usually sees "delivered". */
export const ACK_WAIT_MS = 1000;
/**
 * Sends per sender (a peer id; the operator's CLI shares one bucket): a burst of 1,000, then 2,000 a
 * second, a sender ahead of that waiting up to 1 s for its turn. A script's or a fan-out's burst is
 * carried at about what one sender can drive through the broker (bench/throughput.ts, burst), while
 * a runaway loop is slowed to a rate that leaves the broker to everyone else.
 */
export const SEND_RATE: PaceLimits = { perSecond: 2000, burst: 1000, maxWaitMs: 1000 };

/** Who is sending: a registered peer, or the operator through the CLI. */
export type Sender = { kind: "peer"; row: PeerRow } | { kind: "operator" };

/** A message's recipient: a live peer (here or on another host), or a name's mailbox (no id). */
type Recipient = LiveAddress | { id: string | null; name: string; brokerId?: undefined };

export interface HubOptions {
  store: Store;
  mailboxTtlMs: number;
  /** This machine's name, stamped on every peer that registers here. */
  host: string;
  /** The other hosts' brokers, through a shared PostgreSQL; absent on SQLite (one machine). */
  network?: BrokerNetwork;
  log?: (line: string) => void;
  now?: () => number;
  /** Whether a local process still exists; a crashed poll-mode peer is dropped at once. */
  pidAlive?: (pid: number) => boolean;
  /** The senders' pace (SEND_RATE unless a test sets its own). */
  sendRate?: PaceLimits;
}

export class Hub {
  private readonly store: Store;
  private readonly mailboxTtlMs: number;
  private readonly network: BrokerNetwork | undefined;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly presence: Presence;
  private readonly watchers = new Set<PushSocket>();
  private readonly acks = new AckWaits(ACK_WAIT_MS);
  private readonly sendRate: PaceLimits;
  private readonly sendLimiter: RateLimiter;
  private readonly mailboxRoom: MailboxRoom;
  /** Puts stored messages on sockets; broker-app hands it what other hosts store for our peers. */
  readonly pusher: Pusher;

  constructor(opts: HubOptions) {
    this.store = opts.store;
    this.mailboxTtlMs = opts.mailboxTtlMs;
    this.network = opts.network;
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.presence = new Presence({
      host: opts.host,
      network: opts.network,
      now: this.now,
      pidAlive: opts.pidAlive ?? processAlive,
      onGone: (p) => this.departed(p),
    });
    this.pusher = new Pusher(this.presence, this.store, this.log);
    this.sendRate = opts.sendRate ?? SEND_RATE;
    this.sendLimiter = new RateLimiter(this.sendRate, this.now);
    this.mailboxRoom = new MailboxRoom(this.store);
  }

  // ---- identity -------------------------------------------------------------------------------

  async register(body: RegisterBody): Promise<RegisterResult> {
    const now = this.now();
    const claimed = body.peer_id === undefined ? undefined : await this.verifyClaim(body.peer_id, body.secret);
    const id = claimed?.id ?? newPeerId();
    const secret = claimed?.secret ?? randomToken();
    const row: PeerRow = {
      id,
      secretHash: sha256(secret),
      name: body.name, // the wish: admit() picks the first free one from it
      pid: body.pid,
      parentPid: body.parent_pid ?? null,
      cwd: body.cwd,
      gitRoot: body.git_root,
      gitCommonDir: body.git_common_dir,
      gitBranch: body.git_branch,
      repoKey: body.repo_key ?? null,
      host: this.presence.host,
      summary: body.summary,
      registeredAt: claimed?.registeredAt ?? now,
      lastSeen: now,
    };
    const entry = await this.presence.admit(row, (final) => this.store.savePeer(final));
    await this.store.claimMailbox(entry.row.name, id, await this.presence.networkLiveIds(), now);
    this.mailboxRoom.forget(id); // the claimed mailbox now counts toward this id
    this.broadcast({ type: "event", event: "joined", peer: this.presence.info(entry) });
    if (entry.socket) await this.pusher.pushQueued(id);
    return { peer_id: id, secret, name: entry.row.name, unread: await this.store.countUnread(id) };
  }

  /** A re-registering peer (after a broker restart) proves its id with the secret it was given. */
  private async verifyClaim(id: string, secret: string | undefined): Promise<{ id: string; secret: string; registeredAt?: number }> {
    if (secret === undefined) throw new WireError("bad_request", "secret: required together with peer_id", { field: "secret" });
    const hash = sha256(secret);
    const existing = await this.store.getPeer(id);
    if (existing && existing.secretHash !== hash) {
      throw new WireError("forbidden", `peer_id: ${id} belongs to another session; register without peer_id`, { field: "peer_id" });
    }
    if (!existing && (await this.store.peerBySecretHash(hash))) {
      throw new WireError("conflict", "secret: already used by another peer; register without peer_id and secret", { field: "secret" });
    }
    return { id, secret, registeredAt: existing?.registeredAt };
  }

  /** Identifies a peer by its secret, live or not (a swept peer may still read its mail). */
  async authenticate(secret: string): Promise<PeerRow | null> {
    const hash = sha256(secret);
    return this.presence.bySecretHash(hash) ?? this.store.peerBySecretHash(hash);
  }

  /** The row of a live peer, for frames on its already-authenticated socket. */
  liveRow(peerId: string): PeerRow | null {
    return this.presence.get(peerId)?.row ?? null;
  }

  async unregister(peer: PeerRow): Promise<void> {
    const entry = this.presence.remove(peer.id);
    await this.store.touchPeer(peer.id, this.now());
    entry?.socket?.close(1000, "unregistered");
    if (entry) this.broadcast({ type: "event", event: "left", peer: this.presence.info(entry) });
  }

  async setSummary(peer: PeerRow, summary: string): Promise<void> {
    await this.store.setSummary(peer.id, summary);
    const entry = this.presence.get(peer.id);
    if (entry) entry.row = { ...entry.row, summary };
  }

  // ---- liveness -------------------------------------------------------------------------------

  /** Drops peers whose poll grace ran out or whose process died; returns how many left. */
  sweep(): number {
    return this.presence.sweep();
  }

  /** A peer left this broker: remember when it was last seen, and tell the watchers. */
  private departed(p: LivePeer): void {
    this.store.touchPeer(p.row.id, p.lastSeen).catch(() => {}); // best effort: the store may be closed at shutdown
    this.broadcast({ type: "event", event: "left", peer: this.presence.info(p) });
  }

  /** Live peers here and, with a shared database, on every other host (prune must keep them all). */
  liveIds(): Promise<Set<string>> {
    return this.presence.networkLiveIds();
  }

  /** This broker's live peers, as its heartbeat reports them to the network. */
  localPeers(): LocalPeer[] {
    return this.presence.localPeers();
  }

  /** Records a heartbeat (a poll) and returns the peer's unacknowledged messages. */
  async poll(peer: PeerRow): Promise<{ messages: Message[]; unread: number }> {
    const entry = this.presence.get(peer.id);
    if (!entry) throw new WireError("not_found", "peer: not registered with this broker; register again");
    entry.lastSeen = this.now();
    const queued = await this.store.queuedFor(peer.id);
    return { messages: queued.map(toWireMessage), unread: await this.store.countUnread(peer.id) };
  }

  listPeers(scope: Scope, viewer: Viewer): Promise<PeerInfo[]> {
    return this.presence.list(scope, viewer);
  }

  whoami(peer: PeerRow): PeerInfo {
    const entry = this.presence.get(peer.id);
    return entry ? this.presence.info(entry) : toWirePeer(peer, false, peer.lastSeen);
  }

  counts(): { live: number; push: number; poll: number } {
    return this.presence.counts();
  }

  // ---- push connections -----------------------------------------------------------------------

  /** Attaches a peer's WebSocket and pushes everything it has not acknowledged. */
  async attach(peerId: string, socket: PushSocket): Promise<boolean> {
    const entry = this.presence.get(peerId);
    if (!entry) return false;
    const previous = entry.socket;
    entry.socket = socket;
    entry.lastSeen = this.now();
    if (previous && previous !== socket) previous.close(4000, "replaced by a newer connection");
    await this.pusher.pushQueued(peerId).catch(() => this.pusher.repushAll());
    return true;
  }

  /** A closed push connection takes the peer offline, unless a newer socket replaced it. */
  detach(peerId: string, socket: PushSocket): void {
    const entry = this.presence.get(peerId);
    if (!entry || entry.socket !== socket) return;
    this.presence.remove(peerId);
    this.departed({ ...entry, socket: null, lastSeen: this.now() });
  }

  /** Closes every socket (broker shutdown); peers reconnect to the next broker by themselves. */
  closeAll(): void {
    for (const p of this.presence.entries()) p.socket?.close(1001, "broker stopping");
    for (const w of this.watchers) w.close(1001, "broker stopping");
    this.presence.clear();
    this.watchers.clear();
  }

  addWatcher(socket: PushSocket): void {
    this.watchers.add(socket);
  }

  removeWatcher(socket: PushSocket): void {
    this.watchers.delete(socket);
  }

  private broadcast(frame: BrokerFrame): void {
    if (this.watchers.size === 0) return;
    const data = JSON.stringify(frame);
    for (const w of this.watchers) w.send(data);
  }

  // ---- messages -------------------------------------------------------------------------------

  async send(sender: Sender, body: SendBody): Promise<Message> {
    const fromId = sender.kind === "peer" ? sender.row.id : "cli";
    // First, before any work: a sender ahead of its pace waits its turn (costing the broker a
    // timer), and one too far ahead is turned away for the price of a map lookup.
    const pace = this.sendLimiter.take(fromId);
    if ("retryAfterMs" in pace) {
      throw new WireError(
        "rate_limited",
        `this sender is over ${this.sendRate.perSecond} messages a second, ${this.sendRate.maxWaitMs / 1000} s ahead of its pace; nothing was sent, retry in ${(Math.ceil(pace.retryAfterMs / 100) / 10).toFixed(1)} s`,
        { retryAfterMs: pace.retryAfterMs },
      );
    }
    if (pace.waitMs > 0) await Bun.sleep(pace.waitMs);
    if (Buffer.byteLength(body.text, "utf8") > MAX_MESSAGE_BYTES) {
      throw new WireError("payload_too_large", `message: over ${MAX_MESSAGE_BYTES / 1024} KiB; split it or send a file path instead`, { field: "text" });
    }
    const now = this.now();
    if (body.idempotency_key !== undefined) {
      const earlier = await this.store.messageBySendKey(fromId, body.idempotency_key);
      if (earlier) return toWireMessage(earlier); // a resend: the first request got through
    }
    const target = await this.resolveRecipient(body.to);
    if (target.id === fromId) throw new WireError("bad_request", "to: that is this session itself; pick another peer from list_peers", { field: "to" });

    if (body.in_reply_to !== undefined) {
      const original = await this.store.getMessage(body.in_reply_to);
      if (!original) throw new WireError("not_found", `in_reply_to: no message ${body.in_reply_to}`, { field: "in_reply_to" });
      // Replying to a message is proof it was read.
      if (sender.kind === "peer" && original.toId === fromId) await this.markRead(sender.row, [original.id]);
    }

    const release = await this.mailboxRoom.reserve(target);
    const from = sender.kind === "peer" ? sender.row : undefined;
    let row: MessageRow;
    try {
      row = await this.store.insertMessage({
        id: newMessageId(),
        fromId,
        fromName: from?.name ?? "cli",
        fromSummary: from?.summary ?? "a person at the terminal (claude-peers CLI)",
        fromCwd: from?.cwd ?? "",
        toId: target.id,
        toName: target.name,
        text: body.text,
        inReplyTo: body.in_reply_to ?? null,
        createdAt: now,
        expiresAt: now + this.mailboxTtlMs,
        sendKey: body.idempotency_key ?? null,
      });
    } finally {
      release();
    }
    this.broadcast({ type: "event", event: "sent", message: toWireMessage(row) });
    // Wait first: an ack from another host can come back before wake()'s own answer does.
    const acked = this.acks.wait(row.id);
    if ((target.id && this.pusher.push(target.id, row)) || (await this.wakeRemote(target, row.id))) {
      await acked;
      return toWireMessage((await this.store.getMessage(row.id)) ?? row);
    }
    this.acks.end([row.id]);
    return toWireMessage(row);
  }

  /** Asks the recipient's broker on another host to push; the message is stored either way. */
  private async wakeRemote(target: Recipient, messageId: string): Promise<boolean> {
    if (!this.network || !target.brokerId || !target.id) return false;
    try {
      await this.network.wake(target.brokerId, target.id, messageId);
      return true;
    } catch (err) {
      // Stored and queued: that broker's next heartbeat hands it over (BrokerNetwork.deliverWaiting).
      this.log(`could not wake the broker of ${target.name} for ${messageId}: ${errorMessage(err)}`);
      return false;
    }
  }

  /** Mail waits in the mailbox of a name this peer holds (sent while it looked offline elsewhere). */
  async claimMailboxOf(peerId: string): Promise<void> {
    const entry = this.presence.get(peerId);
    if (!entry) return;
    await this.store.claimMailbox(entry.row.name, peerId, await this.presence.networkLiveIds(), this.now());
    this.mailboxRoom.forget(peerId);
    if (entry.socket) await this.pusher.pushQueued(peerId);
  }

  /**
   * Another host took these peers' names while this broker was silent (asleep, cut off). Names are
   * unique on the network, so they leave and their servers register again under a free name.
   */
  namesLost(peerIds: readonly string[]): void {
    for (const id of peerIds) {
      const entry = this.presence.get(id);
      if (!entry || this.presence.isAdmitting(id)) continue;
      this.log(`${entry.row.name} (${id}): the name was taken on another host while this one was away; it registers again`);
      this.presence.remove(id);
      entry.socket?.close(4003, "name taken on another host; register again");
      this.departed({ ...entry, socket: null, lastSeen: this.now() });
    }
  }

  /**
   * Another host stored a message for a peer of this broker. Pushed, its ack ends the sender's wait;
   * a peer that polls picks it up on its next poll, so the sender is told at once not to wait for
   * an ack (as a sender on this host is not), instead of waiting out ACK_WAIT_MS.
   */
  async deliverFromElsewhere(peerId: string, messageId: string): Promise<void> {
    if (await this.pusher.pushStored(peerId, messageId)) return;
    this.network?.acked([messageId]).catch((err) => this.log(`could not end the wait for ${messageId}: ${errorMessage(err)}`));
  }

  /** Acks and reads from another host end the wait of senders here. */
  ackedElsewhere(ids: readonly string[]): void {
    this.acks.end(ids);
  }

  /** An id, a name or name@host; a known but offline name gets mail in its mailbox. */
  private async resolveRecipient(to: string): Promise<Recipient> {
    const live = await this.presence.find(to);
    if (live) return live;
    const { name, host } = parseAddress(to);
    const stored = host ? await this.store.lastPeerNamed(name) : ((await this.store.getPeer(to)) ?? (await this.store.lastPeerNamed(to)));
    if (stored && (!host || stored.host === host)) {
      // That session is gone; its mail follows its name, to whichever session holds it now.
      const heir = await this.presence.named(stored.name);
      if (heir) return heir;
      return { id: stored.id === to ? stored.id : null, name: stored.name };
    }
    const here = this.presence.host;
    const names = (await this.presence.list("network", {})).map((p) => (p.host === here ? p.name : `${p.name}@${p.host}`));
    const known = names.length ? `Live peers: ${names.join(", ")}.` : "No peers are live.";
    throw new WireError("not_found", `to: no peer with id or name "${to}". ${known}`, { field: "to" });
  }

  async acknowledge(peer: PeerRow, ids: readonly string[]): Promise<string[]> {
    const updated = await this.store.markDelivered(peer.id, ids, this.now());
    this.endWaits(ids);
    await this.announce("delivered", updated);
    return updated;
  }

  async markRead(peer: PeerRow, ids: readonly string[]): Promise<string[]> {
    const updated = await this.store.markRead(peer.id, ids, this.now());
    this.endWaits(ids);
    await this.announce("read", updated);
    return updated;
  }

  /** Ends senders' waits for these messages: here directly, on other hosts by a notice. */
  private endWaits(ids: readonly string[]): void {
    const elsewhere = this.acks.end(ids); // their senders, if waiting, are on other hosts
    if (this.network && elsewhere.length > 0) {
      this.network.acked(elsewhere).catch((err) => this.log(`could not announce acks: ${errorMessage(err)}`));
    }
  }

  private async announce(event: "delivered" | "read", ids: string[]): Promise<void> {
    if (this.watchers.size === 0) return;
    for (const id of ids) {
      const row = await this.store.getMessage(id);
      if (row) this.broadcast({ type: "event", event, message: toWireMessage(row) });
    }
  }

  /** Every unread message, oldest first; with markRead they become read (check_messages). */
  async inbox(peer: PeerRow, markRead: boolean): Promise<Message[]> {
    const unread = await this.store.unreadFor(peer.id);
    if (!markRead || unread.length === 0) return unread.map(toWireMessage);
    const readAt = this.now();
    const updated = new Set(await this.markRead(peer, unread.map((m) => m.id)));
    return unread.map((m) => toWireMessage(updated.has(m.id) ? { ...m, state: "read", readAt, deliveredAt: m.deliveredAt ?? readAt } : m));
  }

  unreadCount(peer: PeerRow): Promise<number> {
    return this.store.countUnread(peer.id);
  }

  // ---- hooks ----------------------------------------------------------------------------------

  /** The live peer a Claude Code hook belongs to, found through the hook's process ancestors. */
  peerForAncestors(ancestors: readonly number[]): { peer: PeerInfo; parentPid: number } | null {
    return this.presence.forAncestors(ancestors);
  }
}
