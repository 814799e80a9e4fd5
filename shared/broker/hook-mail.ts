/** Mail for Claude Code hooks: finds a hook's session (by session id, then ancestry) and leases what it shows. */
import { WireError } from "../errors.ts";
import type { HookEvent } from "../hook-events.ts";
import { monitorLineCost } from "../monitor-line.ts";
import { HOOK_MESSAGE_OVERHEAD, type HookMonitorResult, type HookResult, type HookWaitResult, type Message, type MonitorMessage } from "../protocol.ts";
import type { MessageRow, Store } from "../store/store.ts";
import type { DeliveryPaths } from "./delivery-paths.ts";
import type { HookAncestor } from "./hook-pairing.ts";
import type { Mail } from "./mail.ts";
import type { Presence } from "./presence.ts";
import { toWireMessage } from "./to-wire.ts";

/**
 * A message handed to a hook is held back from other hooks this long, unless read sooner: Claude
 * Code runs the PostToolUse hooks of parallel tool calls at once, and each would print it. A hook
 * that dies before /hook/read (hooks time out after 5 s) only delays it.
 */
export const HOOK_LEASE_MS = 10_000;
/** How far back a Stop waiter looks for mail no Stop hook showed (its hook was skipped by the shell's flag test). */
const STOP_LOOKBACK_MS = 5000;
/** The longest a timer may be set for (about 24.8 days); a waiter simply looks again after it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HookMailOptions {
  presence: Presence;
  mail: Mail;
  store: Store;
  /** Which path holds each session: where the plugin's monitor does, hooks and waiter show nothing. */
  paths: DeliveryPaths;
  now: () => number;
}

/** What a message costs a batch: as a hook prints it (its text and a header), or as the monitor writes it (one line). */
type Cost = (m: Message) => number;
const hookCost: Cost = (m) => m.text.length + HOOK_MESSAGE_OVERHEAD;
const EMPTY = { messages: [] as Message[], unread: 0 };

export class HookMail {
  /** Message id → until when a hook holds it, and for which peer. */
  private readonly leases = new Map<string, { until: number; peerId: string }>();
  /** Peer id → how to end its session's waiter (a newer one took over, or a turn began). */
  private readonly waiters = new Map<string, () => void>();
  /** Peer id → since when its session is idle (its last Stop or SessionStart), or null while a turn runs. */
  private readonly idleSince = new Map<string, number | null>();
  private readonly presence: Presence;
  private readonly mail: Mail;
  private readonly store: Store;
  private readonly paths: DeliveryPaths;
  private readonly now: () => number;
  constructor(opts: HookMailOptions) {
    this.presence = opts.presence;
    this.mail = opts.mail;
    this.store = opts.store;
    this.paths = opts.paths;
    this.now = opts.now;
  }

  /**
   * The hook's session and its oldest unread messages that fit in `maxChars` (each counts its text
   * plus its header line), in order: a message too long to fit stops the list, and it and the
   * rest stay unread. The returned ones are leased to this hook; `unread` counts what no other
   * hook holds. The hook marks what it printed read with read().
   */
  async lease(ancestors: readonly HookAncestor[], maxChars: number, sessionId?: string, event?: HookEvent, peek = false): Promise<HookResult> {
    const found = this.presence.forHook(ancestors, sessionId);
    if (!found) return { peer: null, parent_pid: null, messages: [], unread: 0 };
    if (peek) return { peer: found.peer, parent_pid: found.parent_pid, messages: [], unread: await this.store.countUnread(found.peer.id) };
    if (event) this.observe(found.peer.id, event);
    // Channel push or the session's monitor shows its mail (at once, mid-turn too): its hooks would show it twice.
    const leased = this.paths.pathOf(found.peer.id) !== "hooks" ? EMPTY : await this.leaseFor(found.peer.id, maxChars);
    // The flag of every id the session has (one just learned, after /clear) says whether mail waits,
    // leased to another hook or not: a lease that runs out makes its mail unread again.
    await this.mail.refreshFlag(found.peer.id);
    return { peer: found.peer, parent_pid: found.parent_pid, ...leased };
  }

  /**
   * What a hook's event says of its session: a turn runs from UserPromptSubmit (and every
   * PostToolUse) until Stop, and mail that comes meanwhile is its hooks' to show; from Stop (or
   * SessionStart) on the session is idle, and mail that comes then is its waiter's. A turn that
   * starts ends the waiter: the hooks deliver from here.
   */
  private observe(peerId: string, event: HookEvent): void {
    if (event === "Stop" || event === "SessionStart") this.idleSince.set(peerId, this.now());
    else {
      this.idleSince.set(peerId, null);
      this.waiters.get(peerId)?.();
    }
  }

  /** The peer's oldest unread messages that fit (stored since `since`, if given), leased to the caller (see lease). */
  private async leaseFor(
    peerId: string,
    maxChars: number,
    since?: number,
    cost: Cost = hookCost,
    decorate: (rows: MessageRow[]) => Promise<(m: Message) => Message> = async () => (m) => m,
  ): Promise<{ messages: Message[]; unread: number }> {
    const stored = (await this.store.unreadFor(peerId)).filter((m) => since === undefined || m.created_at >= since);
    const shape = await decorate(stored);
    // From here to the return nothing awaits, so two concurrent hooks never lease the same message.
    const now = this.now();
    this.dropLeases(now);
    const unread = stored.filter((m) => !this.leases.has(m.id));
    const messages: Message[] = [];
    let used = 0;
    for (const m of unread) {
      const wire = shape(toWireMessage(m));
      used += cost(wire);
      if (used > maxChars) break;
      messages.push(wire);
      this.leases.set(m.id, { until: now + HOOK_LEASE_MS, peerId });
    }
    return { messages, unread: unread.length };
  }

  /**
   * The waiter of a session whose mail push cannot bring (no channels): holds the request until
   * the session has mail, then leases it as lease() does; the waiter hands it to Claude and marks
   * it read. One waiter per session: a newer one replaces the older, which answers `replaced`.
   * Woken by each arrival and by the session leaving (`gone`), never by a clock.
   */
  async wait(ancestors: readonly HookAncestor[], maxChars: number, sessionId?: string, signal?: AbortSignal, event?: HookEvent): Promise<HookWaitResult> {
    const found = this.presence.forHook(ancestors, sessionId);
    if (!found) return { peer: null, parent_pid: null, messages: [], unread: 0, ended: "no_session" };
    const { peer, parent_pid } = found;
    // Claude Code starts the waiter on Stop (a turn ended: idle from now) and SessionStart (idle, unless
    // a turn began before this waiter got here: a late SessionStart waiter must not undo it).
    // A Stop hook's mark moments ago is kept; without one (the shell skipped that hook), mail from the
    // last seconds of the turn counts as the waiter's too, since no Stop hook showed it. Two takers
    // never show one message twice: each leases what it shows.
    const stopMark = this.idleSince.get(peer.id);
    if (event === "Stop" && !(typeof stopMark === "number" && this.now() - stopMark < STOP_LOOKBACK_MS)) this.idleSince.set(peer.id, this.now() - STOP_LOOKBACK_MS);
    if (event === "SessionStart" && !this.idleSince.has(peer.id)) this.idleSince.set(peer.id, this.now());
    const startedAt = this.now();
    const { promise: replaced, resolve: replace } = Promise.withResolvers<"replaced">();
    // The waiter went away (its connection closed): stop, and lease nothing for it.
    if (signal?.aborted) return { peer, parent_pid, messages: [], unread: 0, ended: "replaced" };
    signal?.addEventListener("abort", () => replace("replaced"), { once: true });
    this.waiters.get(peer.id)?.();
    this.waiters.set(peer.id, () => replace("replaced"));
    const mine = this.waiters.get(peer.id);
    const ended = (why: HookWaitResult["ended"], counts = { messages: [] as Message[], unread: 0 }): HookWaitResult => ({ peer, parent_pid, ...counts, ended: why });
    try {
      for (;;) {
        const arrival = this.mail.nextArrival(peer.id); // listen first: mail stored during the lease still wakes it
        const entry = this.presence.get(peer.id);
        if (!entry || !this.presence.isLive(entry)) return arrival.cancel(), ended("gone");
        // Channel push shows this session its mail, and wakes it when idle: no waiter is needed.
        if (this.paths.channelHolds(peer.id)) return arrival.cancel(), ended("channel");
        // Only mail that came while the session was idle: what came during a turn is its hooks' to show.
        const idle = this.idleSince.has(peer.id) ? this.idleSince.get(peer.id)! : startedAt;
        // While the session's monitor holds it, the waiter only waits: it takes over when the monitor's hold runs out.
        const held = this.paths.monitorHoldLeft(peer.id);
        const leased = idle === null || held > 0 ? EMPTY : await this.leaseFor(peer.id, maxChars, idle);
        // Mail none of which fits (the oldest is too long) still ends the wait: the waiter says to call check_messages.
        if (leased.unread > 0) return arrival.cancel(), ended("mail", leased);
        const wake = held > 0 ? Math.min(held, MAX_TIMER_MS) : MAX_TIMER_MS;
        if ((await Promise.race([arrival.within(wake), replaced])) === "replaced") return arrival.cancel(), ended("replaced");
      }
    } finally {
      if (this.waiters.get(peer.id) === mine) this.waiters.delete(peer.id);
    }
  }

  /**
   * The plugin's monitor of a session (POST /hook/monitor, `cli.ts hook --monitor`): it holds the
   * session's mail path (DeliveryPaths) while this request is open and a grace after, and is
   * answered once the session has unread mail that no hook holds, leased as lease() does, as much
   * as fits in `maxChars` counted as the monitor writes it (one line each, monitorLineCost). Mail
   * that came mid-turn is the monitor's too: its line reaches the model at once. A newer monitor
   * of the session replaces this one (`replaced`); the session leaving ends it (`gone`). While the
   * monitor's process (`pid`) exists, the session stays its after the request (DeliveryPaths).
   */
  async monitor(ancestors: readonly HookAncestor[], maxChars: number, sessionId?: string, signal?: AbortSignal, pid?: number): Promise<HookMonitorResult> {
    const found = this.presence.forHook(ancestors, sessionId);
    if (!found) return { peer: null, parent_pid: null, ...EMPTY, ended: "no_session" };
    const { peer, parent_pid } = found;
    const ended = (why: HookWaitResult["ended"], counts = EMPTY): HookWaitResult => ({ peer, parent_pid, ...counts, ended: why });
    if (signal?.aborted) return ended("replaced");
    const { promise: replaced, resolve: replace } = Promise.withResolvers<"replaced">();
    signal?.addEventListener("abort", () => replace("replaced"), { once: true });
    const hold = this.paths.monitorOpened(peer.id, () => replace("replaced"), pid);
    try {
      for (;;) {
        const arrival = this.mail.nextArrival(peer.id); // listen first: mail stored during the lease still wakes it
        const entry = this.presence.get(peer.id);
        if (!entry || !this.presence.isLive(entry)) return arrival.cancel(), ended("gone");
        // Where channel push shows the session its mail, the monitor only waits (its session's server may say otherwise later).
        const leased = this.paths.channelHolds(peer.id) ? EMPTY : await this.leaseFor(peer.id, maxChars, undefined, monitorLineCost, (rows) => this.withSenders(rows));
        if (leased.messages.length > 0) return arrival.cancel(), ended("mail", leased);
        if ((await Promise.race([arrival.within(MAX_TIMER_MS), replaced])) === "replaced") return arrival.cancel(), ended("replaced");
      }
    } finally {
      hold.end();
    }
  }

  /** Adds each sender's agent and host (a peer here, on another host, or gone; not the operator or a notice). */
  private async withSenders(rows: readonly MessageRow[]): Promise<(m: Message) => MonitorMessage> {
    const senders = new Map<string, { agent: string; host: string }>();
    for (const id of new Set(rows.map((r) => r.from_id))) {
      const row = this.presence.get(id)?.row ?? (await this.store.getPeer(id));
      if (row) senders.set(id, { agent: row.agent, host: row.host });
    }
    return (m) => {
      const sender = senders.get(m.from_id);
      return sender ? { ...m, from_agent: sender.agent, from_host: sender.host } : m;
    };
  }

  /** The peers whose monitor holds their mail path now. */
  monitoredPeers(): string[] {
    return this.paths.monitoredPeers();
  }

  /** Leases that ran out, and those of `peerId`. */
  private dropLeases(now: number, peerId?: string): void {
    for (const [id, lease] of this.leases) if (lease.until <= now || lease.peerId === peerId) this.leases.delete(id);
  }

  /**
   * The peer left: its idle mark and its hooks' leases go. Its waiter, if any, ends by itself
   * (woken, it finds the peer gone) and takes its own entry along.
   */
  forgetPeer(peerId: string): void {
    this.idleSince.delete(peerId);
    this.dropLeases(this.now(), peerId);
    this.paths.forgetPeer(peerId);
  }

  /** Peers and messages remembered, for tests that check nothing is kept. */
  sizes(): { hookLeases: number; hookWaiters: number; idleMarks: number; monitorHolds: number; channelPaths: number } {
    return { hookLeases: this.leases.size, hookWaiters: this.waiters.size, idleMarks: this.idleSince.size, ...this.paths.sizes() };
  }

  /** The peers whose session's waiter is waiting now. */
  waitingPeers(): string[] {
    return [...this.waiters.keys()];
  }

  /** Marks read what a hook showed; only messages addressed to `peerId` change. */
  async read(peerId: string, ids: readonly string[]): Promise<{ updated: string[]; unread: number }> {
    const row = this.presence.get(peerId)?.row ?? (await this.store.getPeer(peerId));
    if (!row) throw new WireError("not_found", `peer_id: no peer ${peerId}`, { field: "peer_id" });
    const updated = await this.mail.markRead(row, ids);
    for (const id of ids) this.leases.delete(id);
    return { updated, unread: await this.mail.unreadCount(row) };
  }
}
