/** The broker as a factory: routes, WebSocket push and housekeeping over a Hub and a Store. */
import type { Server, ServerWebSocket } from "bun";
import { Hub } from "./hub.ts";
import type { BrokerNetwork } from "./network.ts";
import { HookDesk } from "./hook-mail.ts";
import { assertLocalRequest, assertToken, readJson } from "./guard.ts";
import { brokerUrl } from "../config.ts";
import { WireError, errorMessage } from "../errors.ts";
import {
  BROKER_SERVICE,
  PEER_SECRET_HEADER,
  PROTOCOL_VERSION,
  PeerFrameSchema,
  ROUTES,
  isRoute,
  type Health,
  type ParsedBody,
  type RoutePath,
  type RouteResult,
} from "../protocol.ts";
import { StoreUnavailableError, type PeerRow, type Store } from "../store/store.ts";
import { toWireMessage } from "./to-wire.ts";
import type { PaceLimits } from "./send-pace.ts";
import { VERSION } from "../version.ts";

const SWEEP_INTERVAL_MS = 500;
/** Also how late expired mailbox mail may still show as queued. */
const PRUNE_INTERVAL_MS = 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface BrokerOptions {
  store: Store;
  token: string;
  port: number;
  mailboxTtlMs: number;
  /** This machine's name (CLAUDE_PEERS_HOST, else the hostname). */
  host: string;
  /** Brokers on other hosts sharing the PostgreSQL store; started here, stopped with the broker. */
  network?: BrokerNetwork;
  log?: (line: string) => void;
  /** Called when an authenticated client asks the broker to stop (kill-broker). */
  onShutdownRequest?: () => void;
  /** The senders' pace; SEND_RATE unless a test sets its own. */
  sendRate?: PaceLimits;
  /** The clock the broker's state runs on (tests inject one). */
  now?: () => number;
}

export interface Broker {
  url: string;
  hub: Hub;
  stop(): Promise<void>;
}

type SocketData = { kind: "peer"; peerId: string } | { kind: "watch" };

interface Context<P extends RoutePath> {
  req: Request;
  /** The calling peer, when the request carries a valid peer secret. */
  peer: PeerRow | null;
  /** The body, parsed against ROUTES[path].body by the router. */
  body: ParsedBody<P>;
}

/** One handler per route of ROUTES, typed by its body and result. */
type Handlers = { [P in RoutePath]: (ctx: Context<P>) => Promise<RouteResult<P>> };

/** Starts listening on 127.0.0.1:`port`; throws if the port is taken. */
export async function createBroker(opts: BrokerOptions): Promise<Broker> {
  const { store, token, network } = opts;
  const log = opts.log ?? (() => {});
  const hub = new Hub({ store, mailboxTtlMs: opts.mailboxTtlMs, host: opts.host, network, log, sendRate: opts.sendRate, now: opts.now });
  const hooks = new HookDesk(hub, store);
  const startedAt = Date.now();
  const health = (): Health => ({
    service: BROKER_SERVICE,
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    pid: process.pid,
    started_at: new Date(startedAt).toISOString(),
  });

  const requirePeer = (ctx: { peer: PeerRow | null }): PeerRow => {
    if (!ctx.peer) throw new WireError("unauthorized", `this route needs the peer secret (${PEER_SECRET_HEADER}) from /register`);
    return ctx.peer;
  };

  const routes: Handlers = {
    "/register": async ({ body }) => hub.register(body),
    "/unregister": async (ctx) => {
      await hub.unregister(requirePeer(ctx));
      return { ok: true };
    },
    "/peers": async (ctx) => {
      const b = ctx.body;
      const viewer = ctx.peer
        ? { id: ctx.peer.id, cwd: ctx.peer.cwd, gitCommonDir: ctx.peer.gitCommonDir, repoKey: ctx.peer.repoKey }
        : { cwd: b.cwd, gitCommonDir: b.git_common_dir, repoKey: b.repo_key };
      return { peers: await hub.listPeers(b.scope, viewer), ...(await unread(ctx)) };
    },
    "/send": async (ctx) => {
      const message = await hub.send(ctx.peer ? { kind: "peer", row: ctx.peer } : { kind: "operator" }, ctx.body);
      return { message, ...(await unread(ctx)) };
    },
    "/summary": async (ctx) => {
      const peer = requirePeer(ctx);
      await hub.setSummary(peer, ctx.body.summary);
      return { ok: true, ...(await unread(ctx)) };
    },
    "/inbox": async (ctx) => {
      const peer = requirePeer(ctx);
      const messages = await hub.inbox(peer, ctx.body.mark_read);
      return { messages, unread: await hub.unreadCount(peer) };
    },
    "/ack": async (ctx) => {
      const peer = requirePeer(ctx);
      const { ids, state } = ctx.body;
      const updated = state === "read" ? await hub.markRead(peer, ids) : await hub.acknowledge(peer, ids);
      return { updated, unread: await hub.unreadCount(peer) };
    },
    "/poll": async (ctx) => hub.poll(requirePeer(ctx)),
    // Hooks hold the token but no peer secret: they name their session by process ancestry.
    "/hook": async ({ body }) => hooks.mail(body.ancestors, body.max_chars),
    "/hook/read": async ({ body }) => hooks.read(body.peer_id, body.ids),
    "/whoami": async (ctx) => {
      const peer = requirePeer(ctx);
      return { peer: hub.whoami(peer), unread: await hub.unreadCount(peer) };
    },
    "/status": async () => ({
      broker: { ...health(), url: brokerUrl(opts.port), db: store.location, host: opts.host, uptime_s: Math.round((Date.now() - startedAt) / 1000) },
      peers: { ...hub.counts(), other_hosts: network ? (await network.remotePeers()).length : 0 },
      messages: await store.countByState(),
    }),
    "/history": async ({ body }) => ({ messages: (await store.history(body.limit, body.peer)).map(toWireMessage) }),
    "/shutdown": async () => {
      // Let this response leave before the listener goes away.
      setTimeout(() => opts.onShutdownRequest?.(), 0);
      return { ok: true };
    },
  };

  /** Parses the body against the route's schema, then runs its handler: one place for both. */
  async function dispatch<P extends RoutePath>(path: P, req: Request): Promise<RouteResult<P>> {
    const peer = await identify(req); // an unknown peer secret is 401 before the body is looked at
    const body = (await readJson(req, ROUTES[path].body)) as ParsedBody<P>;
    const handler = routes[path] as (ctx: Context<P>) => Promise<RouteResult<P>>;
    return handler({ req, peer, body });
  }

  async function unread(ctx: { peer: PeerRow | null }): Promise<{ unread?: number }> {
    return ctx.peer ? { unread: await hub.unreadCount(ctx.peer) } : {};
  }

  async function identify(req: Request): Promise<PeerRow | null> {
    const secret = req.headers.get(PEER_SECRET_HEADER);
    if (secret === null) return null;
    const peer = await hub.authenticate(secret);
    if (!peer) throw new WireError("unauthorized", "unknown peer secret; register again");
    return peer;
  }

  async function handle(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    assertLocalRequest(req);
    const path = requestPath(req.url);
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
    return Response.json(await dispatch(path, req));
  }

  /** The one place a throw becomes an answer: always a JSON error, whatever the request was. */
  function failure(err: unknown, req: Request): Response {
    if (err instanceof WireError) return err.toResponse();
    if (err instanceof StoreUnavailableError) return new WireError("unavailable", err.message).toResponse();
    log(`internal error on ${printable(req.method)} ${printable(req.url)}: ${errorMessage(err)}`);
    return new WireError("internal", "the broker failed on this request; see its log file").toResponse();
  }

  const server = Bun.serve<SocketData>({
    hostname: "127.0.0.1",
    port: opts.port,
    // Bun's own limit answers with an empty, non-JSON 413; readJson enforces MAX_BODY_BYTES
    // instead (a declared length at once, a chunked body mid-stream). Bun drains unread bodies
    // without buffering them, so lifting its limit costs no memory.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(req, server) {
      try {
        return await handle(req, server);
      } catch (err) {
        return failure(err, req);
      }
    },
    // The last net: whatever escapes fetch still gets a JSON answer, never Bun's HTML error page.
    error(err) {
      log(`unhandled error: ${errorMessage(err)}`);
      return new WireError("internal", "the broker failed on this request; see its log file").toResponse();
    },
    websocket: {
      idleTimeout: 60,
      async open(ws: ServerWebSocket<SocketData>) {
        if (ws.data.kind === "watch") return hub.addWatcher(ws);
        // A peer must be registered (and not swept) before it may hold a push connection.
        if (!(await hub.attach(ws.data.peerId, ws))) ws.close(4001, "register first");
      },
      async message(ws: ServerWebSocket<SocketData>, raw) {
        if (ws.data.kind !== "peer") return;
        const frame = PeerFrameSchema.safeParse(safeJson(String(raw)));
        if (!frame.success) return void ws.send(JSON.stringify({ type: "error", message: "frame must be {type:'ack', ids:[...]}" }));
        const peer = hub.liveRow(ws.data.peerId);
        try {
          if (peer) await hub.acknowledge(peer, frame.data.ids);
        } catch (err) {
          // Still queued: pushed again once the store answers, and acked again (shown once).
          log(`ack from ${ws.data.peerId} not recorded: ${errorMessage(err)}`);
          hub.pusher.repushAll();
        }
      },
      close(ws: ServerWebSocket<SocketData>) {
        if (ws.data.kind === "watch") hub.removeWatcher(ws);
        else hub.detach(ws.data.peerId, ws);
      },
    },
  });

  try {
    await network?.start({
      onMessage: (peerId, messageId) => void hub.deliverFromElsewhere(peerId, messageId),
      onMailbox: (peerId) => void hub.claimMailboxOf(peerId).catch((err) => log(`claiming ${peerId}'s mailbox failed: ${errorMessage(err)}`)),
      onAck: (ids) => hub.ackedElsewhere(ids),
      onSubscribed: () => {
        log("subscribed to wake-ups from other hosts; pushing unacknowledged mail");
        hub.pusher.repushAll();
      },
      localPeers: () => hub.localPeers(),
      onNamesLost: (ids) => hub.namesLost(ids),
    });
  } catch (err) {
    server.stop(true);
    throw err;
  }

  const sweeper = setInterval(() => hub.sweep(), SWEEP_INTERVAL_MS);
  const prune = async () => {
    try {
      const r = await store.prune({ now: Date.now(), keepReadMs: 7 * DAY_MS, keepPeersMs: 30 * DAY_MS, liveIds: await hub.liveIds() });
      if (r.expired || r.deletedMessages || r.deletedPeers) {
        log(`pruned: ${r.expired} expired, ${r.deletedMessages} old messages and ${r.deletedPeers} old peers deleted`);
      }
    } catch (err) {
      log(`prune failed: ${errorMessage(err)}`);
    }
  };
  void prune();
  const pruner = setInterval(prune, PRUNE_INTERVAL_MS);
  sweeper.unref();
  pruner.unref();

  let stopped: Promise<void> | undefined;
  return {
    url: brokerUrl(server.port ?? opts.port),
    hub,
    stop() {
      stopped ??= (async () => {
        clearInterval(sweeper);
        clearInterval(pruner);
        hub.closeAll();
        await network?.stop();
        // Let in-flight answers (such as /shutdown's own) finish, but never wait on idle keep-alives.
        await Promise.race([server.stop(), Bun.sleep(300)]);
        await server.stop(true);
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

/** Request text for a log line or an error: bounded, and with control characters shown escaped. */
function printable(text: string): string {
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return JSON.stringify(short).slice(1, -1);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
