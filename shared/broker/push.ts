/**
 * Puts stored messages on peers' push sockets: one at once, a peer's unacknowledged mail when it
 * (re)connects, one another host stored, or everyone's again after the store was away. Servers
 * drop a message they already showed, so pushing again is always safe; losing a push is not.
 * Only sessions whose Claude Code shows channel push get pushes (`takesPush`, DeliveryPaths): a
 * server acks what it wrote, so a push elsewhere would read "delivered" while no model saw it.
 */
import type { Presence } from "./presence.ts";
import { errorMessage } from "../errors.ts";
import type { BrokerFrame } from "../protocol.ts";
import type { MessageRow, Store } from "../store/store.ts";
import { toWireMessage } from "./to-wire.ts";

export class Pusher {
  constructor(
    private readonly presence: Presence,
    private readonly store: Store,
    private readonly log: (line: string) => void,
    /** Whether the session shows channel push, so its server may take its mail. */
    private readonly takesPush: (peerId: string) => boolean,
  ) {}

  /** Sends `m` on the peer's socket; false when it has none (it polls, or left) or its session does not show channel push. */
  push(peerId: string, m: MessageRow): boolean {
    const socket = this.presence.get(peerId)?.socket;
    if (!socket || !this.takesPush(peerId)) return false;
    socket.send(JSON.stringify({ type: "message", message: toWireMessage(m) } satisfies BrokerFrame));
    return true;
  }

  /** Everything the peer has not acknowledged, oldest first. */
  async pushQueued(peerId: string): Promise<void> {
    for (const m of await this.store.queuedFor(peerId)) this.push(peerId, m);
  }

  /**
   * Another host stored a message for a peer of this broker: push it, if still unacknowledged.
   * False when the peer has no socket (it polls, or left: its next poll picks the message up) or
   * does not take pushes (its monitor or hooks show it): its sender need not wait for an ack.
   */
  async pushStored(peerId: string, messageId: string): Promise<boolean> {
    if (!this.presence.get(peerId)?.socket || !this.takesPush(peerId)) return false;
    try {
      const row = await this.store.getMessage(messageId);
      if (row && row.state === "queued" && row.to_id === peerId) this.push(peerId, row);
    } catch {
      this.repushAll(); // the store is away: the message waits in it, queued
    }
    return true;
  }

  /**
   * Pushes every live peer's unacknowledged mail once: after notifications were cut, or a push or
   * an ack failed because the store was away. Best effort: with a shared database each heartbeat
   * hands over what is still waiting (BrokerNetwork.deliverWaiting), so nothing depends on this.
   */
  repushAll(): void {
    const pushAll = async () => {
      for (const p of [...this.presence.entries()]) if (p.socket && this.takesPush(p.row.id)) await this.pushQueued(p.row.id);
    };
    pushAll().catch((err) => this.log(`pushing unacknowledged mail failed: ${errorMessage(err)}`));
  }
}
