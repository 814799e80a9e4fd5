/**
 * Loop and noise damping: two AI sessions can thank each other forever, or resend the same request
 * in a retry loop. Each is caught on the send path from the store, so it holds across restarts and,
 * on a shared PostgreSQL, across hosts.
 */
import { WireError } from "../errors.ts";
import { groupLabel } from "../protocol.ts";
import type { MessageRow, Store } from "../store/store.ts";

export interface DampingLimits {
  /** The same text from the same sender to the same recipient within this window is refused (0: off). */
  duplicateWindowMs: number;
  /** More than this many messages between two peers within pairWindowMs, with no person writing in between, are held (0: off). */
  pairLimit: number;
  pairWindowMs: number;
}

/** 60 s for duplicates; 30 messages in 10 minutes for a pair. */
export const DAMPING: DampingLimits = { duplicateWindowMs: 60_000, pairLimit: 30, pairWindowMs: 600_000 };

/** Where a message is going, as the duplicate rule compares it: a name, or a group (then the name is unused). */
export interface DampedRecipient {
  name: string;
  group: string | null;
}

export class LoopDamping {
  constructor(
    private readonly store: Store,
    readonly limits: DampingLimits,
    private readonly now: () => number,
  ) {}

  /** Refuses the same text to the same recipient within the window, naming the first message. */
  async refuseDuplicate(fromId: string, to: DampedRecipient, text: string): Promise<void> {
    const window = this.limits.duplicateWindowMs;
    if (window <= 0) return;
    const first = await this.store.duplicateOf({ from_id: fromId, to_name: to.name, to_group: to.group, text, since: this.now() - window });
    if (!first) return;
    throw new WireError("conflict", duplicateMessage(first, to, window), { field: "text" });
  }

  /**
   * Whether a peer's message to another peer is held: mail between them already is, or they have
   * exchanged pairLimit messages within the window since a person last wrote to either of them.
   */
  async holds(fromName: string, toName: string): Promise<boolean> {
    const { pairLimit, pairWindowMs } = this.limits;
    if (pairLimit <= 0 || pairWindowMs <= 0 || fromName === toName) return false;
    const { recent, held } = await this.store.pairActivity({ a: fromName, b: toName, since: this.now() - pairWindowMs, upTo: pairLimit });
    return held || recent >= pairLimit;
  }
}

function duplicateMessage(first: MessageRow, to: DampedRecipient, windowMs: number): string {
  const where = to.group ? groupLabel(to.group) : to.name;
  const s = Math.round(windowMs / 1000);
  return (
    `message: the same text went to ${where} as ${first.id} (now ${first.state}) within the last ${s} s, so this one was not sent. ` +
    `If it needs a correction, send_message with replaces=${first.id}; if the peer has not answered, wait or check_messages(reply_to=${first.id}).`
  );
}
