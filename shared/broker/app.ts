/**
 * The broker as a factory. It composes the services — presence (who is live), the pusher (stored
 * messages onto sockets), watchers (the one place events come from), the registry (who the peers
 * are), mail (the one place a message is stored and changes state), hook mail — each handed only
 * the ones below it; then serves them on its Unix socket (request checks, the route table in
 * routes.ts, the push and watch WebSockets) and the operator console on 127.0.0.1 (listen.ts),
 * binds the other hosts' notices to them (network-bridge.ts), and keeps house (sweeps and prunes).
 */
import type { Server, ServerWebSocket } from "bun";
import { consoleUrl, socketUrl } from "../broker-address.ts";
import { WireError, errorMessage, printable } from "../errors.ts";
import { processAlive, processStart } from "../process-alive.ts";
import { BROKER_SERVICE, PEER_SECRET_HEADER, PROTOCOL_VERSION, PeerFrameSchema, ROUTES, isRoute, type Health, type ParsedBody, type RoutePath, type RouteResult } from "../protocol.ts";
import { StoreUnavailableError, type PeerRow, type Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import { ConsoleAuth } from "./console-auth.ts";
import { consoleHandler, isConsolePath } from "./console.ts";
import { assertLocalHost, assertNoOrigin, assertToken, readJson } from "./guard.ts";
import type { DampingLimits } from "./damping.ts";
import { DeliveryPaths } from "./delivery-paths.ts";
import { Groups } from "./groups.ts";
import { HookMail } from "./hook-mail.ts";
import { listenForConsole, listenOnSocket, socketIdentity } from "./listen.ts";
import { Edits } from "./edits.ts";
import { FileKeys } from "../file-key.ts";
import { Notices } from "./notices.ts";
import { EditFlags } from "./edit-flags.ts";
import { editsStoreFor } from "../store/open-edits.ts";
import { MailFlags } from "./mail-flags.ts";
import { Mail } from "./mail.ts";
import { otherHostsOf, startNetworkBridge } from "./network-bridge.ts";
import type { BrokerNetwork } from "./network.ts";
import { Presence, type LivePeer } from "./presence.ts";
import { startHousekeeping } from "./housekeeping.ts";
import { Pusher } from "./push.ts";
import { Registry } from "./registry.ts";
import { routeHandlers, type RouteContext } from "./routes.ts";
import type { PaceLimits } from "./send-pace.ts";
import { Watchers } from "./watchers.ts";

const DEFAULT_COLLISION_WINDOW_MS = 30 * 60 * 1000;

export interface ServiceOptions {
  store: Store;
  mailboxTtlMs: number;
  /** How long held mail waits for a person before it expires; mailboxTtlMs when absent. */
  heldTtlMs?: number;
  /** This machine's name, stamped on every peer that registers here. */
  host: string;
  /** The other hosts' brokers, through a shared PostgreSQL; absent on SQLite (one machine). */
  network?: BrokerNetwork;
  /** The senders' pace; SEND_RATE unless a test sets its own. */
  sendRate?: PaceLimits;
  /** Loop damping; DAMPING unless the environment or a test sets its own. */
  damping?: DampingLimits;
  /** How long another session's edit of a file counts (CLAUDE_PEERS_COLLISION_WINDOW_S); 30 min when absent. */
  collisionWindowMs?: number;
  /** Where to keep the edit hooks' stake files; none when absent (in-process tests). */
  editFlagDir?: string;
  /** Where to keep the hooks' mail flags; none when absent (in-process tests). */
  mailFlagDir?: string;
  log?: (line: string) => void;
  /** The clock the broker's state runs on (tests inject one). */
  now?: () => number;
  /** Whether a local process still exists; a crashed poll-mode peer is dropped at once. */
  pidAlive?: (pid: number) => boolean;
}

export interface Services {
  store: Store;
  presence: Presence;
  pusher: Pusher;
  watchers: Watchers;
  groups: Groups;
  mail: Mail;
  registry: Registry;
  hookMail: HookMail;
  /** Which path holds each session's mail: channel push, the plugin's monitor, or the hooks. */
  paths: DeliveryPaths;
  /**
   * How many entries each per-peer (or per-message) map of the broker holds: a test that registers
   * and drops peers checks they are back where they started.
   */
  sizes(): Record<string, number>;
  edits: Edits;
}

/** The services alone, with no HTTP in front (createBroker serves them; in-process tests drive them). */
export function composeServices(opts: ServiceOptions): Services {
  const { store, network } = opts;
  const log = opts.log ?? (() => {});
  const now = opts.now ?? Date.now;
  // Presence tells the registry who the sweep found gone, and the services below what a peer that
  // left leaves behind; they are made just below.
  let registry: Registry | undefined;
  let forgetPeer: ((p: LivePeer) => void) | undefined;
  const pidAlive = opts.pidAlive ?? processAlive;
  const presence = new Presence({
    host: opts.host,
    network,
    now,
    pidAlive,
    onGone: (p) => registry?.departed(p),
    onLeft: (p) => forgetPeer?.(p),
  });
  // Which path holds each session's mail. A path that changes (a monitor's request ending, a
  // session turning out to show channel push) wakes whoever waits for the session (its waiter, its
  // monitor), and a session that now takes pushes gets what waits for it.
  let changed: (peerId: string) => void = () => {};
  const paths = new DeliveryPaths({ now, pidAlive, processStart, changed: (peerId) => changed(peerId) });
  const pusher = new Pusher(presence, store, log, (peerId) => paths.channelHolds(peerId));
  const watchers = new Watchers();
  const otherHosts = network ? otherHostsOf(network) : undefined;
  const groups = new Groups(store, presence, now);
  const flags = opts.mailFlagDir ? new MailFlags(opts.mailFlagDir, log) : undefined;
  const { mailboxTtlMs, heldTtlMs, sendRate, damping } = opts;
  const mail = new Mail({ store, presence, pusher, watchers, groups, mailboxTtlMs, heldTtlMs, otherHosts, sendRate, damping, flags, now, log });
  registry = new Registry({ store, presence, pusher, mail, groups, watchers, paths, now, log });
  changed = (peerId) => {
    mail.wake(peerId);
    if (paths.channelHolds(peerId)) pusher.pushQueued(peerId).catch(() => pusher.repushAll());
  };
  const hookMail = new HookMail({ presence, mail, store, paths, now });
  const notices = new Notices(mail, log);
  const edits = new Edits({ store: editsStoreFor(store), presence, notices, keys: new FileKeys(now), windowMs: opts.collisionWindowMs ?? DEFAULT_COLLISION_WINDOW_MS, now, flags: opts.editFlagDir ? new EditFlags(opts.editFlagDir, log) : undefined });
  // Everything kept per peer goes when it leaves, so a broker that runs for months does not grow.
  forgetPeer = (p) => {
    mail.forgetPeer(p);
    hookMail.forgetPeer(p.row.id);
    edits.forgetPeer(p.row.id);
  };
  const sizes = () => ({ ...presence.sizes(), ...mail.sizes(), ...hookMail.sizes(), ...edits.sizes() });
  return { store, presence, pusher, watchers, groups, mail, registry, hookMail, paths, edits, sizes };
}

export interface BrokerOptions extends ServiceOptions {
  token: string;
  /** The API's Unix socket; its folder is made 0700 (or refused when it is not this user's). */
  socketPath: string;
  /** The console's TCP port; 0 picks a free one (in-process tests). */
  port: number;
  /** Called when an authenticated client asks the broker to stop (kill-broker). */
  onShutdownRequest?: () => void;
  /** Called when the socket path no longer names this broker's socket (removed, or another broker's now). */
  onSocketLost?: () => void;
}

export interface Broker {
  /** The API's address, unix:<socketPath>. */
  url: string;
  socketPath: string;
  /** The console's port and address; null when the port was taken (the broker runs on without it). */
  port: number | null;
  consoleUrl: string | null;
  stop(): Promise<void>;
}

/** A watch socket of the console also says whether its browser session still holds. */
type SocketData = { kind: "peer"; peerId: string } | { kind: "watch"; sessionValid?: () => boolean };

/** Starts listening on `socketPath` (throws EADDRINUSE if a live broker holds it) and, for the console, on 127.0.0.1:`port`. */
export async function createBroker(opts: BrokerOptions): Promise<Broker> {
  const { store, token, network } = opts;
  const log = opts.log ?? (() => {});
  const now = opts.now ?? Date.now;
  const services = composeServices(opts);
  const { presence, pusher, watchers, mail, registry } = services;
  const startedAt = Date.now();
  const health = (): Health => ({
    service: BROKER_SERVICE,
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    pid: process.pid,
    started_at: new Date(startedAt).toISOString(),
    db: store.location,
  });
  const consoleAuth = new ConsoleAuth(now);
  const routes = routeHandlers({
    ...services,
    consoleAuth,
    now,
    consoleUrl: () => consoleAddress,
    brokerStatus: () => ({ ...health(), url: socketUrl(opts.socketPath), console_url: consoleAddress, db: store.location, host: opts.host, uptime_s: Math.round((Date.now() - startedAt) / 1000), ...(network?.status() ?? { leader: true }) }),
    onShutdownRequest: opts.onShutdownRequest,
  });

  /**
   * Parses the body against the route's schema, then runs its handler: one place for both. The
   * console calls as the person in charge, whatever headers its request carries.
   */
  async function dispatch<P extends RoutePath>(path: P, req: Request, server: Server<SocketData>, as: "caller" | "operator" = "caller"): Promise<RouteResult<P>> {
    const peer = as === "operator" ? null : await identify(req); // an unknown peer secret is 401 before the body is looked at
    const body = (await readJson(req, ROUTES[path].body)) as ParsedBody<P>;
    const handler = routes[path] as (ctx: RouteContext<P>) => Promise<RouteResult<P>>;
    return handler({ req, peer, body, holdOpen: () => server.timeout(req, 0) });
  }

  async function identify(req: Request): Promise<PeerRow | null> {
    const secret = req.headers.get(PEER_SECRET_HEADER);
    if (secret === null) return null;
    const peer = await registry.authenticate(secret);
    if (!peer) throw new WireError("unauthorized", "unknown peer secret; register again");
    return peer;
  }

  let consoleServer: Server<SocketData> | null = null;
  /** The console's event streams: each ends when its browser session does (12 h), not only when the tab closes. */
  const consoleSockets = new Set<ServerWebSocket<SocketData>>();
  const consoleRoutes = consoleHandler({
    auth: consoleAuth,
    port: () => consoleServer!.port!,
    call: (path, req) => dispatch(path, req, consoleServer!, "operator"),
    watch: (req, sessionValid) => consoleServer!.upgrade(req, { data: { kind: "watch", sessionValid } satisfies SocketData }),
    log,
  });

  /**
   * The TCP door: the console only, with its own login (a cookie and a key from a one-time code,
   * same origin only: console.ts). Any local user can reach a TCP port, so nothing else is served.
   */
  async function handleConsole(req: Request): Promise<Response | undefined> {
    assertLocalHost(req);
    const path = requestPath(req.url);
    if (path !== null && isConsolePath(path)) return consoleRoutes(req, path);
    throw new WireError("forbidden", `this port serves only the operator console; the broker's API is on its Unix socket ${opts.socketPath}, for its own user`);
  }

  /** The socket door: the API, for whoever the socket's folder lets in (this user). */
  async function handle(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    assertLocalHost(req);
    const path = requestPath(req.url);
    assertNoOrigin(req);
    if (path === "/health" && req.method === "GET") return Response.json(health());
    // Every other request proves the token before anything else is looked at: without it, the
    // answer is 401 whatever the route, method or body, so it learns nothing about them.
    assertToken(req, token);
    if (path === null) throw new WireError("bad_request", `request target "${printable(req.url)}" is not a path; send POST /<route>`);
    if (path === "/health") throw new WireError("method_not_allowed", "use GET /health");
    if (path === "/ws") {
      if (req.method !== "GET") throw new WireError("method_not_allowed", "use GET /ws with a WebSocket upgrade");
      const peer = await identify(req);
      const data: SocketData = peer ? { kind: "peer", peerId: peer.id } : { kind: "watch" };
      if (server.upgrade(req, { data })) return undefined;
      throw new WireError("bad_request", "expected a WebSocket upgrade");
    }
    if (!isRoute(path)) throw new WireError("not_found", `no route ${printable(path)}; see README.md for the broker API`);
    if (req.method !== "POST") throw new WireError("method_not_allowed", `use POST ${path} with a JSON body`);
    return Response.json(await dispatch(path, req, server));
  }

  /** The one place a throw becomes an answer: always a JSON error, whatever the request was. */
  function failure(err: unknown, req: Request): Response {
    if (err instanceof WireError) return err.toResponse();
    if (err instanceof StoreUnavailableError) return new WireError("unavailable", err.message).toResponse();
    log(`internal error on ${printable(req.method)} ${printable(req.url)}: ${errorMessage(err)}`);
    return internalError();
  }

  const shared = {
    // Bun's own limit answers with an empty, non-JSON 413; readJson enforces MAX_BODY_BYTES
    // instead (a declared length at once, a chunked body mid-stream). Bun drains unread bodies
    // without buffering them, so lifting its limit costs no memory.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // The last net: whatever escapes fetch still gets a JSON answer, never Bun's HTML error page.
    error(err: Error) {
      log(`unhandled error: ${errorMessage(err)}`);
      return internalError();
    },
    websocket: {
      idleTimeout: 60,
      async open(ws: ServerWebSocket<SocketData>) {
        if (ws.data.kind === "watch") {
          if (ws.data.sessionValid) consoleSockets.add(ws);
          return watchers.add(ws);
        }
        // A peer must be registered (and not swept) before it may hold a push connection.
        if (!(await registry.attach(ws.data.peerId, ws))) ws.close(4001, "register first");
      },
      async message(ws: ServerWebSocket<SocketData>, raw: string | Buffer) {
        if (ws.data.kind !== "peer") return;
        const frame = PeerFrameSchema.safeParse(safeJson(String(raw)));
        if (!frame.success) return void ws.send(JSON.stringify({ type: "error", message: "frame must be {type:'ack', ids:[...]}" }));
        const peer = registry.liveRow(ws.data.peerId);
        try {
          if (peer) await mail.acknowledge(peer, frame.data.ids);
        } catch (err) {
          // Still queued: pushed again once the store answers, and acked again (shown once).
          log(`ack from ${ws.data.peerId} not recorded: ${errorMessage(err)}`);
          pusher.repushAll();
        }
      },
      close(ws: ServerWebSocket<SocketData>) {
        if (ws.data.kind === "watch") {
          consoleSockets.delete(ws);
          watchers.remove(ws);
        }
        else registry.detach(ws.data.peerId, ws);
      },
    },
  };
  // The socket serves from here on, while the console and the network bridge still start (a /status then says no console yet).
  let consoleAddress: string | null = null;
  const server = await listenOnSocket(opts.socketPath, () =>
    Bun.serve<SocketData>({
      ...shared,
      unix: opts.socketPath,
      async fetch(req, server) {
        try {
          return await handle(req, server);
        } catch (err) {
          return failure(err, req);
        }
      },
    }),
  );
  const ownSocket = socketIdentity(opts.socketPath);
  const socketIsOurs = () => socketIdentity(opts.socketPath) === ownSocket;
  try {
    consoleServer = listenForConsole(() =>
      Bun.serve<SocketData>({
        ...shared,
        hostname: "127.0.0.1",
        port: opts.port,
        async fetch(req) {
          try {
            return await handleConsole(req);
          } catch (err) {
            return failure(err, req);
          }
        },
      }),
    );
    if (!consoleServer) log(`the console is off: port ${opts.port} on 127.0.0.1 is taken by another program; set CLAUDE_PEERS_PORT to a free port to have it`);
    if (network) await startNetworkBridge(network, { ...services, log });
  } catch (err) {
    server.stop(true);
    consoleServer?.stop(true);
    throw err;
  }
  const port = consoleServer?.port ?? null;
  consoleAddress = port === null ? null : consoleUrl(port);

  const housekeeping = startHousekeeping({
    store,
    presence,
    mail,
    now,
    log,
    leads: () => network?.leads() ?? true,
    onDatabaseClock: network !== undefined,
    onSweep: () => {
      if (opts.onSocketLost && !socketIsOurs()) opts.onSocketLost();
      for (const ws of consoleSockets) if (ws.data.kind === "watch" && !ws.data.sessionValid?.()) ws.close(4401, "console session ended: run bun cli.ts dashboard");
    },
    afterPrune: (at) => services.edits.prune(at),
    editFlags: () => services.edits.refreshFlags(),
  });
  if (network) network.onReplyDue = (inMs) => housekeeping.replyDue(inMs);

  let stopped: Promise<void> | undefined;
  return {
    url: socketUrl(opts.socketPath),
    socketPath: opts.socketPath,
    port,
    consoleUrl: consoleAddress,
    stop() {
      stopped ??= (async () => {
        housekeeping.stop();
        registry.closeAll();
        watchers.closeAll();
        await network?.stop();
        // Let in-flight answers (such as /shutdown's own) finish, but never wait on idle keep-alives.
        // A socket path that is another broker's by now stays as it is: stopping would remove it.
        const api = socketIsOurs() ? server : undefined;
        await Promise.race([api?.stop(), consoleServer?.stop(), Bun.sleep(300)]);
        await Promise.all([api?.stop(true), consoleServer?.stop(true)]);
        await store.close();
      })();
      return stopped;
    },
  };
}

/**
 * The path of a request target, or null when it has none. Bun hands the target to fetch as it came:
 * origin and absolute form arrive as a full URL, but authority form (CONNECT host:port) arrives
 * bare and would make `new URL` throw.
 */
export function requestPath(target: string): string | null {
  const url = URL.parse(target);
  return url && (url.protocol === "http:" || url.protocol === "https:") ? url.pathname : null;
}

/** A bug of the broker's own, never the request's fault: the details go to the log, not the client. */
function internalError(): Response {
  return new WireError("internal", "the broker failed on this request; see its log file").toResponse();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
