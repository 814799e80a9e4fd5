/** Typed HTTP calls to the broker over its socket: sends the token (and peer secret), turns non-2xx into WireError. */
import { checkBrokerSocket, dialBroker, dialBrokerSocket, socketUrl, unsafeSocketMessage } from "./broker-address.ts";
import { PeersError, WireError } from "./errors.ts";
import { ErrorBodySchema, PEER_SECRET_HEADER, ROUTES, type RouteBody, type RoutePath, type RouteResult } from "./protocol.ts";

const REQUEST_TIMEOUT_MS = 10_000;
/**
 * How long a call turned away by the broker's pace (rate_limited) keeps trying before it fails:
 * the broker already holds a sender up to 1 s, so this is only met by a sender far over its pace.
 */
export const PACED_WITHIN_MS = 30_000;

export interface CallOptions {
  /** How long the broker may hold this call on purpose (a waiting check_messages), on top of the usual timeout. */
  waitMs?: number;
}

export interface BrokerClientOptions {
  /** The broker's Unix socket (config.socketPath). */
  socketPath: string;
  token: string;
  /** The peer secret from /register; absent for the CLI. */
  secret?: string;
  fetch?: typeof fetch;
  /** PACED_WITHIN_MS unless a test sets its own. */
  pacedWithinMs?: number;
}

export class BrokerClient {
  readonly url: string;
  readonly socketPath: string;
  secret: string | undefined;
  private readonly token: string;
  private readonly fetchFn: typeof fetch;
  private readonly pacedWithinMs: number;

  constructor(opts: BrokerClientOptions) {
    this.socketPath = opts.socketPath;
    this.url = socketUrl(opts.socketPath);
    this.token = opts.token;
    this.secret = opts.secret;
    this.fetchFn = opts.fetch ?? fetch;
    this.pacedWithinMs = opts.pacedWithinMs ?? PACED_WITHIN_MS;
  }

  headers(): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (this.secret) headers[PEER_SECRET_HEADER] = this.secret;
    return headers;
  }

  /**
   * POSTs `body` to the route `path` and parses the answer as that route's result. A call the
   * broker turns away for its pace waits the time it names and goes again (it stored nothing),
   * for up to pacedWithinMs.
   */
  async call<P extends RoutePath>(path: P, body: RouteBody<P>, opts: CallOptions = {}): Promise<RouteResult<P>> {
    const deadline = Date.now() + this.pacedWithinMs;
    for (;;) {
      try {
        return await this.callOnce(path, body, opts);
      } catch (err) {
        if (!(err instanceof WireError && err.code === "rate_limited" && err.retryAfterMs !== undefined)) throw err;
        // A little spread, so calls turned away together do not all come back in the same instant.
        const waitMs = err.retryAfterMs + Math.random() * Math.min(50, err.retryAfterMs);
        if (Date.now() + waitMs > deadline) {
          throw new WireError(
            "rate_limited",
            `the broker is still pacing this sender after ${this.pacedWithinMs / 1000} s (it is far over its rate); nothing was sent, try again in a few seconds`,
            { retryAfterMs: err.retryAfterMs },
          );
        }
        await Bun.sleep(waitMs);
      }
    }
  }

  private async callOnce<P extends RoutePath>(path: P, body: RouteBody<P>, opts: CallOptions): Promise<RouteResult<P>> {
    this.assertOwnSocket();
    let res: Response;
    try {
      res = await dialBroker(this.socketPath, path, {
        method: "POST",
        headers: { ...this.headers(), "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS + (opts.waitMs ?? 0)),
        // Bun's own idle timer (5 min) would cut a long wait short; the signal above bounds it.
        ...(opts.waitMs ? { timeout: false } : {}),
      }, this.fetchFn);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Refused, or no socket file at all (ENOENT): the request provably never left.
      const refused = code === "ConnectionRefused" || code === "ECONNREFUSED" || code === "ENOENT";
      throw new PeersError(
        "broker_unreachable",
        `the claude-peers broker at ${this.url} is not answering (${(err as Error).message}); try again in a moment`,
        refused,
      );
    }
    const data = await res.json().catch(() => undefined);
    if (!res.ok) {
      const parsed = ErrorBodySchema.safeParse(data);
      if (!parsed.success) throw new WireError("internal", `HTTP ${res.status} from the broker`);
      const { code, message, field, retry_after_ms } = parsed.data.error;
      throw new WireError(code, message, { field, retryAfterMs: retry_after_ms });
    }
    const parsed = ROUTES[path].result.safeParse(data);
    if (!parsed.success) throw new PeersError("broker_foreign", `unexpected answer from ${this.url}${path}; is the broker the same version?`);
    return parsed.data as RouteResult<P>;
  }

  /** A WebSocket to /ws with the same credentials (Bun's client accepts headers). */
  openSocket(): WebSocket {
    this.assertOwnSocket();
    return dialBrokerSocket(this.socketPath, "/ws", this.headers());
  }

  /**
   * Checked before every request, not once: the broker may have died and something else taken
   * its place since the last one. A socket that is not this user's never gets the token.
   */
  private assertOwnSocket(): void {
    const check = checkBrokerSocket(this.socketPath);
    if (check.kind === "unsafe") throw new PeersError("socket_unsafe", unsafeSocketMessage(check.detail));
  }
}
