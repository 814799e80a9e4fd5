/** The two kinds of error: WireError crosses HTTP (status + JSON body), PeersError stays local. */

export type WireErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "mailbox_full"
  | "unavailable"
  | "internal";

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

/** An error the broker answers with, and the broker client turns back into. */
export class WireError extends Error {
  readonly status: number;
  /** With rate_limited: how long until the same request may be sent again. */
  readonly retryAfterMs: number | undefined;
  constructor(
    readonly code: WireErrorCode,
    message: string,
    opts: { retryAfterMs?: number } = {},
  ) {
    super(message);
    this.name = "WireError";
    this.status = STATUS[code];
    this.retryAfterMs = opts.retryAfterMs;
  }

  toResponse(): Response {
    if (this.retryAfterMs === undefined) return Response.json({ error: { code: this.code, message: this.message } }, { status: this.status });
    return Response.json(
      { error: { code: this.code, message: this.message, retry_after_ms: this.retryAfterMs } },
      { status: this.status, headers: { "retry-after": String(Math.ceil(this.retryAfterMs / 1000)) } },
    );
  }
}

export type PeersErrorCode =
  | "broker_unreachable"
  | "broker_foreign"
  | "broker_start_failed"
  | "not_registered"
  | "token_missing";

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
