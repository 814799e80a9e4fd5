/** Request checks every broker route shares: loopback Host, no browsers, bearer token, JSON bodies. */
import type { z } from "zod";
import { WireError } from "../errors.ts";
import { describeZodError, zodErrorField } from "../protocol.ts";
import { sameSecret } from "../token.ts";

/** Bodies are small JSON; a 64 KiB message stays well under this even fully \u-escaped. */
export const MAX_BODY_BYTES = 512 * 1024;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** DNS rebinding: a web page can resolve its own name to 127.0.0.1, but its requests still carry that name in Host. */
export function assertLocalHost(req: Request): void {
  const host = req.headers.get("host");
  const hostname = host?.replace(/:\d+$/, "").toLowerCase();
  if (!hostname || !LOOPBACK_HOSTS.has(hostname)) {
    throw new WireError("forbidden", `Host "${host ?? ""}" is not allowed; the broker only answers 127.0.0.1, localhost or [::1]`);
  }
}

/** Browsers always send Origin on cross-site requests; no client of ours does (the console has its own rules). */
export function assertNoOrigin(req: Request): void {
  if (req.headers.has("origin")) {
    throw new WireError("forbidden", "requests from web pages (with an Origin header) are refused");
  }
}

export function assertToken(req: Request, token: string): void {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) {
    throw new WireError("unauthorized", "missing Authorization: Bearer <token>; the token is in the file beside the broker's database");
  }
  if (!sameSecret(match[1]!, token)) {
    throw new WireError("unauthorized", "wrong token; read it again from the token file beside the broker's database");
  }
}

/**
 * The checks every POST gets before its route runs, whether or not the route reads a body: a
 * browser's form or text/plain POST needs no preflight, so it must be refused here, not later.
 */
function assertJsonRequest(req: Request): void {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new WireError("unsupported_media_type", `Content-Type must be application/json, got "${type || "none"}"`);
  }
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
}

/** Reads and validates a JSON body; every failure is a 4xx that names the problem. */
export async function readJson<S extends z.ZodType>(req: Request, schema: S): Promise<z.infer<S>> {
  assertJsonRequest(req);
  const bytes = await readCapped(req);
  let data: unknown;
  try {
    data = bytes.byteLength === 0 ? {} : JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new WireError("bad_request", "body is not valid UTF-8 JSON");
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new WireError("bad_request", describeZodError(parsed.error), { field: zodErrorField(parsed.error) });
  return parsed.data;
}

/** Reads at most MAX_BODY_BYTES: a chunked body has no length to check up front, so stop mid-stream. */
async function readCapped(req: Request): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  // A declared length was already held to the cap (assertJsonRequest), so read it in one go: the
  // stream reader below cost about a tenth of the broker's CPU per message under load.
  if (req.headers.has("content-length") && !req.headers.has("transfer-encoding")) {
    const body = await req.arrayBuffer().catch(() => {
      throw new WireError("bad_request", "could not read the request body");
    });
    return new Uint8Array(body);
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const chunk = await reader.read().catch(() => {
      throw new WireError("bad_request", "could not read the request body");
    });
    if (chunk.done) return Buffer.concat(chunks);
    size += chunk.value.byteLength;
    if (size > MAX_BODY_BYTES) {
      void reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
}

function tooLarge(): WireError {
  return new WireError("payload_too_large", `request body over ${MAX_BODY_BYTES / 1024} KiB; messages are limited to 64 KiB`);
}
