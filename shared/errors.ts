/** The two kinds of error: WireError crosses HTTP (status + JSON body), PeersError stays local. */
import { z } from "zod";
import { terminalJson } from "./safe-text.ts";

export const WireErrorCodeSchema = z.enum([
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "method_not_allowed",
  "conflict",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "mailbox_full",
  "unavailable",
  "internal",
]);
export type WireErrorCode = z.infer<typeof WireErrorCodeSchema>;

const STATUS: Record<WireErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  mailbox_full: 429,
  unavailable: 503,
  internal: 500,
};

export interface WireErrorDetails {
  /** The body field the error is about: clients add their hints by it, never by message text. */
  field?: string;
  /** With rate_limited: how long until the same request may be sent again. */
  retryAfterMs?: number;
}

/** An error the broker answers with, and the broker client turns back into. */
export class WireError extends Error {
  readonly status: number;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(
    readonly code: WireErrorCode,
    message: string,
    details: WireErrorDetails = {},
  ) {
    super(message);
    this.name = "WireError";
    this.status = STATUS[code];
    this.field = details.field;
    this.retryAfterMs = details.retryAfterMs;
  }

  toResponse(): Response {
    const error = { code: this.code, message: this.message, field: this.field, retry_after_ms: this.retryAfterMs };
    const headers: Record<string, string> = this.retryAfterMs === undefined ? {} : { "retry-after": String(Math.ceil(this.retryAfterMs / 1000)) };
    return Response.json({ error }, { status: this.status, headers });
  }
}

export type PeersErrorCode =
  | "broker_unreachable"
  | "broker_foreign"
  | "broker_start_failed"
  | "not_registered"
  | "token_missing"
  | "socket_path"
  | "socket_unsafe"
  /** A broker of another CLAUDE_PEERS_DB answers on this session's socket. */
  | "broker_other_store";

/** A local failure (never serialized): the message says what to do next. */
export class PeersError extends Error {
  constructor(
    readonly code: PeersErrorCode,
    message: string,
    /** True when the request provably never reached a broker (connection refused): safe to resend. */
    readonly nothingSent = false,
  ) {
    super(message);
    this.name = "PeersError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Request text for a log line or an error: bounded, and with control characters (C1 and bidi too) shown escaped. */
export function printable(text: string): string {
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return terminalJson(short).slice(1, -1);
}
