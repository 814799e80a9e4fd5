/**
 * This broker among the other hosts' brokers on a shared PostgreSQL: its heartbeat (which keeps its
 * peers' presence rows, with network-wide unique names), what other hosts' peers are live, and the
 * notices between brokers (a wake-up for the broker holding a recipient's connection, acks for
 * senders waiting elsewhere). The SQL is the store's (NetworkStore); this keeps the timers and what
 * each notice means. Only used with a postgres:// DB.
 */
import { randomBytes } from "node:crypto";
import { errorMessage } from "../errors.ts";
import type { BrokerIdentity, Heartbeat, NetworkStore, PeerRow, PresenceClaim, PresenceFilter, PresenceRow, Store } from "../store/store.ts";
import type { AckOutcome } from "./ack-waits.ts";
import { parseNotice, type Notice } from "./network-notice.ts";
/** NOTIFY payloads must stay under 8000 bytes: ack ids go out in chunks. */
const ACK_IDS_PER_NOTICE = 200;
/** Relayed watch events go out in chunks too (an id and an event name each). */
const EVENTS_PER_NOTICE = 150;
/** Heartbeats per offline bound: a broker that misses this many in a row reads as gone. */
const BEATS_PER_TIMEOUT = 3;
/**
 * How long the broker that stored a message woken here is remembered, so its ack goes back to that
 * broker alone: longer than any sender waits for an ack (mail.ts ACK_WAIT_MS, 1 s). An ack after
 * that has no one waiting for it.
 */
const ORIGIN_TTL_MS = 10_000;

export interface RemotePeer {
  row: PeerRow;
  brokerId: string;
  push: boolean;
  /** The last heartbeat of its broker, as ms since the epoch. */
  seenAt: number;
}

/** One of this broker's live peers, as its heartbeat reports it. */
export type LocalPeer = PresenceClaim;

export interface NetworkHandlers {
  /** A message for one of this broker's peers was stored by another broker. */
  onMessage(peerId: string, messageId: string): void;
  /** Mail waits in the mailbox of a name one of this broker's peers holds. */
  onMailbox(peerId: string): void;
  /** Messages were acknowledged or read at another broker (a sender here may be waiting). */
  onAck(ids: readonly string[], outcome?: AckOutcome): void;
  /** Notifications were (re)subscribed: anything sent while they were down must be pushed now. */
  onSubscribed(): void;
  /** This broker's live peers, re-asserted at every heartbeat. */
  localPeers(): LocalPeer[];
  /** Another host took these peers' names while this broker was silent: they must register again. */
  onNamesLost(peerIds: string[]): void;
  /** Whether this broker has watchers (it then tells the others at each heartbeat). */
  watchedHere(): boolean;
  /** Another broker's watch events, in the order it sent them. */
  onEvents(events: Array<[string, string]>): void;
}

/** A watch event on the wire between brokers: its name and what it is about (a message or peer id, or a name). */
export type RelayedEvent = [event: string, key: string];

export class BrokerNetwork {
  readonly brokerId = `b-${randomBytes(6).toString("hex")}`;
  private readonly self: BrokerIdentity;
  private readonly heartbeatMs: number;
  private heartbeat: Timer | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private handlers: NetworkHandlers | undefined;
  private failing = false;
  /** Whether the last heartbeat named this broker the leader (housekeeping.ts runs the shared sweeps then). */
  private leader = false;
  /** The host of the broker the last heartbeat named the leader (this one's or another's); null before one or after a failed beat. */
  private leaderHost: string | null = null;
  /** Notices this broker's LISTEN connection received (its own channel and the common one), any payload: what bench/scale.ts counts per message. */
  private noticesReceived = 0;
  /**
   * Set by the broker's housekeeping: the earliest awaited reply falls due in this many ms, as the
   * leader's heartbeat read it (the leader sweeps then, not every second).
   */
  onReplyDue: ((inMs: number) => void) | undefined;
  /** Whether a notice not in NoticeSchema was logged already: a flood of them writes one line. */
  private strangerLogged = false;
  /** Until when (ms) each other broker is known to have watchers: it says so at each of its heartbeats. */
  private readonly watchingUntil = new Map<string, number>();
  /** Which broker stored each message woken here, and until when that is kept (ORIGIN_TTL_MS). */
  private readonly origins = new Map<string, { broker: string; until: number }>();

  constructor(
    private readonly tables: NetworkStore,
    private readonly store: Store,
    readonly host: string,
    /** A broker is live while its last heartbeat (database clock: host clocks may differ) is newer than this. */
    offlineAfterMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.heartbeatMs = Math.max(50, Math.floor(offlineAfterMs / BEATS_PER_TIMEOUT));
    this.self = { id: this.brokerId, host, pid: process.pid, offlineAfterS: offlineAfterMs / 1000 };
  }

  /** Registers this broker, subscribes to wake-ups and starts heartbeating. */
  async start(handlers: NetworkHandlers): Promise<void> {
    this.handlers = handlers;
    await this.tables.join(this.self);
    this.unlisten = await this.tables.listen(this.brokerId, (payload) => this.onNotice(payload), () => handlers.onSubscribed());
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
  }

  /** Leaves the network at once: this broker's peers read as offline until they register again. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.unlisten?.().catch(() => {});
    await this.tables.leave(this.self);
  }

  /** Live peers held by the other brokers whose heartbeat is recent: all, or those `filter` asks for. */
  async remotePeers(filter?: PresenceFilter): Promise<RemotePeer[]> {
    return this.withRows(await this.tables.othersPresence(this.self, undefined, filter));
  }

  /** How many peers the other brokers hold live (one count in the database). */
  countRemote(): Promise<number> {
    return this.tables.countOthers(this.self);
  }

  /** The live remote peer with this id, or this name (on `host`, if given); given both, the name's holder first. */
  async findRemote(to: { id?: string; name?: string; host?: string }): Promise<RemotePeer | null> {
    return (await this.withRows(await this.tables.othersPresence(this.self, to)))[0] ?? null;
  }

  /**
   * Takes `name` for the peer on the whole network; false when a live peer of another broker holds
   * it (the store settles two hosts claiming one name at the same moment).
   */
  claimName(peer: LocalPeer): Promise<boolean> {
    return this.tables.claimName(this.self, peer);
  }

  /** The peer left this broker; best effort, as the next heartbeat corrects a miss. */
  release(peerId: string): void {
    this.tables.releaseName(this.self, peerId).catch(() => {});
  }

  /** Tells the broker holding `peerId` (and it alone) that message `messageId` waits for it. */
  async wake(brokerId: string, peerId: string, messageId: string): Promise<void> {
    await this.notify(brokerId, { kind: "message", broker: brokerId, peer: peerId, message: messageId, from: this.brokerId });
  }

  /**
   * Tells the brokers that stored these messages (where their senders may wait) that they were
   * acknowledged or read (and, with `outcome`, to what state and when). Messages not woken here
   * lately have no one waiting: nothing is sent.
   */
  async acked(ids: readonly string[], outcome?: AckOutcome): Promise<void> {
    const byBroker = new Map<string, string[]>();
    for (const id of ids) {
      const origin = this.origins.get(id);
      if (!origin) continue;
      this.origins.delete(id);
      byBroker.set(origin.broker, [...(byBroker.get(origin.broker) ?? []), id]);
    }
    for (const [broker, acked] of byBroker) {
      for (let i = 0; i < acked.length; i += ACK_IDS_PER_NOTICE) await this.notify(broker, { kind: "acked", ids: acked.slice(i, i + ACK_IDS_PER_NOTICE), ...outcome });
    }
  }

  /**
   * Whether this broker runs the sweeps of the shared data: its last heartbeat named it the leader.
   * Two brokers may both think so for at most one heartbeat while the lead changes hands; every
   * sweep takes its rows in one statement, so overlap costs a little work, never a double notice.
   */
  leads(): boolean {
    return this.leader;
  }

  /** This broker's part of /status on a shared database: whether it leads, which host does, the notices it heard. */
  status(): { leader: boolean; leader_host: string | null; notices_received: number } {
    return { leader: this.leader, leader_host: this.leaderHost, notices_received: this.noticesReceived };
  }

  /** Whether another broker had watchers at its last heartbeats. */
  othersWatching(): boolean {
    return this.watchers().length > 0;
  }

  /** Tells every other broker this one has watchers, so they relay their events to it. */
  async announceWatching(): Promise<void> {
    await this.notify(null, { kind: "watching", broker: this.brokerId });
  }

  /** Relays this broker's watch events to the brokers whose consoles are open. */
  async events(events: readonly RelayedEvent[]): Promise<void> {
    for (const broker of this.watchers()) {
      for (let i = 0; i < events.length; i += EVENTS_PER_NOTICE) await this.notify(broker, { kind: "events", broker: this.brokerId, events: events.slice(i, i + EVENTS_PER_NOTICE) });
    }
  }

  /** Sends `notice` to broker `to`, or (null) to every broker. */
  private notify(to: string | null, notice: Notice): Promise<void> {
    return this.tables.notify(to, JSON.stringify(notice));
  }

  /** The other brokers whose watchers were announced lately; forgets the rest. */
  private watchers(): string[] {
    const now = Date.now();
    for (const [broker, until] of this.watchingUntil) if (until <= now) this.watchingUntil.delete(broker);
    return [...this.watchingUntil.keys()];
  }

  /**
   * Anyone who may CONNECT to the database may NOTIFY this channel: a payload is checked against
   * NoticeSchema, and nothing a notice causes may end the broker (each failure is one log line).
   */
  private onNotice(payload: string): void {
    this.noticesReceived++;
    const parsed = parseNotice(payload);
    if (!parsed.ok) {
      if (!this.strangerLogged) this.log(`ignored a notice on the shared database that is not a broker's (${parsed.reason}); further ones are ignored silently`);
      this.strangerLogged = true;
      return;
    }
    try {
      this.dispatch(parsed.notice);
    } catch (err) {
      this.log(`a ${parsed.notice.kind} notice from another host failed: ${errorMessage(err)}`);
    }
  }

  private dispatch(notice: Notice): void {
    if (notice.kind === "message" && notice.broker === this.brokerId) {
      if (notice.from && notice.from !== this.brokerId) this.origins.set(notice.message, { broker: notice.from, until: Date.now() + ORIGIN_TTL_MS });
      this.handlers?.onMessage(notice.peer, notice.message);
    } else if (notice.kind === "acked") this.handlers?.onAck(notice.ids, notice.state && notice.at !== undefined ? { state: notice.state, at: notice.at } : undefined);
    else if (notice.kind === "watching" && notice.broker !== this.brokerId) this.watchingUntil.set(notice.broker, Date.now() + BEATS_PER_TIMEOUT * this.heartbeatMs);
    else if (notice.kind === "events" && notice.broker !== this.brokerId) this.handlers?.onEvents(notice.events);
  }

  /** Keeps this broker's heartbeat fresh and its presence rows equal to its live peers. */
  private async beat(): Promise<void> {
    const peers = this.handlers?.localPeers() ?? [];
    const now = Date.now();
    for (const [id, origin] of this.origins) if (origin.until <= now) this.origins.delete(id);
    try {
      // A name lost while this broker was silent stays with the host that took it; ours register again.
      const beat = await this.tables.heartbeat(this.self, peers);
      this.leader = beat.leader;
      this.leaderHost = beat.leaderHost;
      if (beat.leader && beat.replyDueInMs !== null) this.onReplyDue?.(beat.replyDueInMs);
      if (beat.lost.length > 0) this.handlers?.onNamesLost(beat.lost);
      this.deliverWaiting(peers, beat);
      if (this.failing) this.log("shared database reachable again; heartbeats resumed");
      this.failing = false;
      // Last, so a failed notice never skips the heartbeat's own work.
      if (this.handlers?.watchedHere()) await this.announceWatching();
    } catch (err) {
      this.leader = false; // another broker may lead by now
      this.leaderHost = null;
      if (!this.failing) this.log(`heartbeat failed (${errorMessage(err)}); other hosts see this host's peers offline until it succeeds`);
      this.failing = true;
    }
  }

  /**
   * What a wake-up may have missed, handed over at every heartbeat (usually nothing: part of its one
   * statement). NOTIFY is fire-and-forget: one sent while this broker's LISTEN connection was
   * reconnecting is gone, so unacknowledged mail of its push peers is pushed again (servers drop
   * repeats by id). And mail sent to a name while its session looked offline to the sender (this
   * broker missed heartbeats) went to the name's mailbox, which that session now claims.
   */
  private deliverWaiting(peers: LocalPeer[], { queued, mailboxes }: Heartbeat): void {
    for (const m of queued) this.handlers?.onMessage(m.to_id, m.id);
    for (const name of mailboxes) {
      const holder = peers.find((p) => p.name === name);
      if (holder) this.handlers?.onMailbox(holder.id);
    }
  }

  private async withRows(presence: PresenceRow[]): Promise<RemotePeer[]> {
    if (presence.length === 0) return [];
    const rows = new Map<string, PeerRow>((await this.store.peersByIds(presence.map((r) => r.peer_id))).map((p) => [p.id, p]));
    const peers: RemotePeer[] = [];
    for (const r of presence) {
      const row = rows.get(r.peer_id);
      if (row) peers.push({ row, brokerId: r.broker_id, push: r.push, seenAt: r.seen_at });
    }
    return peers;
  }
}
