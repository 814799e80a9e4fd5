/** HTTP probes for the broker's wire: raw requests fetch() will not send, and the error-shape check. */
import { expect } from "bun:test";
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * Sends bytes as they are and reads one response: for what fetch() normalizes away (no Host, no
 * Content-Type, a chunked body, a WebSocket upgrade we only want the status of). `to`: a TCP port
 * on 127.0.0.1 (the console), or the path of a Unix socket (the broker's API).
 */
export function rawRequest(to: number | string, head: string, body: Uint8Array | string = "", timeoutMs = 5000): Promise<RawResponse> {
  const { promise, resolve, reject } = Promise.withResolvers<RawResponse>();
  const socket = typeof to === "number" ? connect(to, "127.0.0.1") : connect({ path: to });
  let buffer = Buffer.alloc(0);
  const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms: ${buffer.toString()}`)), timeoutMs);
  function finish(outcome: RawResponse | Error) {
    clearTimeout(timer);
    socket.destroy();
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  }
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, Buffer.from(chunk)]);
    const end = buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const [statusLine, ...lines] = buffer.subarray(0, end).toString("latin1").split("\r\n");
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
    const bodiless = status === 101 || /^HEAD /i.test(head); // a HEAD answer declares a length it does not send
    const length = bodiless ? 0 : Number(headers.get("content-length") ?? "0");
    const rest = buffer.subarray(end + 4);
    if (rest.byteLength >= length) finish({ status, headers, body: rest.subarray(0, length).toString("utf8") });
  });
  // A reset with nothing sent back is a refusal too (Bun's parser resets some request lines).
  // Over a Unix socket, a body written after the server answered and closed fails with EPIPE: the answer still counts.
  socket.on("error", (err) => (err as NodeJS.ErrnoException).code === "EPIPE" ? undefined : finish((err as NodeJS.ErrnoException).code === "ECONNRESET" && buffer.byteLength === 0 ? new ClosedWithoutAnswer("") : err));
  socket.on("close", () => finish(new ClosedWithoutAnswer(buffer.toString())));
  // A server may answer (and close) before the whole body is written; that is fine here. One
  // write: over a Unix socket a second one after that close resets the socket before its answer is read.
  socket.write(Buffer.concat([Buffer.from(head.replace(/\r?\n/g, "\r\n").replace(/(\r\n)*$/, "\r\n\r\n")), Buffer.from(body)]), () => {});
  return promise;
}

/** The server closed the connection before a whole response (Bun's parser does so for some requests). */
export class ClosedWithoutAnswer extends Error {
  constructor(readonly received: string) {
    super(`connection closed before a complete response: ${received}`);
  }
}

/** rawRequest, but a connection closed with nothing sent back is `null` instead of a throw. */
export async function rawAnswer(to: number | string, head: string, body: Uint8Array | string = ""): Promise<RawResponse | null> {
  try {
    return await rawRequest(to, head, body);
  } catch (err) {
    if (err instanceof ClosedWithoutAnswer && err.received === "") return null;
    throw err;
  }
}

/** The JSON of a 2xx answer (any other is a test failure naming the status), which carries no CORS header. */
export async function okJson<T = Record<string, any>>(res: Response): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text}`);
  expectNoCors(res);
  return JSON.parse(text) as T;
}

export function expectNoCors(res: { headers: Headers }): void {
  const cors = [...res.headers.keys()].filter((k) => k.toLowerCase().startsWith("access-control-"));
  expect(cors).toEqual([]);
}

/** Every refusal is a 4xx JSON `{ error: { code, message } }` whose message names the problem. */
export async function expectWireError(
  res: Response | RawResponse,
  status: number,
  mentions?: RegExp,
): Promise<{ code: string; message: string; field?: string }> {
  const text = res instanceof Response ? await res.text() : res.body;
  const detail = `${res.status} ${text}`;
  expect(detail).toStartWith(String(status));
  expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
  expectNoCors(res);
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error?.code).toBe("string");
  expect(typeof body.error?.message).toBe("string");
  expect((body.error!.message as string).length).toBeGreaterThan(10);
  if (mentions) expect(body.error!.message as string).toMatch(mentions);
  return body.error as { code: string; message: string; field?: string };
}
