/**
 * The watch connections (`bun cli.ts watch`, the operator console): the one place the broker's
 * events come from. With a shared database the network bridge also relays them: this broker's
 * events to the other hosts' watchers, and theirs to this broker's.
 */
import type { BrokerFrame } from "../protocol.ts";
import type { PushSocket } from "./presence.ts";

export interface WatchRelay {
  /** Hands a local event to the other hosts (batched there). */
  publish(frame: BrokerFrame): void;
  /** Whether another host's broker has watchers now. */
  othersWatching(): boolean;
  /** The first watcher here arrived: tell the other hosts at once, not at the next heartbeat. */
  watchingStarted(): void;
}

export class Watchers {
  private readonly sockets = new Set<PushSocket>();
  /** Set by the network bridge with a shared database. */
  relay: WatchRelay | undefined;

  add(socket: PushSocket): void {
    this.sockets.add(socket);
    if (this.sockets.size === 1) this.relay?.watchingStarted();
  }

  remove(socket: PushSocket): void {
    this.sockets.delete(socket);
  }

  /** Whether this broker has watchers of its own (it tells the other hosts so). */
  get watchedHere(): boolean {
    return this.sockets.size > 0;
  }

  /** Whether anyone watches, here or on another host: events that cost a store read are only made then. */
  get watched(): boolean {
    return this.sockets.size > 0 || (this.relay?.othersWatching() ?? false);
  }

  /** An event of this broker's: to its watchers, and to the other hosts' when they watch. */
  emit(frame: BrokerFrame): void {
    if (this.relay?.othersWatching()) this.relay.publish(frame);
    this.send(frame);
  }

  /** An event another host's broker relayed: to this broker's watchers only. */
  emitRelayed(frame: BrokerFrame): void {
    this.send(frame);
  }

  private send(frame: BrokerFrame): void {
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
