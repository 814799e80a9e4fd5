/**
 * Where the broker is and how to dial it: the one place that says so.
 *
 * Every call that carries the token, a peer secret or mail goes over the broker's Unix socket, in
 * a folder of this user's with mode 0700: the kernel lets no other user connect to it or place a
 * socket there, so a client never hands its token to another user's listener (any local user may
 * bind a TCP port on 127.0.0.1 while the broker is down). TCP carries only the operator console,
 * which has its own login (broker/console.ts). Before dialing, a client checks that the folder and
 * the socket are this user's and not symlinks; root could still replace them, and root is trusted.
 *
 * Zod-free, like everything the hook imports: its start-up time is paid on every tool call.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { entryOf } from "./private-file.ts";

/** What a request over the socket names as its host: a loopback name, as the broker's Host rule wants. */
const SOCKET_ORIGIN = "http://localhost";
/** sun_path is 108 bytes on Linux (104 on macOS), with its terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = process.platform === "linux" ? 107 : 103;

/** The console's address in a browser. */
export function consoleUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** How the socket is named in messages and in /status. */
export function socketUrl(socketPath: string): string {
  return `unix:${socketPath}`;
}

/** An HTTP request to the broker's socket: `path` is the route ("/status"). */
export function dialBroker(socketPath: string, path: string, init: RequestInit = {}, fetchFn: typeof fetch = fetch): Promise<Response> {
  return fetchFn(`${SOCKET_ORIGIN}${path}`, { ...init, unix: socketPath } as RequestInit);
}

/**
 * A WebSocket to the broker's socket. Bun's client dials a Unix socket from a `ws+unix://<socket>:<path>`
 * URL (its `unix` option is for fetch only); the path ends at the last ':', which is why a socket
 * path may not hold one (checkSocketPath).
 */
export function dialBrokerSocket(socketPath: string, path: string, headers: Record<string, string>): WebSocket {
  return new WebSocket(`ws+unix://${socketPath}:${path}`, { headers } as unknown as string[]);
}

/** Why the kernel or the WebSocket client cannot take this path (the message names the fix), or null. */
export function socketPathProblem(socketPath: string): string | null {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    return `the broker's socket path ${socketPath} is ${bytes} bytes, over the ${MAX_SOCKET_PATH_BYTES} a Unix socket may have; set CLAUDE_PEERS_DB to a file in a shorter folder`;
  }
  if (socketPath.includes(":")) return `the broker's socket path ${socketPath} holds a ':', which a WebSocket cannot dial; set CLAUDE_PEERS_DB to a folder without one`;
  return null;
}

export type SocketCheck = { kind: "ok" } | { kind: "none" } | { kind: "unsafe"; detail: string };

/**
 * Whether the socket may be trusted with the token: its folder and the socket itself are this
 * user's, neither is a symlink, and the folder lets no one else in. "none" when nothing is there.
 */
export function checkBrokerSocket(socketPath: string, uid = currentUid()): SocketCheck {
  const dir = dirname(socketPath);
  const folder = entryOf(dir);
  if (!folder) return { kind: "none" };
  const folderProblem = unsafeFolder(dir, folder, uid);
  if (folderProblem) return { kind: "unsafe", detail: folderProblem };
  const socket = entryOf(socketPath);
  if (!socket) return { kind: "none" };
  if (socket.isSymbolicLink()) return { kind: "unsafe", detail: `${socketPath} is a symlink, not the broker's socket` };
  if (!socket.isSocket()) return { kind: "unsafe", detail: `${socketPath} is not a socket` };
  if (socket.uid !== uid) return { kind: "unsafe", detail: `the socket ${socketPath} belongs to ${userName(socket.uid)}, not to you` };
  return { kind: "ok" };
}

/** What to say about a socket checkBrokerSocket found unsafe. */
export function unsafeSocketMessage(detail: string): string {
  return `${detail}; the token is not sent to it. Remove it, or set CLAUDE_PEERS_DB to a file in a folder of yours`;
}

/**
 * The broker's side: makes the socket's folder (0700) or checks the one there, and tightens a
 * folder of this user's that others could enter. Throws when it is not this user's.
 */
export function prepareSocketFolder(socketPath: string, uid = currentUid()): void {
  const pathProblem = socketPathProblem(socketPath);
  if (pathProblem) throw new Error(pathProblem);
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const folder = lstatSync(dir);
  if (folder.isDirectory() && !folder.isSymbolicLink() && folder.uid === uid && (folder.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const problem = unsafeFolder(dir, lstatSync(dir), uid);
  if (problem) throw new Error(`${problem}; remove it, or set CLAUDE_PEERS_DB to a file in a folder of yours`);
}

/** Why a folder may not hold the broker's socket, or null. */
function unsafeFolder(dir: string, stats: Stats, uid: number): string | null {
  if (stats.isSymbolicLink()) return `the socket folder ${dir} is a symlink`;
  if (!stats.isDirectory()) return `${dir} is not a folder`;
  if (stats.uid !== uid) return `the socket folder ${dir} belongs to ${userName(stats.uid)}, not to you`;
  if ((stats.mode & 0o077) !== 0) return `the socket folder ${dir} is open to other users (mode ${(stats.mode & 0o777).toString(8)}, should be 700)`;
  return null;
}

function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/** "user mallory (uid 1001)", from /etc/passwd when it names the uid. */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (name && Number(id) === uid) return `user ${name} (uid ${uid})`;
    }
  } catch {
    // no passwd file to ask
  }
  return `uid ${uid}`;
}
