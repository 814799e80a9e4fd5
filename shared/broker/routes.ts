/** What each route of ROUTES does, in terms of the services: the broker's HTTP API. */
import { WireError } from "../errors.ts";
import { PEER_SECRET_HEADER, type ParsedBody, type RoutePath, type RouteResult, type Status } from "../protocol.ts";
import type { PeerRow } from "../store/store.ts";
import type { ConsoleAuth } from "./console-auth.ts";
import type { Edits } from "./edits.ts";
import type { Groups } from "./groups.ts";
import type { DeliveryPaths } from "./delivery-paths.ts";
import type { HookMail } from "./hook-mail.ts";
import { hookAncestors } from "./hook-pairing.ts";
import type { Mail } from "./mail.ts";
import type { Presence } from "./presence.ts";
import type { Registry } from "./registry.ts";

export interface RouteContext<P extends RoutePath> {
  req: Request;
  /** The calling peer, when the request carries a valid peer secret. */
  peer: PeerRow | null;
  /** The body, parsed against ROUTES[path].body by the router. */
  body: ParsedBody<P>;
  /** Lifts the server's idle timeout (10 s) for this request: the route holds it open on purpose. */
  holdOpen: () => void;
}

/** One handler per route, typed by its body and result. */
export type RouteHandlers = { [P in RoutePath]: (ctx: RouteContext<P>) => Promise<RouteResult<P>> };

export interface RouteDeps {
  presence: Presence;
  registry: Registry;
  groups: Groups;
  mail: Mail;
  hookMail: HookMail;
  paths: DeliveryPaths;
  edits: Edits;
  /** The broker's own part of /status. */
  brokerStatus: () => Status["broker"];
  /** The operator console's login codes. */
  consoleAuth: ConsoleAuth;
  /** The console's address, or null when its port was taken (another program or another user). */
  consoleUrl: () => string | null;
  now: () => number;
  /** Asked by /shutdown (kill-broker), after the answer has left. */
  onShutdownRequest?: () => void;
}

export function routeHandlers(s: RouteDeps): RouteHandlers {
  const requirePeer = (ctx: { peer: PeerRow | null }): PeerRow => {
    if (!ctx.peer) throw new WireError("unauthorized", `this route needs the peer secret (${PEER_SECRET_HEADER}) from /register`);
    return ctx.peer;
  };
  /** Routes for the person in charge: the token without a peer secret (the CLI), never a session's server. */
  const requirePerson = (ctx: { peer: PeerRow | null }, what: string): void => {
    if (ctx.peer) throw new WireError("forbidden", `${what} is for a person, not a peer session: run it from a terminal (bun cli.ts)`);
  };
  /** A peer's calls also say how much mail waits for it (the tool results' unread line). */
  const unread = async (ctx: { peer: PeerRow | null }): Promise<{ unread?: number; queued?: number }> => (ctx.peer ? s.mail.unreadCounts(ctx.peer) : {});

  return {
    "/register": ({ body }) => s.registry.register(body),
    "/unregister": async (ctx) => {
      await s.registry.unregister(requirePeer(ctx));
      return { ok: true };
    },
    "/peers": async (ctx) => {
      const b = ctx.body;
      const viewer = ctx.peer
        ? { id: ctx.peer.id, cwd: ctx.peer.cwd, git_common_dir: ctx.peer.git_common_dir, repo_key: ctx.peer.repo_key }
        : { cwd: b.cwd, git_common_dir: b.git_common_dir, repo_key: b.repo_key };
      const listed = await s.edits.annotate(await s.groups.withGroups(await s.presence.list(b.scope, viewer)));
      // How each session of this broker gets its mail; another host's broker keeps its own sessions' record.
      const peers = listed.map((p) => (s.presence.get(p.id) ? { ...p, path: s.paths.pathOf(p.id) } : p));
      return { peers, ...(await unread(ctx)) };
    },
    "/send": async (ctx) => {
      // A peer's unread counts come from the send's own transaction.
      const { counts, ...sent } = await s.mail.send(ctx.peer ? { kind: "peer", row: ctx.peer } : { kind: "operator" }, ctx.body);
      return { ...sent, ...(counts ?? (await unread(ctx))) };
    },
    "/summary": async (ctx) => {
      await s.registry.setSummary(requirePeer(ctx), ctx.body.summary);
      return { ok: true, ...(await unread(ctx)) };
    },
    "/session": async (ctx) => {
      const peer = requirePeer(ctx);
      s.presence.addSessionId(peer.id, ctx.body.session_id);
      await s.mail.refreshFlag(peer.id); // the new id's mail flag, for hooks that test it before starting Bun
      return { ok: true, ...(await unread(ctx)) };
    },
    "/channel": async (ctx) => {
      const peer = requirePeer(ctx);
      if (!s.presence.get(peer.id)) throw new WireError("not_found", "peer: not registered with this broker; register again");
      s.paths.setChannel(peer.id, ctx.body.channel); // now channel: what waits is pushed at once
      return { ok: true, ...(await unread(ctx)) };
    },
    "/inbox": async (ctx) => {
      const peer = requirePeer(ctx);
      const { mark_read, wait_s, reply_to } = ctx.body;
      if (wait_s > 0) ctx.holdOpen();
      // The counts come from the read's own transaction.
      const { messages, counts } = await s.mail.inboxWithCounts(peer, { markRead: mark_read, waitMs: wait_s * 1000, replyTo: reply_to });
      return { messages, ...counts };
    },
    "/ack": async (ctx) => {
      const peer = requirePeer(ctx);
      const { ids, state } = ctx.body;
      const updated = state === "read" ? await s.mail.markRead(peer, ids) : await s.mail.acknowledge(peer, ids);
      return { updated, unread: await s.mail.unreadCount(peer) };
    },
    "/poll": async (ctx) => {
      const peer = requirePeer(ctx);
      const polled = await s.mail.poll(peer);
      // A heartbeat for every session; its mail only for a session that shows channel push (as Pusher).
      return s.paths.channelHolds(peer.id) ? polled : { ...polled, messages: [] };
    },
    // Hooks hold the token but no peer secret: they name their session by process ancestry.
    "/hook": ({ body }) => s.hookMail.lease(hookAncestors(body.ancestors, body.agent_pid), body.max_chars, body.session_id, body.event, body.peek),
    "/hook/read": ({ body }) => s.hookMail.read(body.peer_id, body.ids),
    "/hook/wait": (ctx) => {
      ctx.holdOpen(); // answered when mail comes, however long that takes
      return s.hookMail.wait(hookAncestors(ctx.body.ancestors, ctx.body.agent_pid), ctx.body.max_chars, ctx.body.session_id, ctx.req.signal, ctx.body.event);
    },
    "/hook/monitor": (ctx) => {
      ctx.holdOpen(); // answered when mail comes; open, it holds the session's mail path
      return s.hookMail.monitor(hookAncestors(ctx.body.ancestors, ctx.body.agent_pid), ctx.body.max_chars, ctx.body.session_id, ctx.req.signal, ctx.body.pid);
    },
    "/whoami": async (ctx) => {
      const peer = requirePeer(ctx);
      const [self] = await s.edits.annotate(await s.groups.withGroups([s.registry.whoami(peer)]));
      return { peer: self!, ...(await s.mail.unreadCounts(peer)) };
    },
    "/status": async () => ({
      broker: s.brokerStatus(),
      peers: { ...s.presence.counts(), other_hosts: await s.presence.otherHostsCount() },
      messages: await s.mail.countByState(),
      hooks_waiting: s.hookMail.waitingPeers(),
      monitors: s.hookMail.monitoredPeers(),
      channels: s.paths.channelPeers(),
      paused: pausedList(await s.mail.paused()),
    }),
    "/history": async ({ body }) => {
      // One more than asked, to know whether a page remains behind this one.
      const rows = await s.mail.history({ limit: body.limit + 1, peer: body.peer, group: body.group, text: body.text, beforeSeq: body.before });
      const page = rows.slice(0, body.limit);
      return { messages: page.map((h) => h.message), before: rows.length > body.limit ? page.at(-1)!.seq : null };
    },
    // A peer withdraws its own message; the person in charge (no peer secret) any unread one.
    "/retract": async (ctx) => ({
      ...(ctx.peer ? await s.mail.retract(ctx.peer, ctx.body.message_id) : await s.mail.retractAsOperator(ctx.body.message_id)),
      ...(await unread(ctx)),
    }),
    "/groups/join": async (ctx) => ({ ...(await s.groups.join(requirePeer(ctx).name, ctx.body.group)), ...(await unread(ctx)) }),
    "/groups/leave": async (ctx) => ({ ...(await s.groups.leave(requirePeer(ctx).name, ctx.body.group)), ...(await unread(ctx)) }),
    "/groups": async () => ({ groups: await s.groups.list() }),
    // Release and resume hand mail over one by one, each waiting briefly for its ack: however much
    // was held, the answer may take longer than the server's idle timeout.
    "/release": async (ctx) => {
      requirePerson(ctx, "release");
      ctx.holdOpen();
      return { messages: await s.mail.release(ctx.body.a, ctx.body.b, ctx.body.discard) };
    },
    "/pause": async (ctx) => {
      requirePerson(ctx, "pause");
      return { ...(await s.mail.pause(ctx.body.peer)), paused: true, messages: [] };
    },
    "/resume": async (ctx) => {
      requirePerson(ctx, "resume");
      ctx.holdOpen();
      return { ...(await s.mail.resume(ctx.body.peer)), paused: false };
    },
    "/console/code": async (ctx) => {
      requirePerson(ctx, "the operator console");
      const url = s.consoleUrl();
      if (!url) throw new WireError("unavailable", "the operator console is off: its port was taken when the broker started (see its log); set CLAUDE_PEERS_PORT to a free port and restart the broker (bun cli.ts kill-broker)");
      const { code, expiresAt } = s.consoleAuth.issueCode();
      return { code, expires_in_s: Math.round((expiresAt - s.now()) / 1000), url };
    },
    "/console/state": async (ctx) => {
      requirePerson(ctx, "the operator console");
      const [peers, paused, groups] = await Promise.all([s.presence.list("network", {}), s.mail.paused(), s.groups.list()]);
      const waiting = new Set(s.hookMail.waitingPeers());
      const withGroups = await s.groups.withGroups(peers);
      const counts = await s.mail.unreadCountsOf(withGroups.map((p) => p.id));
      const sessions = withGroups.map((p) => {
        const since = paused.get(p.name);
        return { ...p, ...(counts.get(p.id) ?? { unread: 0, queued: 0 }), hooks: waiting.has(p.id), paused_since: since === undefined ? null : new Date(since).toISOString() };
      });
      return { host: s.presence.host, network: s.presence.networked, sessions, paused: pausedList(paused), groups };
    },
    // Edit hooks name their session like /hook; claim_files is a peer's own call.
    "/edits/touch": ({ body }) => s.edits.touch(body),
    "/edits/shell": ({ body }) => s.edits.shell(body),
    "/edits/claim": async (ctx) => ({ ...(await s.edits.claim(requirePeer(ctx), ctx.body)), ...(await unread(ctx)) }),
    "/edits": () => s.edits.list(),
    "/edits/guard": ({ body }) => s.edits.guard(body),
    "/shutdown": async () => {
      // Let this response leave before the listener goes away.
      setTimeout(() => s.onShutdownRequest?.(), 0);
      return { ok: true };
    },
  };
}

/** Paused names, oldest pause first, as the wire says them. */
function pausedList(paused: Map<string, number>): Array<{ name: string; since: string }> {
  return [...paused].sort((a, b) => a[1] - b[1]).map(([name, since]) => ({ name, since: new Date(since).toISOString() }));
}
