/** The watch connections (`bun cli.ts watch`): the one place the broker's events come from. */
import type { BrokerFrame } from "../protocol.ts";
import type { PushSocket } from "./presence.ts";

export class Watchers {
  private readonly sockets = new Set<PushSocket>();

  add(socket: PushSocket): void {
    this.sockets.add(socket);
  }

  remove(socket: PushSocket): void {
    this.sockets.delete(socket);
  }

  /** Whether anyone watches: events that cost a store read are only made then. */
  get watched(): boolean {
    return this.sockets.size > 0;
  }

  emit(frame: BrokerFrame): void {
    if (this.sockets.size === 0) return;
    const data = JSON.stringify(frame);
    for (const w of this.sockets) w.send(data);
  }

  /** Broker shutdown: every watcher is told, then forgotten. */
  closeAll(): void {
    for (const w of this.sockets) w.close(1001, "broker stopping");
    this.sockets.clear();
  }
}
