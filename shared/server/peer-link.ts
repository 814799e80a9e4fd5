/**
 * A server's live link to the broker: registers, holds the push WebSocket (or polls once a second
 * when push is unavailable), acks what it handed to Claude, and comes back by itself — starting a
 * new broker if the old one died — keeping its peer id.
 */
import { BrokerClient, type BrokerClientOptions, type CallOptions } from "../broker-client.ts";
import { ensureBroker, type RunningBroker } from "./launch-broker.ts";
import type { Config } from "../config.ts";
import { PeersError, WireError, errorMessage } from "../errors.ts";
import type { Log } from "../log.ts";
import { BrokerFrameSchema, type Message, type PeerFrame, type RegisterBody, type RouteBody, type RoutePath, type RouteResult } from "../protocol.ts";

export const POLL_INTERVAL_MS = 1000;
/** After a failed WebSocket, poll this many times before trying push again. */
const POLLS_BEFORE_PUSH_RETRY = 10;
export const MAX_BACKOFF_MS = 1000;
/** Tool calls wait this long for a (re)connecting link before failing with a retryable error. */
const READY_WAIT_MS = 5000;
const SEEN_IDS_LIMIT = 10_000;
/** Failures a retry will not fix soon: tool calls report these at once instead of waiting. */
const LASTING_FAILURES: ReadonlySet<string> = new Set(["broker_foreign", "token_missing", "broker_start_failed", "socket_unsafe", "socket_path", "broker_other_store"]);
/** Each try at a broker that failed to start spawns a process: retry rarely, never in a tight loop. */
export const START_FAILURE_RETRY_MS = 15_000;

export type Registration = Omit<RegisterBody, "peer_id" | "secret">;

export interface PeerLinkOptions {
  config: Config;
  registration: Registration;
  /** Hands a message to Claude; resolves once written. The link acks it afterwards. */
  deliver: (message: Message) => Promise<void>;
  log: Log;
  /** Finds the broker or starts one; a test passes a starter of its own. */
  ensureBroker?: (config: Config) => Promise<RunningBroker>;
  /** Builds the HTTP client of one registration; a test wraps it to cut requests short. */
  createClient?: (opts: BrokerClientOptions) => BrokerClient;
  /**
   * Waits out a retry backoff or a poll interval, ending early when `signal` aborts (reconnect()
   * and stop() cut the loop's waits short). A test passes one that records the delay and returns
   * at once, so no test waits on the clock.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type LinkState = "connecting" | "push" | "poll" | "stopped";

export class PeerLink {
  state: LinkState = "connecting";
  peerId: string | undefined;
  name: string | undefined;
  lastError: string | undefined;
  private lastErrorLasts = false;
  private brokerPid: number | undefined;
  private client: BrokerClient | undefined;
  private secret: string | undefined;
  private registration: Registration;
  private socket: WebSocket | undefined;
  private readonly seen = new Set<string>();
  private delivering: Promise<void> = Promise.resolve();
  private readyWaiters: Array<() => void> = [];
  private wake: (() => void) | undefined;
  private readonly ensureBroker: (config: Config) => Promise<RunningBroker>;
  private readonly createClient: (opts: BrokerClientOptions) => BrokerClient;
  private readonly pause: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: PeerLinkOptions) {
    this.registration = opts.registration;
    this.ensureBroker = opts.ensureBroker ?? ensureBroker;
    this.createClient = opts.createClient ?? ((clientOpts) => new BrokerClient(clientOpts));
    this.pause = opts.sleep ?? sleepUnlessAborted;
  }

  get brokerUrl(): string | undefined {
    return this.client?.url;
  }

  /** Starts the connect loop in the background; never throws. */
  start(): void {
    void this.run();
  }

  /** Updates what this peer tells the broker on every (re)registration. */
  updateRegistration(patch: Partial<Registration>): void {
    this.registration = { ...this.registration, ...patch };
  }

  /** Marks ids as already shown to Claude (check_messages), so a later push is dropped. */
  markSeen(ids: readonly string[]): void {
    for (const id of ids) this.remember(id);
  }

  /**
   * Calls the broker as this peer, waiting briefly for the link if it is (re)connecting. If the
   * broker dies under the call, the link brings a new one up and the call is sent once more when
   * that cannot do anything twice: the request never left, or it is `idempotent`.
   */
  async call<P extends RoutePath>(path: P, body: RouteBody<P>, opts: { idempotent?: boolean } & CallOptions = {}): Promise<RouteResult<P>> {
    const deadline = Date.now() + READY_WAIT_MS;
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
      try {
        return await this.callOnce(path, body, opts);
      } catch (err) {
        // The shared database is restarting (503): an idempotent call is safe to send again.
        const retry = opts.idempotent && err instanceof WireError && err.code === "unavailable" && Date.now() + backoff < deadline;
        if (!retry) throw err;
        await this.pause(backoff);
      }
    }
  }

  private async callOnce<P extends RoutePath>(path: P, body: RouteBody<P>, opts: { idempotent?: boolean } & CallOptions): Promise<RouteResult<P>> {
    try {
      return await (await this.ready()).call(path, body, opts);
    } catch (err) {
      const lost = err instanceof PeersError && err.code === "broker_unreachable";
      if (!lost && !(err instanceof WireError && err.code === "unauthorized")) throw err;
      this.reconnect();
      if (!(lost && (err.nothingSent || opts.idempotent))) throw err;
      return (await this.ready()).call(path, body, opts);
    }
  }

  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    const client = this.client;
    const registered = this.state === "push" || this.state === "poll";
    this.state = "stopped";
    this.wake?.();
    this.socket?.close(1000, "session ended");
    if (client && registered) {
      await Promise.race([client.call("/unregister", {}).catch(() => {}), Bun.sleep(500)]);
    }
  }

  private get stopped(): boolean {
    return this.state === "stopped";
  }

  private async ready(): Promise<BrokerClient> {
    if (this.state === "stopped") throw new PeersError("not_registered", "this session is shutting down");
    if ((this.state === "push" || this.state === "poll") && this.client) return this.client;
    if (this.lastErrorLasts) throw new PeersError("broker_unreachable", `cannot use the claude-peers broker: ${this.lastError}`);
    const { promise, resolve } = Promise.withResolvers<void>();
    this.readyWaiters.push(resolve);
    const timer = setTimeout(resolve, READY_WAIT_MS);
    await promise;
    clearTimeout(timer);
    if ((this.state === "push" || this.state === "poll") && this.client) return this.client;
    throw new PeersError(
      "broker_unreachable",
      `not connected to the claude-peers broker yet${this.lastError ? ` (${this.lastError})` : ""}; try again in a few seconds`,
    );
  }

  private setState(state: LinkState): void {
    if (this.state === "stopped") return;
    this.state = state;
    if (state === "push" || state === "poll") for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  /** Drops the current connection so the loop reconnects (and re-registers) at once. */
  private reconnect(): void {
    if (this.stopped) return;
    this.state = "connecting"; // calls now wait for the new registration
    this.socket?.close(4002, "reconnecting");
    this.wake?.();
  }

  private async run(): Promise<void> {
    let backoff = 50;
    while (!this.stopped) {
      try {
        const client = await this.register();
        backoff = 50;
        if (this.opts.config.push && (await this.holdSocket(client))) continue;
        await this.pollUntilBroken(client, this.opts.config.push ? POLLS_BEFORE_PUSH_RETRY : Infinity);
      } catch (err) {
        const message = errorMessage(err);
        // Retries run every second while the broker is missing: log each new failure once, not each retry.
        if (message !== this.lastError) this.opts.log(`broker link: ${message}`);
        this.lastError = message;
        this.lastErrorLasts = err instanceof PeersError && LASTING_FAILURES.has(err.code);
        if (err instanceof PeersError && err.code === "broker_start_failed") backoff = START_FAILURE_RETRY_MS;
        // Calls waiting for the link learn now that it will not come soon.
        if (this.lastErrorLasts) for (const resolve of this.readyWaiters.splice(0)) resolve();
      }
      if (this.stopped) return;
      this.state = "connecting";
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private async register(): Promise<BrokerClient> {
    const { health, token } = await this.ensureBroker(this.opts.config);
    const client = this.createClient({ socketPath: this.opts.config.socketPath, token });
    const body: RegisterBody = {
      ...this.registration,
      // Ask for the name we had, so a broker restart does not shuffle names.
      name: this.name ?? this.registration.name,
      ...(this.peerId && this.secret ? { peer_id: this.peerId, secret: this.secret } : {}),
    };
    const result = await client.call("/register", body).catch((err) => {
      if (!(body.peer_id && err instanceof WireError && err.code === "forbidden" && err.field === "peer_id")) throw err;
      // This broker never issued our id (a new database) or no longer knows it: a new id, the same name.
      this.opts.log(`broker refused peer id ${body.peer_id} (${err.message}); registering as a new peer`);
      const { peer_id: _, secret: __, ...fresh } = body;
      return client.call("/register", fresh);
    });
    if (this.peerId !== result.peer_id || this.name !== result.name || this.brokerPid !== health.pid) {
      this.opts.log(`registered as ${result.name} (${result.peer_id}) with broker pid ${health.pid}`);
      const missing = (body.peer_id ? [] : (body.groups ?? [])).filter((g) => !result.groups.includes(g));
      if (missing.length) this.opts.log(`could not join CLAUDE_PEERS_GROUPS ${missing.join(", ")} (see the broker's log)`);
    }
    this.brokerPid = health.pid;
    this.peerId = result.peer_id;
    this.secret = result.secret;
    this.name = result.name;
    this.client = this.createClient({ socketPath: this.opts.config.socketPath, token, secret: result.secret });
    this.lastError = undefined;
    this.lastErrorLasts = false;
    return this.client;
  }

  /** Holds the push socket until it closes. Returns false if it never opened (use polling). */
  private holdSocket(client: BrokerClient): Promise<boolean> {
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const socket = client.openSocket();
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.setState("push");
    };
    socket.onmessage = (event) => this.onFrame(socket, String(event.data));
    socket.onclose = (event) => {
      if (this.socket === socket) this.socket = undefined;
      if (opened && this.state !== "stopped") this.opts.log(`push connection closed (${event.code} ${event.reason || "no reason"}); reconnecting`);
      resolve(opened);
    };
    socket.onerror = () => {}; // onclose follows and carries the outcome
    return promise;
  }

  private onFrame(socket: WebSocket, data: string): void {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return;
    }
    const frame = BrokerFrameSchema.safeParse(json);
    if (!frame.success || frame.data.type !== "message") return;
    const message = frame.data.message;
    this.enqueue(message, () => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ack", ids: [message.id] } satisfies PeerFrame));
    });
  }

  /** Delivers in arrival order; a duplicate (re-pushed after reconnect) is acked but not shown again. */
  private enqueue(message: Message, ack: () => void | Promise<void>): Promise<void> {
    this.delivering = this.delivering.then(async () => {
      if (!this.seen.has(message.id)) {
        try {
          await this.opts.deliver(message);
        } catch (err) {
          this.opts.log(`could not hand ${message.id} to Claude: ${errorMessage(err)}`);
          return; // not acked: the broker keeps it and pushes it again
        }
        this.remember(message.id);
      }
      await ack();
    });
    return this.delivering;
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > SEEN_IDS_LIMIT) this.seen.delete(this.seen.values().next().value!);
  }

  /**
   * The fallback: poll once a second until the broker stops answering, `rounds` run out, or
   * reconnect() asks for a fresh registration (it moves the state off "poll").
   */
  private async pollUntilBroken(client: BrokerClient, rounds: number): Promise<void> {
    this.setState("poll");
    const polling = () => this.state === "poll";
    for (let i = 0; i < rounds && polling(); i++) {
      const { messages } = await client.call("/poll", {});
      for (const message of messages) {
        await this.enqueue(message, async () => {
          await client.call("/ack", { ids: [message.id] });
        });
      }
      await this.sleep(POLL_INTERVAL_MS);
    }
  }

  /** A sleep that reconnect() and stop() can cut short. */
  private async sleep(ms: number): Promise<void> {
    const cutShort = new AbortController();
    this.wake = () => cutShort.abort();
    await this.pause(ms, cutShort.signal);
    this.wake = undefined;
  }
}

/** The default wait: a timer, cleared when `signal` aborts so a cut-short wait holds nothing open. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => {
    clearTimeout(timer);
    resolve();
  }, { once: true });
  return promise;
}
