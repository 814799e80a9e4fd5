/**
 * The NetworkStore on the shared PostgreSQL: the brokers, presence and notice SQL that lets brokers
 * on several hosts see each other's peers (BrokerNetwork in shared/broker keeps the timers and
 * what a notice means). Ids, names and addresses hold no NUL (the wire schemas refuse control
 * characters in them), so they bind as they are, without the store's NUL escape.
 */
import type { SQL } from "bun";
import type { PgConnection } from "./pg-connection.ts";
import { unavailableOr } from "./postgres.ts";
import type { BrokerIdentity, Heartbeat, NetworkStore, PresenceClaim, PresenceFilter, PresenceRow } from "./store.ts";

/** The channel every broker listens to: only "a console is open here" goes on it. */
const COMMON_CHANNEL = "claude_peers";
/** A broker id as BrokerNetwork makes them; a channel name is built only from one of these. */
const BROKER_ID = /^b-[a-z0-9]{1,32}$/;

/**
 * Broker b-1a2b…'s own channel, claude_peers_b_1a2b…: a wake-up, an ack or a watch event goes to the
 * one broker it is for, so no broker parses the others' mail (and NOTIFY's cost does not grow with
 * the number of hosts listening).
 */
export function channelOf(brokerId: string): string {
  if (!BROKER_ID.test(brokerId)) throw new Error(`"${brokerId}" is not a broker id; no notice is sent to it`);
  return `${COMMON_CHANNEL}_${brokerId.replace("-", "_")}`;
}
const UNIQUE_VIOLATION = "23505";

export class PostgresNetworkStore implements NetworkStore {
  private readonly sql: SQL;

  constructor(
    /** The store's: both share the broker's one query connection (and its units of work). */
    private readonly connection: PgConnection,
    /** The redacted URL, for errors. */
    private readonly location: string,
  ) {
    this.sql = connection.sql;
  }

  join(self: BrokerIdentity): Promise<void> {
    return this.guard(async (sql) => {
      await sql`INSERT INTO brokers (id, host, pid) VALUES (${self.id}, ${self.host}, ${self.pid})`;
      await sql`DELETE FROM brokers WHERE heartbeat_at < now() - interval '1 day'`;
      await sql`DELETE FROM presence WHERE broker_id NOT IN (SELECT id FROM brokers)`;
    });
  }

  async leave(self: BrokerIdentity): Promise<void> {
    await this.sql`DELETE FROM presence WHERE broker_id = ${self.id}`.catch(() => {});
    await this.sql`DELETE FROM brokers WHERE id = ${self.id}`.catch(() => {});
  }

  /**
   * One statement, so one transaction (one WAL flush) a beat: the broker row (back if it was
   * deleted), its presence rows (gone peers out, push flags, rows lost meanwhile back unless another
   * host took the name), then what lost wake-ups missed, and which live broker leads, with its host (the one
   * started first: a leader lasts while it heartbeats, and the next takes over once it reads as
   * offline). Every part sees the statement's snapshot, so a row `back` inserted counts as present.
   * It also says when the earliest awaited reply falls due (the database's clock, as takeOverdue
   * compares), so the leader sweeps for overdue replies then and not on a timer of its own.
   */
  heartbeat(self: BrokerIdentity, peers: readonly PresenceClaim[]): Promise<Heartbeat> {
    const ids = this.sql.array(peers.map((p) => p.id), "text");
    const names = this.sql.array(peers.map((p) => p.name), "text");
    const pushes = this.sql.array(peers.map((p) => p.push), "bool");
    return this.guard(async (sql) => {
      const rows = await sql<Array<{ kind: "lost" | "queued" | "mailbox" | "leader" | "due"; id: string | null; to_id: string | null; seq: bigint | null }>>`
        WITH claims AS (SELECT * FROM unnest(${ids}::text[], ${names}::text[], ${pushes}::bool[]) AS x(id, name, push)),
        beat AS (
          INSERT INTO brokers (id, host, pid) VALUES (${self.id}, ${self.host}, ${self.pid})
          ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING id),
        gone AS (DELETE FROM presence WHERE broker_id = ${self.id} AND peer_id <> ALL(${ids}::text[]) RETURNING peer_id),
        pushed AS (
          UPDATE presence SET push = c.push FROM claims c
          WHERE presence.peer_id = c.id AND presence.broker_id = ${self.id} AND presence.push <> c.push RETURNING peer_id),
        back AS (
          INSERT INTO presence (peer_id, name, broker_id, host, push)
          SELECT c.id, c.name, ${self.id}, ${self.host}, c.push FROM claims c
          ON CONFLICT DO NOTHING RETURNING peer_id)
        SELECT 'lost' AS kind, c.id, NULL AS to_id, NULL::bigint AS seq FROM claims c
          WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.peer_id = c.id) AND NOT EXISTS (SELECT 1 FROM back WHERE back.peer_id = c.id)
        UNION ALL
        SELECT 'queued', m.id, m.to_id, m.seq FROM messages m JOIN claims c ON c.push AND m.to_id = c.id WHERE m.state = 'queued'
        UNION ALL
        SELECT DISTINCT 'mailbox', m.to_name, NULL, NULL::bigint FROM messages m
          WHERE m.to_id IS NULL AND m.state IN ('queued', 'delivered') AND m.to_name = ANY(${names}::text[])
        UNION ALL
        (SELECT 'leader', b.id, b.host, NULL::bigint FROM brokers b
          WHERE b.heartbeat_at > now() - make_interval(secs => ${self.offlineAfterS}) ORDER BY b.started_at, b.id LIMIT 1)
        UNION ALL
        SELECT 'due', NULL, NULL, min(m.reply_by) - (extract(epoch FROM now()) * 1000)::bigint FROM messages m
          WHERE m.reply_status = 'awaiting' AND m.state IN ('queued', 'delivered', 'read')`;
      const due = rows.find((r) => r.kind === "due")?.seq;
      return {
        leader: rows.some((r) => r.kind === "leader" && r.id === self.id),
        // The leader's row carries its host in to_id.
        leaderHost: rows.find((r) => r.kind === "leader")?.to_id ?? null,
        lost: rows.filter((r) => r.kind === "lost").map((r) => r.id!),
        // In the order they were sent, as pushes go.
        queued: rows.filter((r) => r.kind === "queued").sort((a, b) => Number(a.seq! - b.seq!)).map((r) => ({ id: r.id!, to_id: r.to_id! })),
        mailboxes: rows.filter((r) => r.kind === "mailbox").map((r) => r.id!),
        replyDueInMs: due === null || due === undefined ? null : Number(due),
      };
    }, "urgent");
  }

  othersPresence(self: BrokerIdentity, to?: { id?: string; name?: string; host?: string }, filter: PresenceFilter = {}): Promise<PresenceRow[]> {
    const names = filter.names ? this.sql.array([...filter.names], "text") : null;
    const ids = filter.ids ? this.sql.array([...filter.ids], "text") : null;
    const repos = filter.repoKeys ? this.sql.array([...filter.repoKeys], "text") : null;
    const family = filter.nameFamily ? `${filter.nameFamily.base.replace(/[\\%_]/g, "\\$&")}-%` : null;
    return this.guard(async (sql) => {
      const rows = to
        ? await sql<PresenceRow[]>`
          SELECT pr.peer_id, pr.broker_id, pr.push, (extract(epoch FROM b.heartbeat_at) * 1000)::float8 AS seen_at
          FROM presence pr JOIN brokers b ON b.id = pr.broker_id
          WHERE pr.broker_id <> ${self.id} AND b.heartbeat_at > now() - make_interval(secs => ${self.offlineAfterS})
            AND (pr.peer_id = ${to.id ?? null} OR (pr.name = ${to.name ?? null} AND (${to.host ?? null}::text IS NULL OR pr.host = ${to.host ?? null})))
          ORDER BY (pr.name = ${to.name ?? null}) DESC NULLS LAST LIMIT 1`
        : await sql<PresenceRow[]>`
          SELECT pr.peer_id, pr.broker_id, pr.push, (extract(epoch FROM b.heartbeat_at) * 1000)::float8 AS seen_at
          FROM presence pr JOIN brokers b ON b.id = pr.broker_id
          WHERE pr.broker_id <> ${self.id} AND b.heartbeat_at > now() - make_interval(secs => ${self.offlineAfterS})
            AND (${names}::text[] IS NULL OR pr.name = ANY(${names}::text[]))
            AND (${ids}::text[] IS NULL OR pr.peer_id = ANY(${ids}::text[]))
            AND (${family}::text IS NULL OR pr.name = ${filter.nameFamily?.name ?? null} OR pr.name LIKE ${family})
            AND (${repos}::text[] IS NULL OR EXISTS (SELECT 1 FROM peers pe WHERE pe.id = pr.peer_id AND pe.repo_key = ANY(${repos}::text[])))`;
      return rows.map((r) => ({ ...r, seen_at: Number(r.seen_at) }));
    });
  }

  countOthers(self: BrokerIdentity): Promise<number> {
    return this.guard(async (sql) => {
      const [row] = await sql<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM presence pr JOIN brokers b ON b.id = pr.broker_id
        WHERE pr.broker_id <> ${self.id} AND b.heartbeat_at > now() - make_interval(secs => ${self.offlineAfterS})`;
      return row?.n ?? 0;
    });
  }

  /** The unique index on presence.name settles two hosts claiming one name at the same moment. */
  async claimName(self: BrokerIdentity, peer: PresenceClaim): Promise<boolean> {
    try {
      await this.connection.atomically(async () => {
        // A holder whose broker stopped heartbeating, or one of ours (presence here found the name
        // free), is stale: its row gives way.
        await this.connection.run((tx) => tx`
          DELETE FROM presence p WHERE p.name = ${peer.name} AND p.peer_id <> ${peer.id}
            AND (p.broker_id = ${self.id} OR NOT EXISTS (SELECT 1 FROM brokers b WHERE b.id = p.broker_id AND b.heartbeat_at > now() - make_interval(secs => ${self.offlineAfterS})))`);
        await this.connection.run((tx) => tx`
          INSERT INTO presence (peer_id, name, broker_id, host, push) VALUES (${peer.id}, ${peer.name}, ${self.id}, ${self.host}, ${peer.push})
          ON CONFLICT (peer_id) DO UPDATE SET name = excluded.name, broker_id = excluded.broker_id, host = excluded.host,
            push = excluded.push, since = now()`);
      });
      return true;
    } catch (err) {
      if ((err as { errno?: string }).errno === UNIQUE_VIOLATION || (err as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw unavailableOr(err, this.location);
    }
  }

  async releaseName(self: BrokerIdentity, peerId: string): Promise<void> {
    await this.guard((sql) => sql`DELETE FROM presence WHERE peer_id = ${peerId} AND broker_id = ${self.id}`);
  }

  /** Both subscriptions share Bun's one LISTEN connection. */
  listen(self: string, onNotice: (payload: string) => void, onSubscribed: () => void): Promise<() => Promise<void>> {
    return this.guard(async () => {
      const own = await this.sql.listen(channelOf(self), onNotice, onSubscribed);
      const common = await this.sql.listen(COMMON_CHANNEL, onNotice);
      return async () => {
        await Promise.all([own.unlisten(), common.unlisten()]);
      };
    }, "listen");
  }

  async notify(to: string | null, payload: string): Promise<void> {
    const channel = to === null ? COMMON_CHANNEL : channelOf(to);
    // A query, not Bun's sql.notify: inside a unit of work it is part of the transaction, sent at its commit.
    await this.guard((sql) => sql`SELECT pg_notify(${channel}, ${payload})`);
  }

  /**
   * Runs `query` on the broker's query connection (urgent: ahead of the work waiting; "listen": on
   * LISTEN's own connection, past the gate). Connection failures become StoreUnavailableError (HTTP
   * 503, retryable), like the store's own.
   */
  private async guard<T>(query: (sql: SQL) => PromiseLike<T>, lane: "normal" | "urgent" | "listen" = "normal"): Promise<T> {
    try {
      return await (lane === "listen" ? query(this.sql) : this.connection.run(query, lane === "urgent"));
    } catch (err) {
      throw unavailableOr(err, this.location);
    }
  }
}
