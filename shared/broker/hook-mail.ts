/** Mail for Claude Code hooks: finds a hook's session (by session id, then ancestry) and leases what it shows. */
import { WireError } from "../errors.ts";
import { HOOK_MESSAGE_OVERHEAD, type HookResult, type Message } from "../protocol.ts";
import type { Store } from "../store/store.ts";
import type { Mail } from "./mail.ts";
import type { Presence } from "./presence.ts";
import { toWireMessage } from "./to-wire.ts";

/**
 * A message handed to a hook is held back from other hooks this long, unless read sooner: Claude
 * Code runs the PostToolUse hooks of parallel tool calls at once, and each would print it. A hook
 * that dies before /hook/read (hooks time out after 5 s) only delays it.
 */
export const HOOK_LEASE_MS = 10_000;

export interface HookMailOptions {
  presence: Presence;
  mail: Mail;
  store: Store;
  now: () => number;
}

export class HookMail {
  /** Message id → until when a hook holds it. */
  private readonly leases = new Map<string, number>();
  private readonly presence: Presence;
  private readonly mail: Mail;
  private readonly store: Store;
  private readonly now: () => number;

  constructor(opts: HookMailOptions) {
    this.presence = opts.presence;
    this.mail = opts.mail;
    this.store = opts.store;
    this.now = opts.now;
  }

  /**
   * The hook's session and its oldest unread messages that fit in `maxChars` (each counts its text
   * plus its header line), in order: a message too long to fit stops the list, and it and the
   * rest stay unread. The returned ones are leased to this hook; `unread` counts what no other
   * hook holds. The hook marks what it printed read with read().
   */
  async lease(ancestors: readonly number[], maxChars: number, sessionId?: string): Promise<HookResult> {
    const found = this.presence.forHook(ancestors, sessionId);
    if (!found) return { peer: null, parent_pid: null, messages: [], unread: 0 };
    const stored = await this.store.unreadFor(found.peer.id);
    // From here to the return nothing awaits, so two concurrent hooks never lease the same message.
    const now = this.now();
    for (const [id, until] of this.leases) if (until <= now) this.leases.delete(id);
    const unread = stored.filter((m) => !this.leases.has(m.id));
    const messages: Message[] = [];
    let used = 0;
    for (const m of unread) {
      used += m.text.length + HOOK_MESSAGE_OVERHEAD;
      if (used > maxChars) break;
      messages.push(toWireMessage(m));
      this.leases.set(m.id, now + HOOK_LEASE_MS);
    }
    return { peer: found.peer, parent_pid: found.parent_pid, messages, unread: unread.length };
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
