/** The per-recipient cap on unread mail, counted cheaply: the broker refuses, never drops. */
import { WireError } from "../errors.ts";
import type { Store } from "../store/store.ts";

/**
 * A recipient holds at most this many unread (queued or delivered) or held messages; the next send
 * is refused with mailbox_full until it reads some (or its held mail is released or expires). Refused, not drop-oldest: "nothing is lost" means
 * a stored message is never thrown away to make room, and the sender hears about it at once.
 */
export const MAX_UNREAD_PER_PEER = 10_000;
/** Recipients whose allowance is remembered at most; past it the cache starts afresh. */
const MAX_ROOM_ENTRIES = 10_000;
/** Within this many of the cap, every send to the recipient counts its unread mail again. */
const ROOM_COUNTED_EXACTLY = 1000;

export interface Recipient {
  id: string | null;
  name: string;
}

export class MailboxQuota {
  /** Recipient ("id:…" or "name:…") → sends that surely fit (see reserve). */
  private readonly room = new Map<string, number>();
  private readonly counting = new Map<string, Promise<void>>();
  /** Recipient key → sends let through whose insert has not finished. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly store: Store) {}

  /**
   * A peer that just claimed its name's mailbox holds more than its allowance knew of; a peer that
   * left (`name` given) takes its name's allowance along. Only a cache: the next send counts again.
   */
  forget(peerId: string, name?: string): void {
    this.room.delete(`id:${peerId}`);
    if (name !== undefined) this.room.delete(`name:${name}`);
  }

  /** Recipients remembered (sizes of the per-recipient maps), for tests that check nothing is kept. */
  sizes(): { quotaRoom: number; quotaCounting: number; quotaInFlight: number } {
    return { quotaRoom: this.room.size, quotaCounting: this.counting.size, quotaInFlight: this.inFlight.size };
  }

  /**
   * Refuses a message the recipient has no room for (MAX_UNREAD_PER_PEER); nothing is dropped.
   * A count walks every unread index entry of the recipient, thousands once channel-delivered
   * mail piles up unread (as in bench/throughput.ts), so one count buys an allowance of sends that
   * surely fit: reading only makes room, so an allowance never overstates it. Returns the release
   * to call once the message is stored (or failed to be).
   */
  async reserve(target: Recipient): Promise<() => void> {
    const key = target.id ? `id:${target.id}` : `name:${target.name}`;
    if ((this.room.get(key) ?? 0) <= 0) await this.count(key, target);
    // A message to a peer also counts toward its name's mailbox.
    const keys = target.id ? [key, `name:${target.name}`] : [key];
    for (const k of keys) {
      const left = this.room.get(k);
      if (left !== undefined) this.room.set(k, left - 1);
      this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + 1);
    }
    return () => {
      for (const k of keys) {
        const n = this.inFlight.get(k)! - 1;
        if (n === 0) this.inFlight.delete(k);
        else this.inFlight.set(k, n);
      }
    };
  }

  /** Counts, one count per recipient at a time: concurrent sends wait for it instead of granting twice. */
  private async count(key: string, target: Recipient): Promise<void> {
    for (let pending = this.counting.get(key); pending; pending = this.counting.get(key)) {
      await pending;
      if ((this.room.get(key) ?? 0) > 0) return;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.counting.set(key, promise);
    try {
      // Held mail counts too: a loop or a pause must not store without bound.
      const stored = target.id ? await this.store.countWaiting(target.id) : await this.store.countWaitingNamed(target.name);
      // Sends let through but not yet committed are not in the count.
      const unread = stored + (this.inFlight.get(key) ?? 0);
      if (unread >= MAX_UNREAD_PER_PEER) {
        throw new WireError(
          "mailbox_full",
          `to: ${target.name} has ${unread} unread or held messages, the most a mailbox holds; nothing was sent, retry after it reads some (check_messages)`,
          { field: "to" },
        );
      }
      // Half of what is left (mail claimed from a mailbox may add to it), and near the cap nothing,
      // so every send there counts again.
      const left = MAX_UNREAD_PER_PEER - unread;
      if (this.room.size > MAX_ROOM_ENTRIES) this.room.clear(); // only a cache: it refills by counting
      this.room.set(key, left > ROOM_COUNTED_EXACTLY ? Math.floor(left / 2) : 0);
    } finally {
      this.counting.delete(key);
      resolve();
    }
  }
}
