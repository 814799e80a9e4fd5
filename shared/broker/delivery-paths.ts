/**
 * The broker's one record of which path holds each session's mail: channel push (its server said
 * at registration, or later on /channel, that its Claude Code shows channel notifications: the flag
 * names this registration and the login is one channels work with), else the plugin's monitor
 * (`cli.ts hook --monitor`, a Claude Code plugin monitor whose stdout lines reach the model as
 * monitor events), else the hooks and their waiter. A session has one path at a time, so nothing
 * is shown twice and "delivered" means shown: only a channel session's mail is pushed to its server
 * (and acked as delivered); elsewhere it stays unread until the monitor or a hook showed it (read).
 * While a monitor holds the session its hooks and its waiter show nothing, and they take over again
 * once it is gone (its request closed and not renewed within MONITOR_GRACE_MS, and its
 * process exited).
 */
import type { DeliveryPath } from "../protocol.ts";


/**
 * A monitor holds its session from its request until this long after the request ended: it asks
 * again as soon as it has written what it got, except while it paces itself below Claude Code's
 * monitor rate limit (one batch per 2 s once ten were spent; see hook/monitor-pace.ts), which
 * stays well within this. A monitor that died hands the session back to the hooks after it.
 */
export const MONITOR_GRACE_MS = 6000;

interface MonitorHold {
  /** The open request's replace(): a newer monitor of the same session ends it. */
  replace: (() => void) | null;
  /** Until when the session stays the monitor's without an open request. */
  until: number;
  /**
   * The monitor's process: while it exists, stopped too (a laptop's lid closed, SIGSTOP), the
   * session stays its after the grace. A monitor stopped with its answer unread shows that mail
   * when it wakes; a waiter that took over meanwhile would show the same mail a second time.
   */
  pid: number | undefined;
  /** That process's start time, read when the hold began: a later process with the same pid holds nothing. */
  started: string | undefined;
}

export class DeliveryPaths {
  private readonly monitors = new Map<string, MonitorHold>();
  /** Peers whose Claude Code shows channel push (their servers said so). */
  private readonly channels = new Set<string>();
  private readonly now: () => number;
  /** Called when a monitor's request ends: whoever waits for the session (its waiter) looks again. */
  private readonly changed: (peerId: string) => void;
  private readonly pidAlive: (pid: number) => boolean;
  private readonly processStart: (pid: number) => string | undefined;
  constructor(opts: { now: () => number; changed: (peerId: string) => void; pidAlive: (pid: number) => boolean; processStart: (pid: number) => string | undefined }) {
    this.now = opts.now;
    this.changed = opts.changed;
    this.pidAlive = opts.pidAlive;
    this.processStart = opts.processStart;
  }

  /** The session's server says whether its Claude Code shows channel push; a change wakes whoever waits for the session. */
  setChannel(peerId: string, shown: boolean): void {
    if (this.channels.has(peerId) === shown) return;
    if (shown) this.channels.add(peerId);
    else this.channels.delete(peerId);
    this.changed(peerId);
  }

  /** Whether channel push shows the session its mail: then only its server takes it (pushed, acked as delivered). */
  channelHolds(peerId: string): boolean {
    return this.channels.has(peerId);
  }

  /** The path that holds the session's mail now: channel push first, else a monitor, else the hooks. */
  pathOf(peerId: string): DeliveryPath {
    if (this.channels.has(peerId)) return "channel";
    return this.monitorHolds(peerId) ? "monitor" : "hooks";
  }

  /** The peers whose mail goes by channel push. */
  channelPeers(): string[] {
    return [...this.channels];
  }

  /**
   * A monitor's request for `peerId` is open: the session is its until end() and the grace after,
   * or, given the monitor's `pid`, for as long as that process exists. An older monitor of the
   * same session (a plugin reloaded) is replaced: its request ends.
   */
  monitorOpened(peerId: string, replace: () => void, pid?: number): { end: () => void } {
    this.monitors.get(peerId)?.replace?.();
    const hold: MonitorHold = { replace, until: Number.POSITIVE_INFINITY, pid, started: pid === undefined ? undefined : this.processStart(pid) };
    this.monitors.set(peerId, hold);
    return {
      end: () => {
        if (this.monitors.get(peerId) !== hold) return;
        hold.replace = null;
        hold.until = this.now() + MONITOR_GRACE_MS;
        this.changed(peerId);
      },
    };
  }

  /** Whether a monitor holds the session now (its request open, or ended within the grace, or its process still there). */
  monitorHolds(peerId: string): boolean {
    const hold = this.monitors.get(peerId);
    if (!hold) return false;
    if (hold.replace || this.now() < hold.until) return true;
    if (hold.pid !== undefined && this.pidAlive(hold.pid) && this.processStart(hold.pid) === hold.started) return true;
    this.monitors.delete(peerId);
    return false;
  }

  /**
   * How long until a monitor's hold on the session may run out: 0 when none holds it, Infinity
   * while its request is open; past the grace, held by a process that still exists, look again
   * after another grace (a process's exit wakes nobody here).
   */
  monitorHoldLeft(peerId: string): number {
    if (!this.monitorHolds(peerId)) return 0;
    const hold = this.monitors.get(peerId)!;
    if (hold.replace) return Number.POSITIVE_INFINITY;
    const left = hold.until - this.now();
    return left > 0 ? left : MONITOR_GRACE_MS;
  }

  /** The peers whose mail a monitor holds now (not those channel push holds). */
  monitoredPeers(): string[] {
    return [...this.monitors.keys()].filter((id) => this.pathOf(id) === "monitor");
  }

  /** The peer left: its record goes (an open monitor request ends by itself, finding the peer gone). */
  forgetPeer(peerId: string): void {
    this.channels.delete(peerId);
    const hold = this.monitors.get(peerId);
    if (hold && !hold.replace) this.monitors.delete(peerId);
  }

  sizes(): { monitorHolds: number; channelPaths: number } {
    return { monitorHolds: this.monitors.size, channelPaths: this.channels.size };
  }
}
