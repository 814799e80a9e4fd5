/**
 * Who the peers are: registration (a fresh id, or an id proven by its secret after a broker
 * restart), leaving, push connections attached and detached, and names lost to another host.
 * Tells watchers who joined and who left; hands each newcomer its name's mailbox.
 */
import { WireError, errorMessage } from "../errors.ts";
import type { PeerInfo, RegisterBody, RegisterResult } from "../protocol.ts";
import type { PeerRow, Store } from "../store/store.ts";
import { randomToken, sha256 } from "../token.ts";
import { newPeerId } from "./ids.ts";
import type { DeliveryPaths } from "./delivery-paths.ts";
import type { Groups } from "./groups.ts";
import type { Mail } from "./mail.ts";
import type { LivePeer, Presence, PushSocket } from "./presence.ts";
import type { Pusher } from "./push.ts";
import { toWirePeer } from "./to-wire.ts";
import type { Watchers } from "./watchers.ts";

export interface RegistryOptions {
  store: Store;
  presence: Presence;
  pusher: Pusher;
  mail: Mail;
  groups: Groups;
  watchers: Watchers;
  /** Where the session said its mail is shown: the record is set before its mailbox is claimed (and pushed, where channels show it). */
  paths: DeliveryPaths;
  now: () => number;
  log: (line: string) => void;
}

export class Registry {
  constructor(private readonly opts: RegistryOptions) {}

  async register(body: RegisterBody): Promise<RegisterResult> {
    const { store, presence, now } = this.opts;
    const at = now();
    const claimed = body.peer_id === undefined ? undefined : await this.verifyClaim(body.peer_id, body.secret);
    const id = claimed?.id ?? newPeerId();
    const secret = claimed?.secret ?? randomToken();
    const row: PeerRow = {
      id,
      secret_hash: sha256(secret),
      name: body.name, // the wish: admit() picks the first free one from it
      pid: body.pid,
      parent_pid: body.parent_pid ?? null,
      cwd: body.cwd,
      git_root: body.git_root,
      git_common_dir: body.git_common_dir,
      git_branch: body.git_branch,
      repo_key: body.repo_key ?? null,
      host: presence.host,
      agent: body.agent,
      summary: body.summary,
      registered_at: claimed?.registered_at ?? at,
      last_seen: at,
    };
    const entry = await presence.admit(row, (final) => store.savePeer(final), body.session_id);
    this.opts.paths.setChannel(id, body.channel);
    // Only a new session joins CLAUDE_PEERS_GROUPS: one coming back after a broker restart may have left some since.
    const groups = claimed ? await this.opts.groups.of(entry.row.name) : await this.joinAtStart(entry.row.name, body.groups ?? []);
    await this.opts.mail.claimMailbox(id);
    this.opts.watchers.emit({ type: "event", event: "joined", peer: { ...presence.info(entry), groups } });
    return { peer_id: id, secret, name: entry.row.name, unread: await store.countUnread(id), groups };
  }

  /** CLAUDE_PEERS_GROUPS: joins what it can (a full group is logged, not fatal); returns the name's groups. */
  private async joinAtStart(name: string, wanted: readonly string[]): Promise<string[]> {
    for (const group of wanted) {
      await this.opts.groups.join(name, group).catch((err) => this.opts.log(`${name} could not join #${group}: ${errorMessage(err)}`));
    }
    return this.opts.groups.of(name);
  }

  /**
   * A re-registering peer (after a broker restart) proves its id with the secret it was given. Only
   * an id this broker issued counts: the store's peers table is the record (it outlives restarts, and
   * is shared by every host on PostgreSQL), so an id a client made up, or one pruned after long
   * silence, is refused and the client registers afresh (its name, and so its mailbox, follow it).
   */
  private async verifyClaim(id: string, secret: string | undefined): Promise<{ id: string; secret: string; registered_at: number }> {
    if (secret === undefined) throw new WireError("bad_request", "secret: required together with peer_id", { field: "secret" });
    const existing = await this.opts.store.getPeer(id);
    if (!existing) {
      throw new WireError("forbidden", `peer_id: ${id} was not issued by this broker (or was forgotten after long silence); register without peer_id and secret`, { field: "peer_id" });
    }
    if (existing.secret_hash !== sha256(secret)) {
      throw new WireError("forbidden", `peer_id: ${id} belongs to another session; register without peer_id`, { field: "peer_id" });
    }
    return { id, secret, registered_at: existing.registered_at };
  }

  /** Identifies a peer by its secret, live or not (a swept peer may still read its mail). */
  async authenticate(secret: string): Promise<PeerRow | null> {
    const hash = sha256(secret);
    return this.opts.presence.bySecretHash(hash) ?? this.opts.store.peerBySecretHash(hash);
  }

  /** The row of a live peer, for frames on its already-authenticated socket. */
  liveRow(peerId: string): PeerRow | null {
    return this.opts.presence.get(peerId)?.row ?? null;
  }

  async unregister(peer: PeerRow): Promise<void> {
    const entry = this.opts.presence.remove(peer.id);
    await this.opts.store.touchPeer(peer.id, this.opts.now());
    entry?.socket?.close(1000, "unregistered");
    this.opts.mail.wake(peer.id);
    if (entry) this.opts.watchers.emit({ type: "event", event: "left", peer: this.opts.presence.info(entry) });
  }

  async setSummary(peer: PeerRow, summary: string): Promise<void> {
    await this.opts.store.setSummary(peer.id, summary);
    this.opts.presence.setSummary(peer.id, summary);
    this.opts.watchers.emit({ type: "event", event: "summary", peer: this.whoami(peer) });
  }

  whoami(peer: PeerRow): PeerInfo {
    const entry = this.opts.presence.get(peer.id);
    return entry ? this.opts.presence.info(entry) : toWirePeer(peer, false, peer.last_seen);
  }

  /** A peer left this broker (swept, detached, name lost): remember when it was last seen, and tell the watchers. */
  departed(p: LivePeer): void {
    this.opts.store.touchPeer(p.row.id, p.seenAt).catch(() => {}); // best effort: the store may be closed at shutdown
    this.opts.mail.wake(p.row.id); // a hook's waiter for this session ends
    this.opts.watchers.emit({ type: "event", event: "left", peer: this.opts.presence.info(p) });
  }

  // ---- push connections -------------------------------------------------------------------------

  /** Attaches a peer's WebSocket and pushes everything it has not acknowledged. */
  async attach(peerId: string, socket: PushSocket): Promise<boolean> {
    if (!this.opts.presence.get(peerId)) return false;
    this.opts.presence.attachSocket(peerId, socket)?.close(4000, "replaced by a newer connection");
    await this.opts.pusher.pushQueued(peerId).catch(() => this.opts.pusher.repushAll());
    return true;
  }

  /** A closed push connection takes the peer offline, unless a newer socket replaced it. */
  detach(peerId: string, socket: PushSocket): void {
    const entry = this.opts.presence.get(peerId);
    if (!entry || entry.socket !== socket) return;
    this.opts.presence.remove(peerId);
    this.departed({ ...entry, socket: null, seenAt: this.opts.now() });
  }

  /**
   * Another host took these peers' names while this broker was silent (asleep, cut off). Names are
   * unique on the network, so they leave and their servers register again under a free name.
   */
  namesLost(peerIds: readonly string[]): void {
    const { presence } = this.opts;
    for (const id of peerIds) {
      const entry = presence.get(id);
      if (!entry || presence.isAdmitting(id)) continue;
      this.opts.log(`${entry.row.name} (${id}): the name was taken on another host while this one was away; it registers again`);
      presence.remove(id);
      entry.socket?.close(4003, "name taken on another host; register again");
      this.departed({ ...entry, socket: null, seenAt: this.opts.now() });
    }
  }

  /** Closes every peer's socket (broker shutdown); peers reconnect to the next broker by themselves. */
  closeAll(): void {
    for (const p of this.opts.presence.entries()) p.socket?.close(1001, "broker stopping");
    this.opts.presence.clear();
  }
}
