/**
 * The broker's two doors: its API on a Unix socket (the one that carries the token; whoever binds
 * it is this user's broker) and the operator console on a TCP port of 127.0.0.1.
 */
import type { Server } from "bun";
import { lstatSync, unlinkSync } from "node:fs";
import { prepareSocketFolder } from "../broker-address.ts";
import { probeBroker } from "../broker-probe.ts";

/**
 * Binds the API socket (`bind` calls Bun.serve on it) in a folder of this user's (0700). A socket
 * file left by a broker that died (nothing accepts on it) is removed first; a live one is
 * EADDRINUSE, for the caller to tell. Starters take turns (launch-broker.ts's lock), so two never
 * remove each other's socket.
 */
export async function listenOnSocket<T>(socketPath: string, bind: () => Server<T>): Promise<Server<T>> {
  prepareSocketFolder(socketPath);
  try {
    return bind();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || (await probeBroker(socketPath)).kind !== "none") throw err;
  }
  unlinkSync(socketPath);
  return bind();
}

/**
 * Binds the console (`bind` calls Bun.serve on 127.0.0.1), or returns null when its port is taken:
 * by another user's broker or any program. The API does not need it, so the broker runs on.
 */
export function listenForConsole<T>(bind: () => Server<T>): Server<T> | null {
  try {
    return bind();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") return null;
    throw err;
  }
}

/**
 * Which file the socket path names now (device, inode and change time: an inode number alone may
 * be reused at once), or null when there is none. A broker whose
 * socket was removed or replaced serves nobody new while another broker takes the database: it
 * compares this with its own and leaves. (Bun removes the path when a unix server stops, whoever's
 * socket it names by then, so a broker that lost its path must not stop that server itself.)
 */
export function socketIdentity(socketPath: string): string | null {
  try {
    const stats = lstatSync(socketPath);
    return `${stats.dev}:${stats.ino}:${stats.ctimeMs}`;
  } catch {
    return null;
  }
}
