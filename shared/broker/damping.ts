/**
 * Loop and noise damping: two AI sessions can thank each other forever, or resend the same request
 * in a retry loop. Both rules are answered from memory on the send path, seeded from the store the
 * first time a sender or a pair comes up, so they hold across broker restarts:
 *
 * - duplicates: a sender's sends all go through its own host's broker, so that broker's memory of
 *   the sender's last minute is the whole of it, on one host or several;
 * - runaway pairs (pair-rule.ts: both directions must be active; a one-way stream is never held):
 *   a broker that stores every message itself (SQLite: `exact`) sees both directions, every
 *   person's message and every release, and keeps the counts in memory; with a shared database a
 *   pair's two directions go through two brokers when the peers are on two hosts, so the store
 *   decides as it stores each send (`guard`), under a lock on the pair that every broker takes.
 *
 * Check and store are atomic: from the checks to `stored`, a send holds its pair(s) and its text's
 * duplicate key in this broker (`lock`), so sends in flight together see each other. That is the
 * whole of it for duplicates, on one host or several: a sender's sends all go through its own
 * broker. For pairs across hosts, the store's transaction-level lock does the same between brokers.
 */
import { WireError } from "../errors.ts";
import { groupLabel } from "../tool-text.ts";
import { textCrc, type MessageRow, type PairGuard, type Store } from "../store/store.ts";
import { KeyedLock } from "./keyed-lock.ts";
import { pairOverLimit, type PairLimits } from "./pair-rule.ts";

export interface DampingLimits extends PairLimits {
  /** The same text from the same sender to the same recipient within this window is refused (0: off). */
  duplicateWindowMs: number;
}

/** 60 s for duplicates; for a pair, 30 messages in 10 minutes with at least 15 each way (pair-rule.ts). */
export const DAMPING: DampingLimits = { duplicateWindowMs: 60_000, pairLimit: 30, pairWindowMs: 600_000 };

/** Where a message is going, as the duplicate rule compares it: a name, or a group (then the name is unused). */
export interface DampedRecipient {
  name: string;
  group: string | null;
}

/** One send the duplicate rule remembers: enough to find a candidate, whose text is then read whole. */
interface RecentSend {
  id: string;
  /** The recipient and the text's CRC: what a duplicate shares with it. */
  key: string;
  at: number;
}

/** A sender's sends within the window: in the order sent (to expire them), and by key (to find one). */
interface SenderMemory {
  queue: RecentSend[];
  byKey: Map<string, RecentSend[]>;
}

/**
 * A pair's messages since its count last started: when each side sent (oldest first; `fromA` from
 * the name that sorts first), and whether mail between them is held.
 */
interface PairState {
  fromA: number[];
  fromB: number[];
  held: boolean;
}

/** Above this many senders or pairs, the ones with nothing left in their window are forgotten. */
const FORGET_ABOVE = 10_000;

export class LoopDamping {
  /** Sender id → its sends within the duplicate window (a promise while it is read from the store). */
  private readonly senders = new Map<string, Promise<SenderMemory>>();
  /** "a\0b" (names in order) → the pair's state (a promise while it is read from the store); only when `exact`. */
  private readonly pairs = new Map<string, Promise<PairState>>();
  /** Duplicate keys and pairs of the sends between their checks and their store. */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly store: Store,
    readonly limits: DampingLimits,
    private readonly now: () => number,
    /** This broker stores every message (one host, SQLite): pair counts are kept in memory. */
    private readonly exact: boolean,
  ) {}

  /**
   * Holds what one send's checks and store depend on, until the returned release (after `stored`):
   * its text to its recipient (the duplicate rule) and, for a peer's send, each pair it feeds. A
   * notice is checked by neither rule and holds nothing.
   */
  lock(kind: "peer" | "operator" | "system", fromId: string, to: DampedRecipient, text: string, pairs: ReadonlyArray<readonly [string, string]>): Promise<() => void> {
    if (kind === "system") return Promise.resolve(() => {});
    const keys = [`d\0${fromId}\0${sendKey(to, textCrc(text))}`];
    if (kind === "peer") for (const [a, b] of pairs) keys.push(`p\0${pairKey(a, b)}`);
    return this.locks.lock(keys);
  }

  // ---- duplicates --------------------------------------------------------------------------------

  /** Refuses the same text to the same recipient within the window, naming the first message. */
  async refuseDuplicate(fromId: string, to: DampedRecipient, text: string): Promise<void> {
    const window = this.limits.duplicateWindowMs;
    if (window <= 0) return;
    const memory = await this.senderMemory(fromId);
    for (const s of memory.byKey.get(sendKey(to, textCrc(text))) ?? []) {
      const first = await this.store.getMessage(s.id); // a CRC match: compare the text itself
      if (first && first.text === text && first.state !== "retracted") {
        throw new WireError("conflict", duplicateMessage(first, to, window), { field: "text" });
      }
    }
  }

  /** The sender's sends within the window: from memory, or from the store once (after a restart). */
  private async senderMemory(fromId: string): Promise<SenderMemory> {
    let memory = this.senders.get(fromId);
    if (!memory) {
      memory = this.store.recentSends(fromId, this.now() - this.limits.duplicateWindowMs).then((rows) => {
        const m: SenderMemory = { queue: [], byKey: new Map() };
        for (const r of rows) remember(m, { id: r.id, key: sendKey({ name: r.to_name, group: r.to_group }, r.text_crc ?? -1), at: r.created_at });
        return m;
      });
      this.senders.set(fromId, memory);
      memory.catch(() => this.senders.delete(fromId)); // the store was away: ask it again next time
    }
    const m = await memory;
    const since = this.now() - this.limits.duplicateWindowMs;
    while (m.queue.length > 0 && m.queue[0]!.at <= since) {
      const old = m.queue.shift()!;
      const same = m.byKey.get(old.key)!;
      same.shift(); // the oldest of its key too
      if (same.length === 0) m.byKey.delete(old.key);
    }
    return m;
  }

  // ---- runaway pairs -----------------------------------------------------------------------------

  /**
   * Whether a peer's message to another peer is held: mail between them already is, or, since a
   * person last wrote to either of them, they have been answering each other (pairOverLimit).
   * Decided here on one host; with a shared database the store decides as it stores (`guard`).
   */
  async holds(fromName: string, toName: string): Promise<boolean> {
    if (!this.exact || !this.pairRuleOn() || fromName === toName) return false;
    const [a, b] = fromName < toName ? [fromName, toName] : [toName, fromName];
    const pair = await this.pairState(a, b);
    // Held in memory: ask the store once more, since a retraction of the held mail frees the pair.
    if (pair.held) pair.held = (await this.fromStore(a, b)).held;
    return pair.held || pairOverLimit(pair, this.now(), this.limits);
  }

  /**
   * With a shared database, the pair rule as the store applies it to a peer's send while storing
   * it, the pair's activity read under the pair's lock: two brokers' sends for one pair (its two
   * directions on two hosts) are decided one after the other. Undefined on one host (`holds`).
   */
  guard(fromName: string, toNames: readonly string[]): PairGuard | undefined {
    if (this.exact || !this.pairRuleOn()) return undefined;
    const now = this.now();
    return {
      pairs: toNames.map((to) => (to === fromName ? null : ([fromName, to] as const))),
      since: now - this.limits.pairWindowMs,
      upTo: this.limits.pairLimit,
      holds: (activity) => activity.held || pairOverLimit(activity, now, this.limits),
    };
  }

  private pairRuleOn(): boolean {
    return this.limits.pairLimit > 0 && this.limits.pairWindowMs > 0;
  }

  /** The pair's state in the store; `a` the name that sorts first. */
  private async fromStore(a: string, b: string): Promise<PairState> {
    const since = this.now() - this.limits.pairWindowMs;
    return this.store.pairActivity({ a, b, since, upTo: this.limits.pairLimit });
  }

  /** The pair's state in memory (seeded from the store), its times trimmed to the window. */
  private async pairState(a: string, b: string): Promise<PairState> {
    const key = pairKey(a, b);
    let state = this.pairs.get(key);
    if (!state) {
      state = this.fromStore(a, b).then((stored) => ({ fromA: [...stored.fromA], fromB: [...stored.fromB], held: stored.held }));
      this.pairs.set(key, state);
      state.catch(() => this.pairs.delete(key));
    }
    const pair = await state;
    const since = this.now() - this.limits.pairWindowMs;
    for (const times of [pair.fromA, pair.fromB]) {
      let old = 0;
      while (old < times.length && times[old]! <= since) old++;
      if (old > 0) times.splice(0, old);
    }
    return pair;
  }

  // ---- what was stored ---------------------------------------------------------------------------

  /**
   * A send was stored: `rows` are its copies. Called by Mail after every insert, so memory stays
   * what the store would answer.
   */
  stored(sender: { kind: "peer" | "operator" | "system"; id: string; name: string }, to: DampedRecipient, rows: readonly MessageRow[]): void {
    const first = rows[0];
    if (!first) return;
    if (sender.kind !== "system" && this.limits.duplicateWindowMs > 0) {
      // Asked first (refuseDuplicate), so the sender's memory is there unless the store failed.
      void this.senders.get(sender.id)?.then((m) => remember(m, { id: first.id, key: sendKey(to, textCrc(first.text)), at: first.created_at }), () => {});
      if (this.senders.size > FORGET_ABOVE) this.forgetIdle();
    }
    if (!this.exact) return;
    for (const row of rows) {
      if (sender.kind === "operator") {
        // A person wrote to this peer: every pair it is in starts counting again.
        for (const [key, state] of this.pairs) {
          if (key.split("\0").includes(row.to_name)) void state.then((p) => ((p.fromA = []), (p.fromB = [])), () => {});
        }
      } else if (sender.kind === "peer") {
        // A pair not asked about yet has nothing to update: the store has the message when it is.
        void this.pairs.get(pairKey(sender.name, row.to_name))?.then((p) => {
          const times = sender.name < row.to_name ? p.fromA : p.fromB;
          times.push(row.created_at);
          if (times.length > this.limits.pairLimit) times.shift(); // whether it reached the limit is all that is asked
          if (row.state === "held" && row.held_by === "pair") p.held = true; // a pause's held mail is the pause's
        }, () => {});
      }
    }
    if (this.pairs.size > FORGET_ABOVE) this.forgetIdle();
  }

  /** A person released (or discarded) the pair's held mail: its count starts again. */
  released(a: string, b: string): void {
    this.pairs.set(pairKey(a, b), Promise.resolve({ fromA: [], fromB: [], held: false }));
  }

  /**
   * A peer left: its sends and its name's pairs are forgotten now rather than when the maps grow
   * past FORGET_ABOVE; each comes back from the store if it is asked about again.
   */
  forget(senderId: string, name: string): void {
    this.senders.delete(senderId);
    for (const key of this.pairs.keys()) if (key.split("\0").includes(name)) this.pairs.delete(key);
  }

  /** Senders and pairs remembered, for tests that check nothing is kept. */
  sizes(): { dampingSenders: number; dampingPairs: number } {
    return { dampingSenders: this.senders.size, dampingPairs: this.pairs.size };
  }

  /** Forgets senders and pairs with nothing in their window (their state is in the store if it comes up again). */
  private forgetIdle(): void {
    const now = this.now();
    for (const [id, memory] of this.senders) {
      void memory.then((m) => {
        if (!m.queue.some((s) => s.at > now - this.limits.duplicateWindowMs)) this.senders.delete(id);
      }, () => {});
    }
    for (const [key, state] of this.pairs) {
      void state.then((p) => {
        if (!p.held && ![...p.fromA, ...p.fromB].some((t) => t > now - this.limits.pairWindowMs)) this.pairs.delete(key);
      }, () => {});
    }
  }
}

function remember(m: SenderMemory, send: RecentSend): void {
  m.queue.push(send);
  const same = m.byKey.get(send.key);
  if (same) same.push(send);
  else m.byKey.set(send.key, [send]);
}

/** What a duplicate shares with the first: its recipient (a name or a group) and its text's CRC. */
const sendKey = (to: DampedRecipient, crc: number): string => `${to.group ? `#${to.group}` : `@${to.name}`}\0${crc}`;
const pairKey = (a: string, b: string): string => (a < b ? `${a}\0${b}` : `${b}\0${a}`);

function duplicateMessage(first: MessageRow, to: DampedRecipient, windowMs: number): string {
  const where = to.group ? groupLabel(to.group) : to.name;
  const s = Math.round(windowMs / 1000);
  return (
    `message: the same text went to ${where} as ${first.id} (now ${first.state}) within the last ${s} s, so this one was not sent. ` +
    `If it needs a correction, send_message with replaces=${first.id}; if the peer has not answered, wait or check_messages(reply_to=${first.id}).`
  );
}
