/**
 * One JSON POST to the broker over its Unix socket (Bun.connect). The hook runs on every tool call,
 * and fetch's first request costs it ~4 ms more to set up than this whole exchange takes. The
 * broker (Bun.serve) answers JSON with a Content-Length; "Connection: close" has it close after.
 */
import { checkBrokerSocket, unsafeSocketMessage } from "../broker-address.ts";

/**
 * The parsed JSON of a 200 answer; undefined for anything else (refused, timed out, not ours).
 * `timeoutMs` 0: no limit. Throws, before sending anything, when the socket is not this user's.
 */
export async function postJson(socketPath: string, path: string, token: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const check = checkBrokerSocket(socketPath);
  if (check.kind === "none") return undefined;
  if (check.kind === "unsafe") throw new Error(unsafeSocketMessage(check.detail));
  const payload = Buffer.from(JSON.stringify(body));
  const head =
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${payload.byteLength}\r\nConnection: close\r\n\r\n`;
  let pending: Buffer = Buffer.concat([Buffer.from(head), payload]);
  const chunks: Buffer[] = [];
  const { promise, resolve } = Promise.withResolvers<boolean>();
  const timer = timeoutMs > 0 ? setTimeout(() => resolve(false), timeoutMs) : undefined;
  const flush = (socket: Bun.Socket) => {
    const written = socket.write(pending);
    pending = pending.subarray(Math.max(0, written));
  };
  let socket: Bun.Socket | undefined;
  try {
    socket = await Bun.connect({
      unix: socketPath,
      socket: {
        open: flush,
        drain: flush, // a write the kernel took only part of goes on here
        data: (_socket, data) => void chunks.push(Buffer.from(data)),
        close: () => resolve(true),
        error: () => resolve(false),
        connectError: () => resolve(false),
      },
    });
    if (!(await promise)) return undefined;
  } catch {
    return undefined; // connection refused: no broker behind the socket
  } finally {
    clearTimeout(timer);
    socket?.end();
  }
  return parseResponse(Buffer.concat(chunks).toString("utf8"));
}

/** The JSON body of "HTTP/1.1 200 …" with a plain (not chunked) body, else undefined. */
export function parseResponse(raw: string): unknown {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0 || !/^HTTP\/1\.[01] 200 /.test(raw)) return undefined;
  if (/^transfer-encoding:\s*chunked/im.test(raw.slice(0, end))) return undefined;
  try {
    return JSON.parse(raw.slice(end + 4));
  } catch {
    return undefined;
  }
}
