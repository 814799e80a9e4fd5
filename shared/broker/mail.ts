/**
 * The broker's mail: sending, acks, reads, inboxes, polls and mailboxes. The one place a message
 * changes state (queued → delivered → read, a mailbox handed to its name's new session), and so
 * the one place that tells watchers about messages and ends senders' waits for acks.
 */
import { WireError, errorMessage } from "../errors.ts";
import { MAX_GROUP_MEMBERS, MAX_MESSAGE_BYTES, type Message, type SendBody, type SendResult } from "../protocol.ts";
import { groupLabel } from "../tool-text.ts";
import type { HistoryQuery, MessageRow, NewMessage, PeerRow, Store, SweepTime } from "../store/store.ts";
import { AckWaits, type AckOutcome } from "./ack-waits.ts";
import { DAMPING, LoopDamping, type DampingLimits } from "./damping.ts";
import { expiryNotices } from "./expiry-notice.ts";
import type { Groups } from "./groups.ts";
import type { MailFlags } from "./mail-flags.ts";
import { newMessageId } from "./ids.ts";
import { MailboxQuota } from "./mailbox-quota.ts";
import { Pauses } from "./pauses.ts";
import { parseAddress, type LiveAddress, type LivePeer, type Presence } from "./presence.ts";
import type { Pusher } from "./push.ts";
import { SEND_RATE, SendPace, type PaceLimits } from "./send-pace.ts";
import { toWireMessage } from "./to-wire.ts";
import type { Watchers } from "./watchers.ts";

/** How long send waits for the recipient's ack, so the sender usually sees "delivered". */
export const ACK_WAIT_MS = 1000;

/** A copy whose recipient's broker on another host was woken: the wait for its ack. */
interface Woken {
  acked: Promise<AckOutcome | undefined>;
}

/** Who is sending: a registered peer, the operator through the CLI, or claude-peers itself (notices). */
export type Sender = { kind: "peer"; row: PeerRow } | { kind: "operator" } | { kind: "system" };

/** How each kind of sender appears to the recipient; peers' ids (p-…) can never be these. */
const SENDER_OF = {
  operator: { id: "cli", name: "cli", summary: "a person at the terminal (claude-peers CLI)" },
  system: { id: "claude-peers", name: "claude-peers", summary: "claude-peers itself: a notice, not a message from a peer" },
} as const;

/** What a send stored (the wire's send result without the unread count): for a group send, every copy too. */
export type Sent = Pick<SendResult, "message" | "copies">;

/**
 * A message's recipient: a live peer (here or on another host), or, `offline`, a session that is
 * gone (its id, when addressed by it) or a name's mailbox (no id).
 */
type Recipient = LiveAddress | { id: string | null; name: string; brokerId?: undefined; offline: true };

/** How mail reaches the brokers of other hosts (through the shared PostgreSQL); absent on SQLite. */
export interface OtherHosts {
  /** Tells the broker holding `peerId` that message `messageId` waits for it. */
  wake(brokerId: string, peerId: string, messageId: string): Promise<void>;
  /** Tells the brokers where their senders wait that these messages were acknowledged or read (`outcome`), or will not be pushed. */
  acked(ids: readonly string[], outcome?: AckOutcome): Promise<void>;
}

export interface MailOptions {
  store: Store;
  presence: Presence;
  pusher: Pusher;
  watchers: Watchers;
  groups: Groups;
  mailboxTtlMs: number;
  /** How long held mail (a loop, a pause) waits for a person before it expires; mailboxTtlMs when absent. */
  heldTtlMs?: number;
  otherHosts?: OtherHosts;
  sendRate?: PaceLimits;
  damping?: DampingLimits;
  /** The hooks' mail flags: set whenever mail arrives for a session. */
  flags?: MailFlags;
  now: () => number;
  log: (line: string) => void;
}

export class Mail {
  private readonly store: Store;
  private readonly presence: Presence;
  private readonly pusher: Pusher;
  private readonly watchers: Watchers;
  private readonly groups: Groups;
  private readonly damping: LoopDamping;
  private readonly flags: MailFlags | undefined;
  private readonly otherHosts: OtherHosts | undefined;
  private readonly mailboxTtlMs: number;
  private readonly heldTtlMs: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly acks = new AckWaits(ACK_WAIT_MS);
  /** Peer id → check_messages calls waiting for its next mail. */
  private readonly arrivals = new Map<string, Set<() => void>>();
  /** Every arrival counts: a flag is not cleared by a count an arrival overtook. */
  private arrivalCount = 0;
  private readonly sendRate: PaceLimits;
  private readonly pace: SendPace;
  private readonly quota: MailboxQuota;
  private readonly pauses: Pauses;
  /** Set by housekeeping with a shared database: a reply awaited here falls due in this many ms (its sweep runs then). */
  replyAwaited: ((inMs: number) => void) | undefined;

  constructor(opts: MailOptions) {
    this.store = opts.store;
    this.presence = opts.presence;
    this.pusher = opts.pusher;
    this.watchers = opts.watchers;
    this.groups = opts.groups;
    this.flags = opts.flags;
    this.otherHosts = opts.otherHosts;
    this.mailboxTtlMs = opts.mailboxTtlMs;
    this.heldTtlMs = opts.heldTtlMs ?? opts.mailboxTtlMs;
    this.now = opts.now;
    this.log = opts.log;
    this.sendRate = opts.sendRate ?? SEND_RATE;
    this.pace = new SendPace(this.sendRate, this.now);
    this.quota = new MailboxQuota(this.store);
    this.damping = new LoopDamping(this.store, opts.damping ?? DAMPING, this.now, !opts.otherHosts);
    this.pauses = new Pauses(this.store, !opts.otherHosts);
  }

  // ---- sending ----------------------------------------------------------------------------------

  /**
   * Stores a message for each recipient (one peer, or every member of a group but the sender) and
   * hands each copy over: pushed, woken on another host, or left in a name's mailbox. A group's
   * copies are stored all or none, so a broker that dies mid fan-out never leaves half a send for
   * the sender's retry (same idempotency key) to double.
   *
   * With a shared database, the checks, the insert, the wake-up of each recipient's broker on
   * another host and the sender's unread counts are one unit (Store.atomically): one transaction,
   * whose NOTIFY goes out when it commits. The waits (the pace, the ack) stay outside it.
   */
  async send(sender: Sender, body: SendBody): Promise<Sent & { counts?: { unread: number; queued: number } }> {
    const from = sender.kind === "peer" ? sender.row : { ...SENDER_OF[sender.kind], cwd: "" };
    const from_id = from.id;
    // First, before any work: a sender ahead of its pace waits its turn (costing the broker a
    // timer), and one too far ahead is turned away for the price of a map lookup.
    await this.keepPace(from_id, 1);
    if (Buffer.byteLength(body.text, "utf8") > MAX_MESSAGE_BYTES) {
      throw new WireError("payload_too_large", `message: over ${MAX_MESSAGE_BYTES / 1024} KiB; split it or send a file path instead`, { field: "text" });
    }
    // A fan-out is resolved and paced per copy first, outside the unit: its pace may have to wait.
    let fanOut: { group: string | null; targets: Recipient[] } | undefined;
    if (body.to === "*" || body.to.startsWith("#")) {
      const earlier = await this.earlierSend(from_id, body);
      if (earlier) return this.sentOf(earlier);
      fanOut = await this.resolveRecipients(body.to, from);
      if (fanOut.targets.length > 1) await this.keepPace(from_id, fanOut.targets.length - 1); // each copy counts
    }
    const stored = await this.store.atomically(() => this.storeSend(sender, from, body, fanOut));
    if ("earlier" in stored) return stored.earlier;
    const { rows, targets, woken, counts } = stored;
    for (const row of rows) {
      this.watchers.emit({ type: "event", event: "sent", message: toWireMessage(row) });
      if (row.state === "queued") this.arrived(row.to_id);
      if (row.reply_by !== null && row.state !== "held") this.replyAwaited?.(row.reply_by - this.now());
    }
    const handed = await Promise.all(rows.map((row, i) => this.handOver(row, targets[i]!, woken[i])));
    // A resume may have run between the pause check and the insert: what it missed is freed now.
    for (const name of new Set(rows.filter((r) => r.held_by === "pause").map((r) => r.to_name))) {
      if (!(await this.pauses.has(name))) await this.releasePauseHeld(name);
    }
    const messages = handed.map(toWireMessage);
    const sent = rows[0]!.to_group === null ? { message: messages[0]! } : { message: messages[0]!, copies: messages };
    return counts ? { ...sent, counts } : sent;
  }

  /** The send an idempotency key was first used for: the first request got through, this is its retry. */
  private earlierSend(fromId: string, body: SendBody): Promise<MessageRow | null> {
    return body.idempotency_key === undefined ? Promise.resolve(null) : this.store.messageBySendKey(fromId, body.idempotency_key);
  }

  /**
   * The part of a send inside its unit: the checks, the insert, the wake-up of each recipient on
   * another host (sent at commit), and a peer sender's unread counts for its answer.
   */
  private async storeSend(
    sender: Sender,
    from: { id: string; name: string; summary: string; cwd: string },
    body: SendBody,
    fanOut: { group: string | null; targets: Recipient[] } | undefined,
  ): Promise<
    | { earlier: Sent }
    | { rows: MessageRow[]; targets: Recipient[]; woken: Array<Woken | undefined>; counts?: { unread: number; queued: number } }
  > {
    const from_id = from.id;
    const now = this.now();
    const { group, targets } = fanOut ?? (await this.resolveRecipients(body.to, from));

    const original = body.in_reply_to === undefined ? null : await this.store.getMessage(body.in_reply_to);
    if (body.in_reply_to !== undefined && !original) throw new WireError("not_found", `in_reply_to: no message ${body.in_reply_to}`, { field: "in_reply_to" });
    const dampedTo = { name: targets[0]!.name, group };
    // From the rules' checks to the store, one send at a time per pair and per text: sends in
    // flight together can neither pass the pair's limit nor both store the same text.
    const releases = [await this.damping.lock(sender.kind, from_id, dampedTo, body.text, targets.map((t) => [from.name, t.name] as const))];
    let rows: MessageRow[];
    try {
      // The idempotency key, under the lock a retry of the same send shares (and with a shared
      // database, in the unit): a fan-out's first attempt may have stored it while this one waited its pace.
      const earlier = await this.earlierSend(from_id, body);
      if (earlier) return { earlier: await this.sentOf(earlier) };
      // The duplicate rule is for sessions in a retry loop: a person may say "ok" twice.
      if (sender.kind === "peer") await this.damping.refuseDuplicate(from_id, dampedTo, body.text);
      // Replying to a message is proof it was read.
      if (original && sender.kind === "peer" && original.to_id === from_id) await this.markRead(sender.row, [original.id]);

      // The message this one replaces is withdrawn first: the new one is what the recipient should act on.
      if (body.replaces !== undefined) {
        if (sender.kind !== "peer") throw new WireError("forbidden", "replaces: only a peer can replace its own messages", { field: "replaces" });
        await this.retract(sender.row, body.replaces, { replaced: true });
      }

      // A paused name holds everything but a person's own mail; a loop is between peers only: a
      // person or a notice never starts or feeds one.
      const paused = await Promise.all(targets.map((t) => (sender.kind === "operator" ? false : this.pauses.has(t.name))));
      const held = await Promise.all(targets.map((t, i) => paused[i] || (sender.kind === "peer" && this.damping.holds(from.name, t.name))));
      for (const t of targets) releases.push(await this.quota.reserve(t));
      const first = newMessageId();
      const news = targets.map((t, i): NewMessage => ({
        id: i === 0 ? first : newMessageId(),
        from_id,
        from_name: from.name,
        from_summary: from.summary,
        from_cwd: from.cwd,
        to_id: t.id,
        to_name: t.name,
        text: body.text,
        in_reply_to: body.in_reply_to ?? null,
        state: held[i] ? "held" : "queued",
        ...(held[i] ? { held_by: paused[i] ? ("pause" as const) : ("pair" as const) } : {}),
        created_at: now,
        expires_at: now + (held[i] ? this.heldTtlMs : this.mailboxTtlMs),
        send_key: i === 0 ? (body.idempotency_key ?? null) : null, // the first copy finds the others
        reply_by: body.reply_within_s === undefined ? null : now + body.reply_within_s * 1000,
        replaces: body.replaces ?? null,
        to_group: group,
        fanout_id: group === null ? null : first,
      }));
      const guard = sender.kind === "peer" ? this.damping.guard(from.name, targets.map((t) => t.name)) : undefined;
      rows = group === null && !guard ? [await this.store.insertMessage(news[0]!)] : await this.store.insertMessages(news, guard);
      this.damping.stored({ kind: sender.kind, id: from_id, name: from.name }, dampedTo, rows);
    } finally {
      for (const release of releases) release();
    }
    // A stored reply is the one its original's sender may be waiting for (reply_within_s).
    if (original?.reply_status && sender.kind === "peer") await this.store.markAnswered(original.id, sender.row);
    // Each recipient on another host is woken in this unit: its broker hears of the message once it is stored.
    const woken: Array<Woken | undefined> = [];
    try {
      for (const [i, row] of rows.entries()) woken.push(await this.wakeInUnit(row, targets[i]!));
    } catch (err) {
      this.acks.end(rows.map((r) => r.id)); // nothing is stored: no one is waiting for these
      throw err;
    }
    const counts = sender.kind === "peer" ? await this.store.unreadCounts(from_id) : undefined;
    return { rows, targets, woken, ...(counts ? { counts } : {}) };
  }

  /**
   * A stored copy for a live peer on another host: its wait for the ack begins, and its broker is
   * woken (with a shared database, inside the send's transaction). Undefined for every other copy.
   */
  private async wakeInUnit(row: MessageRow, target: Recipient): Promise<Woken | undefined> {
    if (row.state !== "queued" || "offline" in target || !target.brokerId || !target.id || !this.otherHosts) return undefined;
    // Wait first: an ack from another host can come back before wake()'s own answer does.
    const acked = this.acks.wait(row.id);
    await this.otherHosts.wake(target.brokerId, target.id, row.id);
    return { acked };
  }

  /** Takes `n` of the sender's tokens: waits its turn when ahead of its pace, refuses when too far ahead. */
  private async keepPace(fromId: string, n: number): Promise<void> {
    const pace = this.pace.take(fromId, n);
    if ("retryAfterMs" in pace) {
      throw new WireError(
        "rate_limited",
        `this sender is over ${this.sendRate.perSecond} messages a second, ${this.sendRate.maxWaitMs / 1000} s ahead of its pace; nothing was sent, retry in ${(Math.ceil(pace.retryAfterMs / 100) / 10).toFixed(1)} s`,
        { retryAfterMs: pace.retryAfterMs },
      );
    }
    if (pace.waitMs > 0) await Bun.sleep(pace.waitMs);
  }

  /** A stored send as its sender sees it: the message, and for a group send every copy. */
  private async sentOf(row: MessageRow): Promise<Sent> {
    if (row.fanout_id === null) return { message: toWireMessage(row) };
    const copies = (await this.store.copiesOf(row.fanout_id)).map(toWireMessage);
    return { message: copies[0] ?? toWireMessage(row), copies };
  }

  /**
   * Hands a stored copy to its recipient: pushed here (waiting briefly for the ack, so the sender
   * usually sees "delivered"), woken on another host (`woken`: in the send's unit already), or left
   * in a mailbox. Held mail waits for a person.
   */
  private async handOver(row: MessageRow, target: Recipient, woken?: Woken): Promise<MessageRow> {
    if (row.state === "held") return row;
    if (woken) return this.afterAck(row, await woken.acked);
    if ("offline" in target) return this.toMailbox(row);
    // Wait first: an ack from another host can come back before wake()'s own answer does.
    const acked = this.acks.wait(row.id);
    if ((target.id && this.pusher.push(target.id, row)) || (await this.wakeRemote(target, row.id))) {
      return this.afterAck(row, await acked);
    }
    this.acks.end([row.id]);
    return row;
  }

  /** The copy as its ack left it (the ack says how), else as the store has it now. */
  private async afterAck(row: MessageRow, outcome: AckOutcome | undefined): Promise<MessageRow> {
    if (outcome?.state === "delivered") return { ...row, state: "delivered", delivered_at: outcome.at };
    if (outcome?.state === "read") return { ...row, state: "read", read_at: outcome.at, delivered_at: row.delivered_at ?? outcome.at };
    return (await this.store.getMessage(row.id)) ?? row;
  }

  /**
   * Mail stored for a session that is gone, or in a name's mailbox. A session may have taken the
   * name (and claimed its mailbox) while this send was on its way: then it claims again, or the
   * message would wait for the next session of that name. A holder on another host claims mail
   * without an id at its broker's next heartbeat.
   */
  private async toMailbox(row: MessageRow): Promise<MessageRow> {
    const holder = await this.presence.named(row.to_name);
    if (!holder || holder.brokerId) return row;
    await this.claimMailbox(holder.id);
    return (await this.store.getMessage(row.id)) ?? row;
  }

  /**
   * Whom `to` reaches: one peer; every member of `#group` but the sender, each live one where it
   * is and the others by name, in their mailboxes; or with `*`, every other live session here.
   */
  private async resolveRecipients(to: string, from: { id: string; name: string }): Promise<{ group: string | null; targets: Recipient[] }> {
    if (to === "*") {
      const targets = this.presence.localLive(from.id).filter((p) => p.name !== from.name);
      if (targets.length === 0) throw new WireError("not_found", "to: * reaches every other live session on this machine, and there is none", { field: "to" });
      if (targets.length > MAX_GROUP_MEMBERS) {
        throw new WireError("conflict", `to: * would reach ${targets.length} sessions, more than ${MAX_GROUP_MEMBERS} at once; send to a #group instead`, { field: "to" });
      }
      return { group: "*", targets };
    }
    if (to.startsWith("#")) {
      const group = to.slice(1);
      const names = await this.groups.members(group);
      if (names.length === 0) throw new WireError("not_found", `to: no group #${group} (a group exists while someone is in it; join_group creates it)`, { field: "to" });
      const others = names.filter((name) => name !== from.name);
      if (others.length === 0) throw new WireError("not_found", `to: you are the only member of #${group}`, { field: "to" });
      const live = await this.presence.liveByName(others);
      const targets = others.map((name): Recipient => live.get(name) ?? { id: null, name, offline: true });
      return { group, targets: targets.filter((t) => t.id !== from.id) };
    }
    const target = await this.resolveRecipient(to);
    if (target.id === from.id) throw new WireError("bad_request", "to: that is this session itself; pick another peer from list_peers", { field: "to" });
    return { group: null, targets: [target] };
  }

  /** An id, a name or name@host; a known but offline name gets mail in its mailbox. `field`: the body field `to` came in. */
  private async resolveRecipient(to: string, field = "to"): Promise<Recipient> {
    const live = await this.presence.find(to);
    if (live) return live;
    const { name, host } = parseAddress(to);
    const stored = host ? await this.store.lastPeerNamed(name) : ((await this.store.getPeer(to)) ?? (await this.store.lastPeerNamed(to)));
    if (stored && (!host || stored.host === host)) {
      // That session is gone; its mail follows its name, to whichever session holds it now.
      const heir = await this.presence.named(stored.name);
      if (heir) return heir;
      return { id: stored.id === to ? stored.id : null, name: stored.name, offline: true };
    }
    const here = this.presence.host;
    const names = (await this.presence.list("network", {})).map((p) => (p.host === here ? p.name : `${p.name}@${p.host}`));
    const known = names.length ? `Live peers: ${names.join(", ")}.` : "No peers are live.";
    throw new WireError("not_found", `${field}: no peer with id or name "${to}". ${known}`, { field });
  }

  /** Asks the recipient's broker on another host to push; the message is stored either way. */
  private async wakeRemote(target: Recipient, messageId: string): Promise<boolean> {
    if (!this.otherHosts || !target.brokerId || !target.id) return false;
    try {
      await this.otherHosts.wake(target.brokerId, target.id, messageId);
      return true;
    } catch (err) {
      // Stored and queued: that broker's next heartbeat hands it over (BrokerNetwork.deliverWaiting).
      this.log(`could not wake the broker of ${target.name} for ${messageId}: ${errorMessage(err)}`);
      return false;
    }
  }

  /**
   * Tells each sender whose awaited reply did not come in time, with a notice from claude-peers
   * itself through the usual delivery paths. Called every sweep; with a shared database, the
   * broker whose sweep takes an overdue message (each is taken once) sends its notice.
   */
  async noticeOverdue(at: SweepTime = this.now()): Promise<void> {
    for (const m of await this.store.takeOverdue(at)) {
      if (m.from_id === SENDER_OF.operator.id) continue; // nobody to tell: a person at a terminal
      const waited = formatWait(m.reply_by! - m.created_at);
      const which = m.to_group && m.fanout_id !== m.id ? `${m.id} (its copy of ${m.fanout_id} to ${groupLabel(m.to_group)})` : m.id;
      const text = `No reply from ${m.to_name} to ${which} after ${waited}. It may still answer; ask again, ask someone else, or go on without it.`;
      await this.send({ kind: "system" }, { to: m.from_id, text, in_reply_to: m.id }).catch((err) =>
        this.log(`could not tell ${m.from_name} that ${m.id} is overdue: ${errorMessage(err)}`),
      );
    }
  }

  /**
   * The sender withdraws a message not yet read (for a group send, every copy not yet read): it is
   * never pushed or returned again. A recipient that may already have been shown it (delivered, or
   * pushed and not yet acknowledged) gets a notice from claude-peers that it is withdrawn, unless a
   * replacement says so.
   */
  async retract(sender: PeerRow, messageId: string, opts: { replaced?: boolean } = {}): Promise<Sent> {
    return this.withdraw(sender.id, messageId, opts.replaced ? "replaces" : "message_id", opts.replaced ? "replaced" : "sender");
  }

  /** The person in charge withdraws any message not yet read (bun cli.ts retract, the console). */
  async retractAsOperator(messageId: string): Promise<Sent> {
    const m = await this.store.getMessage(messageId);
    if (!m) throw new WireError("not_found", `message_id: no message ${messageId}; see bun cli.ts history`, { field: "message_id" });
    return this.withdraw(m.from_id, messageId, "message_id", "operator");
  }

  private async withdraw(fromId: string, messageId: string, field: string, by: "sender" | "replaced" | "operator"): Promise<Sent> {
    const before = await this.store.retract(fromId, messageId, this.now());
    if (before.length === 0) {
      const m = await this.store.getMessage(messageId);
      if (!m || m.from_id !== fromId) throw new WireError("not_found", `${field}: no message ${messageId} of yours`, { field });
      if (m.state === "read") {
        throw new WireError("conflict", `${field}: ${messageId} was already read by ${m.to_name}; send a correction instead (send_message with in_reply_to=${messageId})`, { field });
      }
      throw new WireError("conflict", `${field}: ${messageId} is ${m.state} already; there is nothing to take back`, { field });
    }
    // Inside a send's unit (replaces), told once it committed: a rolled-back send withdrew nothing.
    this.store.afterCommit(() => this.acks.end(before.map((m) => m.id)));
    for (const m of before) {
      this.store.afterCommit(() => this.watchers.emit({ type: "event", event: "retracted", message: toWireMessage({ ...m, state: "retracted" }) }));
      // Queued to a peer with a push connection (here or on another host): the push may be on its screen.
      const mayHaveSeen = m.state === "delivered" || (m.state === "queued" && m.to_id !== null && (await this.presence.hasPush(m.to_id)));
      if (!mayHaveSeen || by === "replaced" || !m.to_id) continue;
      const who = by === "operator" ? "the person in charge" : "its sender";
      const text = `Message ${m.id} from ${m.from_name} was withdrawn by ${who}: disregard it.`;
      await this.send({ kind: "system" }, { to: m.to_id, text, in_reply_to: m.id }).catch((err) =>
        this.log(`could not tell ${m.to_name} that ${m.id} is withdrawn: ${errorMessage(err)}`),
      );
    }
    return this.sentOf((await this.store.getMessage(messageId)) ?? { ...before[0]!, state: "retracted" });
  }

  // ---- held pairs -------------------------------------------------------------------------------

  /**
   * A person releases the mail held between two peers (by name or id): queued again and handed
   * over in the order it was sent; or, with `discard`, thrown away. Either way the pair's count
   * starts afresh. Returns the messages as they are now.
   */
  async release(a: string, b: string, discard: boolean): Promise<Message[]> {
    // By name: held mail is between names, whichever sessions held them.
    const [{ name: nameA }, { name: nameB }] = await Promise.all([this.resolveRecipient(a, "a"), this.resolveRecipient(b, "b")]);
    for (const [name, field] of [[nameA, "a"], [nameB, "b"]] as const) {
      // Its held mail is the pause's to release: a pair release would deliver into the pause.
      if (await this.pauses.has(name)) throw new WireError("conflict", `${field}: ${name} is paused; resume it first (bun cli.ts resume ${name})`, { field });
    }
    const now = this.now();
    const rows = await this.store.releaseHeld(nameA, nameB, now, discard, now + this.mailboxTtlMs);
    if (rows.length > 0) this.damping.released(nameA, nameB); // the store starts the pair's count again at released_at
    for (const row of rows) this.watchers.emit({ type: "event", event: "released", message: toWireMessage(row) });
    const out: MessageRow[] = [];
    for (const row of rows) out.push(row.state === "queued" ? await this.handOverStored(row) : row);
    return out.map(toWireMessage);
  }

  // ---- paused sessions --------------------------------------------------------------------------

  /**
   * A person pauses a session's inbound mail (by id or name; the pause belongs to the name): mail
   * to it from now on is stored held, a person's own excepted. changed is false when it was paused already.
   */
  async pause(peer: string): Promise<{ name: string; changed: boolean }> {
    const { name } = await this.resolveRecipient(peer, "peer");
    const changed = await this.pauses.pause(name, this.now());
    if (changed) this.watchers.emit({ type: "event", event: "paused", name });
    return { name, changed };
  }

  /** Ends a pause: the mail it held is queued again and handed over in the order it was sent. */
  async resume(peer: string): Promise<{ name: string; changed: boolean; messages: Message[] }> {
    // A paused name whose sessions are long forgotten (pruned) can still be resumed by name.
    const name = (await this.pauses.has(peer)) ? peer : (await this.resolveRecipient(peer, "peer")).name;
    const now = this.now();
    const rows = await this.pauses.resume(name, now, now + this.mailboxTtlMs);
    if (rows === null) return { name, changed: false, messages: [] };
    this.watchers.emit({ type: "event", event: "resumed", name });
    return { name, changed: true, messages: await this.handOverReleased(rows) };
  }

  /** Frees mail stored held for a name no longer paused (a send that crossed a resume). */
  private async releasePauseHeld(name: string): Promise<void> {
    const now = this.now();
    await this.handOverReleased(await this.store.releasePauseHeld(name, now, now + this.mailboxTtlMs));
  }

  /** Released mail: told to watchers, then handed over in the order it was sent. */
  private async handOverReleased(rows: MessageRow[]): Promise<Message[]> {
    for (const row of rows) this.watchers.emit({ type: "event", event: "released", message: toWireMessage(row) });
    const out: MessageRow[] = [];
    for (const row of rows) out.push(await this.handOverStored(row));
    return out.map(toWireMessage);
  }

  /** Paused names and since when (ms). */
  paused(): Promise<Map<string, number>> {
    return this.pauses.all();
  }

  /** Hands over mail queued again (released): to its session, here or elsewhere, or its name's new one. */
  private async handOverStored(row: MessageRow): Promise<MessageRow> {
    const live = row.to_id ? await this.presence.find(row.to_id) : null;
    if (live) {
      this.arrived(live.id);
      return this.handOver(row, live);
    }
    return this.toMailbox(row);
  }

  // ---- from other hosts -------------------------------------------------------------------------

  /**
   * Another host stored a message for a peer of this broker. Pushed, its ack ends the sender's wait;
   * a peer that polls picks it up on its next poll, so the sender is told at once not to wait for
   * an ack (as a sender on this host is not), instead of waiting out ACK_WAIT_MS.
   */
  async deliverFromElsewhere(peerId: string, messageId: string): Promise<void> {
    this.arrived(peerId);
    if (await this.pusher.pushStored(peerId, messageId)) return;
    this.otherHosts?.acked([messageId]).catch((err) => this.log(`could not end the wait for ${messageId}: ${errorMessage(err)}`));
  }

  /** Acks and reads from another host end the wait of senders here (with what they did, when the notice says). */
  ackedElsewhere(ids: readonly string[], outcome?: AckOutcome): void {
    this.acks.end(ids, outcome);
  }

  // ---- mailboxes --------------------------------------------------------------------------------

  /**
   * Mail waiting in the mailbox of the name this live peer holds (sent while no session had it, or
   * while it looked offline elsewhere) becomes the peer's, queued, and is pushed if it can be.
   */
  async claimMailbox(peerId: string): Promise<void> {
    const entry = this.presence.get(peerId);
    if (!entry) return;
    // Only the liveness of the sessions this name's mail was set for, not of the whole network.
    const live = await this.presence.liveAmong(await this.store.mailboxRecipients(entry.row.name, this.now()));
    await this.store.claimMailbox(entry.row.name, peerId, live, this.now());
    this.quota.forget(peerId); // the claimed mail now counts toward this id
    this.arrived(peerId);
    if (entry.socket) await this.pusher.pushQueued(peerId);
  }

  // ---- acks and reads ---------------------------------------------------------------------------

  /** The ack and the notice that ends its sender's wait on another host: one unit (one transaction). */
  async acknowledge(peer: PeerRow, ids: readonly string[]): Promise<string[]> {
    const now = this.now();
    const updated = await this.store.atomically(async () => {
      const updated = await this.store.markDelivered(peer.id, ids, now);
      await this.endWaits(ids, updated, { state: "delivered", at: now });
      return updated;
    });
    await this.announce("delivered", updated);
    return updated;
  }

  /** The read, the notice that ends a sender's wait, and the session's mail flag: one unit. */
  async markRead(peer: PeerRow, ids: readonly string[]): Promise<string[]> {
    const updated = await this.store.atomically(() => this.markReadInUnit(peer, ids));
    await this.announce("read", updated);
    return updated;
  }

  private async markReadInUnit(peer: PeerRow, ids: readonly string[]): Promise<string[]> {
    const now = this.now();
    const updated = await this.store.markRead(peer.id, ids, now);
    await this.endWaits(ids, updated, { state: "read", at: now });
    if (updated.length > 0) await this.refreshFlag(peer.id);
    return updated;
  }

  /**
   * Sets the session's mail flag when unread mail waits, else clears it (a hook then starts no Bun).
   * Decided over every live peer that shares one of its session ids (plugin and `claude mcp add`,
   * a session resumed twice), and never cleared across an arrival that came while it counted.
   */
  async refreshFlag(peerId: string): Promise<void> {
    const entry = this.presence.get(peerId);
    if (!entry || !this.flags || entry.sessionIds.size === 0) return;
    const sharing = [...this.presence.entries()].filter((p) => [...p.sessionIds].some((id) => entry.sessionIds.has(id)));
    const ids = new Set(sharing.flatMap((p) => [...p.sessionIds]));
    const generation = this.arrivalCount;
    let unread = 0;
    for (const p of sharing) unread += await this.store.countUnread(p.row.id);
    if (this.presence.get(peerId) !== entry) return; // it left meanwhile, and its flags with it
    if (unread > 0) this.flags.mark(ids, true);
    else if (this.arrivalCount === generation) this.flags.mark(ids, false);
  }

  /**
   * Ends senders' waits for these messages: on other hosts by a notice (inside a unit, sent at its
   * commit), here once the unit committed (a sender here is never told of an ack that rolled back).
   * The ids `updated` changed get `outcome`; the rest end without one. A notice that fails fails the
   * unit (PostgreSQL aborts it whatever the code catches): the peer acks or reads again.
   */
  private async endWaits(ids: readonly string[], updated: readonly string[], outcome: AckOutcome): Promise<void> {
    const changed = new Set(updated);
    const unchanged = ids.filter((id) => !changed.has(id));
    for (const [group, told] of [[updated, outcome], [unchanged, undefined]] as const) {
      const here = group.filter((id) => this.acks.waiting(id));
      // Their senders, if waiting, are on other hosts.
      const elsewhere = group.filter((id) => !this.acks.waiting(id));
      if (this.otherHosts && elsewhere.length > 0) await this.otherHosts.acked(elsewhere, told);
      if (here.length > 0) this.store.afterCommit(() => this.acks.end(here, told));
    }
  }

  /** Tells watchers of these messages as they are now; inside a unit, once it committed. */
  private async announce(event: "delivered" | "read", ids: string[]): Promise<void> {
    if (!this.watchers.watched) return;
    for (const id of ids) {
      const row = await this.store.getMessage(id);
      if (row) this.store.afterCommit(() => this.watchers.emit({ type: "event", event, message: toWireMessage(row) }));
    }
  }

  // ---- reading ----------------------------------------------------------------------------------

  /**
   * Every unread message, oldest first (with `replyTo`, only the replies to that message); with
   * markRead they become read (check_messages). With nothing to return and `waitMs`, waits until
   * mail arrives for the peer, or the time is up: woken by each arrival, never polling.
   */
  async inbox(peer: PeerRow, opts: { markRead: boolean; waitMs?: number; replyTo?: string }): Promise<Message[]> {
    return (await this.inboxWithCounts(peer, opts)).messages;
  }

  /**
   * inbox, with the peer's unread counts after it (check_messages' answer), counted from the same
   * read. A check that marks mail read is one unit (the read, the mark and the notices that end
   * senders' waits: one transaction; with nothing unread, BEGIN, the read and COMMIT); one that
   * does not mark is the read alone.
   */
  async inboxWithCounts(peer: PeerRow, opts: { markRead: boolean; waitMs?: number; replyTo?: string }): Promise<{ messages: Message[]; counts: { unread: number; queued: number } }> {
    const until = performance.now() + (opts.waitMs ?? 0);
    const live = this.presence.get(peer.id) !== undefined; // before any await: it may leave during one
    // A reply to a group send answers one copy: any copy's id counts.
    const replyTo = opts.replyTo === undefined ? null : new Set(await this.idsOfSend(opts.replyTo));
    for (;;) {
      // Listen before reading, so mail stored between the read and the wait still wakes it.
      const arrival = this.nextArrival(peer.id);
      const read = async () => {
        const all = await this.store.unreadFor(peer.id);
        const unread = all.filter((m) => replyTo === null || (m.in_reply_to !== null && replyTo.has(m.in_reply_to)));
        // A peer that left while it waited stops waiting (wake()): nothing would come for it.
        if (unread.length === 0 && until - performance.now() > 0 && !(live && !this.presence.get(peer.id))) return null;
        const read_at = this.now();
        const updated = opts.markRead && unread.length > 0 ? await this.markReadInUnit(peer, unread.map((m) => m.id)) : [];
        const done = new Set(updated);
        const messages = unread.map((m) => toWireMessage(done.has(m.id) ? { ...m, state: "read", read_at, delivered_at: m.delivered_at ?? read_at } : m));
        const left = all.filter((m) => !done.has(m.id));
        return { messages, updated, counts: { unread: left.length, queued: left.filter((m) => m.state === "queued").length } };
      };
      const found = opts.markRead ? await this.store.atomically(read) : await read();
      if (found) {
        arrival.cancel();
        await this.announce("read", found.updated);
        return { messages: found.messages, counts: found.counts };
      }
      await arrival.within(until - performance.now());
    }
  }

  /** The ids of a send: the message itself, or every copy of the group send it belongs to. */
  private async idsOfSend(id: string): Promise<string[]> {
    const m = await this.store.getMessage(id);
    return m?.fanout_id ? (await this.store.copiesOf(m.fanout_id)).map((c) => c.id) : [id];
  }

  /** Records a heartbeat (a poll) and returns the peer's unacknowledged messages. */
  async poll(peer: PeerRow): Promise<{ messages: Message[]; unread: number }> {
    if (!this.presence.get(peer.id)) throw new WireError("not_found", "peer: not registered with this broker; register again");
    this.presence.touch(peer.id);
    // Two reads, no unit: BEGIN and COMMIT would double the round trips of every idle poll.
    const queued = await this.store.queuedFor(peer.id);
    return { messages: queued.map(toWireMessage), unread: await this.store.countUnread(peer.id) };
  }

  /** A wake-up for the next mail that becomes unread for `peerId` (or for the peer leaving: wake()). */
  nextArrival(peerId: string): { within(ms: number): Promise<void>; cancel(): void } {
    const { promise, resolve } = Promise.withResolvers<void>();
    const waiters = this.arrivals.get(peerId) ?? new Set<() => void>();
    this.arrivals.set(peerId, waiters.add(resolve));
    let timer: Timer | undefined;
    const cancel = () => {
      clearTimeout(timer); // a wait that ended otherwise (a waiter replaced) leaves no timer behind
      waiters.delete(resolve);
      if (waiters.size === 0 && this.arrivals.get(peerId) === waiters) this.arrivals.delete(peerId);
    };
    return {
      cancel,
      within: async (ms) => {
        timer = setTimeout(resolve, ms);
        await promise;
        cancel();
      },
    };
  }

  /** The peer left: its waits (check_messages, a hook's waiter) look again and find it gone. */
  wake(peerId: string): void {
    this.arrived(peerId);
  }

  /** Mail became unread for this peer (stored for it, claimed, or stored by another host): wake its waits, flag its session. */
  private arrived(peerId: string | null): void {
    this.arrivalCount++;
    const entry = peerId === null ? undefined : this.presence.get(peerId);
    if (entry && this.flags) this.flags.mark(entry.sessionIds, true);
    const waiters = peerId === null ? undefined : this.arrivals.get(peerId);
    if (!waiters) return;
    this.arrivals.delete(peerId!);
    for (const wake of waiters) wake();
  }

  /** unreadCounts of peers of any host by id, in one grouped count (the console); absent: none. */
  unreadCountsOf(peerIds: readonly string[]): Promise<Map<string, { unread: number; queued: number }>> {
    return this.store.unreadCountsOf(peerIds);
  }

  unreadCount(peer: PeerRow): Promise<number> {
    return this.store.countUnread(peer.id);
  }

  /** The peer's unread mail, and how much of it is not yet confirmed written to Claude (queued). */
  unreadCounts(peer: PeerRow): Promise<{ unread: number; queued: number }> {
    return this.store.unreadCounts(peer.id);
  }

  /** Newest first, filtered and paged (HistoryQuery); with each message its seq, the cursor for the page after. */
  async history(q: HistoryQuery): Promise<Array<{ seq: number; message: Message }>> {
    return (await this.store.history(q)).map((row) => ({ seq: row.seq, message: toWireMessage(row) }));
  }

  /**
   * Mail whose time ran out unread or held (the broker's prune found it): watchers are told, and
   * each peer whose mail expired undelivered gets one notice from claude-peers.
   */
  async expired(rows: readonly MessageRow[]): Promise<void> {
    for (const row of rows) this.watchers.emit({ type: "event", event: "expired", message: toWireMessage(row) });
    for (const n of expiryNotices(rows, new Set([SENDER_OF.operator.id, SENDER_OF.system.id]))) {
      await this.send({ kind: "system" }, { to: n.to, text: n.text, in_reply_to: n.in_reply_to }).catch((err) =>
        this.log(`could not tell ${n.to} that its mail expired: ${errorMessage(err)}`),
      );
    }
  }

  // ---- peers that left --------------------------------------------------------------------------

  /**
   * The peer left this broker: what Mail keeps per peer goes with it (its pace, its mailbox
   * allowance, its duplicate and pair memory, its sessions' mail flags unless a live peer shares
   * the session). Its waits are woken by wake() and end by themselves.
   */
  forgetPeer(p: LivePeer): void {
    this.pace.forget(p.row.id);
    this.quota.forget(p.row.id, p.row.name);
    this.damping.forget(p.row.id, p.row.name);
    if (!this.flags || p.sessionIds.size === 0) return;
    const ended = new Set(p.sessionIds);
    for (const other of this.presence.entries()) for (const id of other.sessionIds) ended.delete(id); // p is no longer among them
    this.flags.forget(ended);
  }

  /** The sizes of what Mail keeps per peer, message or session, for tests that check nothing is kept. */
  sizes(): Record<string, number> {
    return { arrivals: this.arrivals.size, ackWaits: this.acks.size, paceBuckets: this.pace.size, ...this.quota.sizes(), ...this.damping.sizes(), mailFlags: this.flags?.size ?? 0 };
  }

  countByState(): ReturnType<Store["countByState"]> {
    return this.store.countByState();
  }
}

/** "45 s", "10 min", "2 h": how long a sender waited, for its notice. */
function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
