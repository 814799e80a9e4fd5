/**
 * What brokers on different hosts share through PostgreSQL: which peers are live on which broker
 * (presence rows kept alive by heartbeats), network-wide unique names, and LISTEN/NOTIFY wake-ups
 * that tell the broker holding a recipient's connection to push. Only used with a postgres:// DB.
 */
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import { errorMessage } from "../errors.ts";
import { unavailableOr } from "../store/postgres.ts";
import type { PeerRow, Store } from "../store/store.ts";

const CHANNEL = "claude_peers";
/** NOTIFY payloads must stay under 8000 bytes: ack ids go out in chunks. */
const ACK_IDS_PER_NOTICE = 200;
/** Heartbeats per offline bound: a broker that misses this many in a row reads as gone. */
const BEATS_PER_TIMEOUT = 3;
const UNIQUE_VIOLATION = "23505";

export interface RemotePeer {
  row: PeerRow;
  brokerId: string;
  push: boolean;
  /** The last heartbeat of its broker, as ms since the epoch. */
  seenAt: number;
}

export interface LocalPeer {
  id: string;
  name: string;
  push: boolean;
}

export interface NetworkHandlers {
  /** A message for one of this broker's peers was stored by another broker. */
  onMessage(peerId: string, messageId: string): void;
  /** Mail waits in the mailbox of a name one of this broker's peers holds. */
  onMailbox(peerId: string): void;
  /** Messages were acknowledged or read at another broker (a sender here may be waiting). */
  onAck(ids: readonly string[]): void;
  /** Notifications were (re)subscribed: anything sent while they were down must be pushed now. */
  onSubscribed(): void;
  /** This broker's live peers, re-asserted at every heartbeat. */
  localPeers(): LocalPeer[];
  /** Another host took these peers' names while this broker was silent: they must register again. */
  onNamesLost(peerIds: string[]): void;
}

type Notice = { k: "msg"; b: string; p: string; m: string } | { k: "ack"; ids: string[] };

interface PresenceRecord {
  peer_id: string;
  broker_id: string;
  push: boolean;
  seen_at: number;
}

export class BrokerNetwork {
  readonly brokerId = `b-${randomBytes(6).toString("hex")}`;
  private readonly heartbeatMs: number;
  /** A broker is live while its last heartbeat (database clock: host clocks may differ) is newer than this. */
  private readonly offlineAfterS: number;
  private heartbeat: Timer | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private handlers: NetworkHandlers | undefined;
  private failing = false;

  constructor(
    private readonly sql: SQL,
    private readonly store: Store,
    readonly host: string,
    offlineAfterMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.heartbeatMs = Math.max(50, Math.floor(offlineAfterMs / BEATS_PER_TIMEOUT));
    this.offlineAfterS = offlineAfterMs / 1000;
  }

  /** Registers this broker, subscribes to wake-ups and starts heartbeating. */
  async start(handlers: NetworkHandlers): Promise<void> {
    this.handlers = handlers;
    await this.sql`INSERT INTO brokers (id, host, pid) VALUES (${this.brokerId}, ${this.host}, ${process.pid})`;
    // Brokers gone for a day and the presence they left behind: nothing refers to them any more.
    await this.sql`DELETE FROM brokers WHERE heartbeat_at < now() - interval '1 day'`;
    await this.sql`DELETE FROM presence WHERE broker_id NOT IN (SELECT id FROM brokers)`;
    const subscription = await this.sql.listen(CHANNEL, (payload) => this.onNotice(payload), () => handlers.onSubscribed());
    this.unlisten = () => subscription.unlisten();
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
  }

  /** Leaves the network at once: this broker's peers read as offline until they register again. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.unlisten?.().catch(() => {});
    await this.sql`DELETE FROM presence WHERE broker_id = ${this.brokerId}`.catch(() => {});
    await this.sql`DELETE FROM brokers WHERE id = ${this.brokerId}`.catch(() => {});
  }

  /** Live peers held by the other brokers whose heartbeat is recent. */
  remotePeers(): Promise<RemotePeer[]> {
    return this.guard(async () =>
      this.withRows(
        await this.sql<PresenceRecord[]>`
        SELECT pr.peer_id, pr.broker_id, pr.push, (extract(epoch FROM b.heartbeat_at) * 1000)::float8 AS seen_at
        FROM presence pr JOIN brokers b ON b.id = pr.broker_id
        WHERE pr.broker_id <> ${this.brokerId} AND b.heartbeat_at > now() - make_interval(secs => ${this.offlineAfterS})`,
      ),
    );
  }

  /** The live remote peer with this id, or this name (on `host`, if given). */
  findRemote(to: { id?: string; name?: string; host?: string }): Promise<RemotePeer | null> {
    return this.guard(async () => {
      const rows = await this.sql<PresenceRecord[]>`
      SELECT pr.peer_id, pr.broker_id, pr.push, (extract(epoch FROM b.heartbeat_at) * 1000)::float8 AS seen_at
      FROM presence pr JOIN brokers b ON b.id = pr.broker_id
      WHERE pr.broker_id <> ${this.brokerId} AND b.heartbeat_at > now() - make_interval(secs => ${this.offlineAfterS})
        AND (pr.peer_id = ${to.id ?? null} OR (pr.name = ${to.name ?? null} AND (${to.host ?? null}::text IS NULL OR pr.host = ${to.host ?? null})))
      LIMIT 1`;
      return (await this.withRows(rows))[0] ?? null;
    });
  }

  /**
   * Takes `name` for the peer on the whole network; false when a live peer of another broker holds
   * it. The unique index on presence.name settles two hosts claiming one name at the same moment.
   */
  claimName(peer: LocalPeer): Promise<boolean> {
    return this.guard(() => this.claimNameOnce(peer));
  }

  private async claimNameOnce(peer: LocalPeer): Promise<boolean> {
    try {
      await this.sql.begin(async (tx) => {
        // A holder whose broker stopped heartbeating, or one of ours (the hub found the name free
        // here), is stale: its row gives way.
        await tx`
          DELETE FROM presence p WHERE p.name = ${peer.name} AND p.peer_id <> ${peer.id}
            AND (p.broker_id = ${this.brokerId} OR NOT EXISTS (SELECT 1 FROM brokers b WHERE b.id = p.broker_id AND b.heartbeat_at > now() - make_interval(secs => ${this.offlineAfterS})))`;
        await tx`
          INSERT INTO presence (peer_id, name, broker_id, host, push) VALUES (${peer.id}, ${peer.name}, ${this.brokerId}, ${this.host}, ${peer.push})
          ON CONFLICT (peer_id) DO UPDATE SET name = excluded.name, broker_id = excluded.broker_id, host = excluded.host,
            push = excluded.push, since = now()`;
      });
      return true;
    } catch (err) {
      if ((err as { errno?: string }).errno === UNIQUE_VIOLATION || (err as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw err;
    }
  }

  /** The peer left this broker; best effort, as the next heartbeat corrects a miss. */
  release(peerId: string): void {
    this.sql`DELETE FROM presence WHERE peer_id = ${peerId} AND broker_id = ${this.brokerId}`.catch(() => {});
  }

  /** Tells the broker holding `peerId` that message `messageId` waits for it. */
  async wake(brokerId: string, peerId: string, messageId: string): Promise<void> {
    await this.notify({ k: "msg", b: brokerId, p: peerId, m: messageId });
  }

  /** Tells every broker these messages were acknowledged or read. */
  async acked(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ACK_IDS_PER_NOTICE) await this.notify({ k: "ack", ids: ids.slice(i, i + ACK_IDS_PER_NOTICE) });
  }

  private notify(notice: Notice): Promise<void> {
    return this.guard(() => this.sql.notify(CHANNEL, JSON.stringify(notice)));
  }

  /**
   * What a wake-up may have missed, handed over at every heartbeat (usually nothing: two indexed
   * queries). NOTIFY is fire-and-forget: one sent while this broker's LISTEN connection was
   * reconnecting is gone, so unacknowledged mail of its push peers is pushed again (servers drop
   * repeats by id). And mail sent to a name while its session looked offline to the sender (this
   * broker missed heartbeats) went to the name's mailbox, which that session now claims.
   */
  private async deliverWaiting(peers: LocalPeer[]): Promise<void> {
    const pushIds = this.sql.array(peers.filter((p) => p.push).map((p) => p.id), "text");
    const waiting = await this.sql<Array<{ id: string; to_id: string }>>`
      SELECT id, to_id FROM messages WHERE state = 'queued' AND to_id = ANY(${pushIds}::text[]) ORDER BY seq`;
    for (const m of waiting) this.handlers?.onMessage(m.to_id, m.id);
    const names = this.sql.array(peers.map((p) => p.name), "text");
    const mailboxes = await this.sql<Array<{ to_name: string }>>`
      SELECT DISTINCT to_name FROM messages WHERE to_id IS NULL AND state IN ('queued', 'delivered') AND to_name = ANY(${names}::text[])`;
    for (const { to_name } of mailboxes) {
      const holder = peers.find((p) => p.name === to_name);
      if (holder) this.handlers?.onMailbox(holder.id);
    }
  }

  /** Connection failures become StoreUnavailableError (HTTP 503, retryable), like the store's own. */
  private async guard<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      throw unavailableOr(err, this.store.location);
    }
  }

  private onNotice(payload: string): void {
    let notice: Notice;
    try {
      notice = JSON.parse(payload) as Notice;
    } catch {
      return; // not ours: anyone with database access can NOTIFY this channel
    }
    if (notice.k === "msg" && notice.b === this.brokerId) this.handlers?.onMessage(notice.p, notice.m);
    else if (notice.k === "ack" && Array.isArray(notice.ids)) this.handlers?.onAck(notice.ids);
  }

  /** Keeps this broker's heartbeat fresh and its presence rows equal to its live peers. */
  private async beat(): Promise<void> {
    const peers = this.handlers?.localPeers() ?? [];
    const ids = this.sql.array(peers.map((p) => p.id), "text");
    const pushes = this.sql.array(peers.map((p) => p.push), "bool");
    try {
      const [alive] = await this.sql`UPDATE brokers SET heartbeat_at = now() WHERE id = ${this.brokerId} RETURNING id`;
      if (!alive) await this.sql`INSERT INTO brokers (id, host, pid) VALUES (${this.brokerId}, ${this.host}, ${process.pid})`;
      await this.sql`DELETE FROM presence WHERE broker_id = ${this.brokerId} AND peer_id <> ALL(${ids}::text[])`;
      await this.sql`
        UPDATE presence SET push = x.push FROM unnest(${ids}::text[], ${pushes}::bool[]) AS x(id, push)
        WHERE presence.peer_id = x.id AND presence.broker_id = ${this.brokerId} AND presence.push <> x.push`;
      // Rows lost meanwhile come back, unless another host took the name: then it stays theirs, and
      // ours register again under a free one.
      await this.sql`
        INSERT INTO presence (peer_id, name, broker_id, host, push)
        SELECT x.id, x.name, ${this.brokerId}, ${this.host}, x.push
        FROM unnest(${ids}::text[], ${this.sql.array(peers.map((p) => p.name), "text")}::text[], ${pushes}::bool[]) AS x(id, name, push)
        ON CONFLICT DO NOTHING`;
      const lost = await this.sql<Array<{ id: string }>>`
        SELECT x.id FROM unnest(${ids}::text[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.peer_id = x.id)`;
      if (lost.length > 0) this.handlers?.onNamesLost(lost.map((r) => r.id));
      await this.deliverWaiting(peers);
      if (this.failing) this.log("shared database reachable again; heartbeats resumed");
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log(`heartbeat failed (${errorMessage(err)}); other hosts see this host's peers offline until it succeeds`);
      this.failing = true;
    }
  }

  private async withRows(records: PresenceRecord[]): Promise<RemotePeer[]> {
    if (records.length === 0) return [];
    const rows = new Map((await this.store.peersByIds(records.map((r) => r.peer_id))).map((p) => [p.id, p]));
    const peers: RemotePeer[] = [];
    for (const r of records) {
      const row = rows.get(r.peer_id);
      if (row) peers.push({ row, brokerId: r.broker_id, push: r.push, seenAt: Number(r.seen_at) });
    }
    return peers;
  }
}
