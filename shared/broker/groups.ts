/**
 * Groups: named sets of peers that one send reaches. Membership belongs to the peer's name, like
 * its mailbox, so a restarted session keeps its groups; it lives in the store, so on a shared
 * PostgreSQL a group spans hosts.
 */
import { WireError } from "../errors.ts";
import { MAX_GROUP_MEMBERS, MAX_GROUPS_PER_PEER, type GroupsResult, type PeerInfo } from "../protocol.ts";
import type { Store } from "../store/store.ts";
import type { Presence } from "./presence.ts";

export interface GroupChange {
  /** The name's groups afterwards. */
  groups: string[];
  /** false when the name was already in (join) or already out of (leave) the group. */
  changed: boolean;
}

export class Groups {
  constructor(
    private readonly store: Store,
    private readonly presence: Presence,
    private readonly now: () => number,
  ) {}

  async join(name: string, group: string): Promise<GroupChange> {
    const before = await this.of(name);
    if (before.includes(group)) return { groups: before, changed: false };
    if (before.length >= MAX_GROUPS_PER_PEER) {
      throw new WireError("conflict", `group: ${name} is in ${before.length} groups, the most a name may be in; leave_group one first`, { field: "group" });
    }
    const outcome = await this.store.joinGroup(group, name, this.now(), MAX_GROUP_MEMBERS);
    if (outcome === "full") {
      throw new WireError("conflict", `group: #${group} has ${MAX_GROUP_MEMBERS} members, the most a group holds; use another group`, { field: "group" });
    }
    return { groups: await this.of(name), changed: outcome === "joined" };
  }

  async leave(name: string, group: string): Promise<GroupChange> {
    const changed = await this.store.leaveGroup(group, name);
    return { groups: await this.of(name), changed };
  }

  async of(name: string): Promise<string[]> {
    return (await this.store.memberships([name])).map((m) => m.group_name);
  }

  /** The names in the group, sorted; empty when no name is in it (a group exists while it has members). */
  members(group: string): Promise<string[]> {
    return this.store.groupMembers(group);
  }

  /** The peers, each with the groups of its name. */
  async withGroups(peers: PeerInfo[]): Promise<PeerInfo[]> {
    if (peers.length === 0) return peers;
    const byName = new Map<string, string[]>();
    for (const m of await this.store.memberships(peers.map((p) => p.name))) {
      byName.set(m.peer_name, [...(byName.get(m.peer_name) ?? []), m.group_name]);
    }
    return peers.map((p) => ({ ...p, groups: byName.get(p.name) ?? [] }));
  }

  /** Every group with its members, and whether a session holds each name now (and on which host). */
  async list(): Promise<GroupsResult["groups"]> {
    const live = await this.presence.liveByName();
    const groups = new Map<string, GroupsResult["groups"][number]["members"]>();
    for (const m of await this.store.memberships()) {
      const members = groups.get(m.group_name) ?? [];
      const holder = live.get(m.peer_name);
      members.push({ name: m.peer_name, live: holder !== undefined, host: holder?.host ?? null });
      groups.set(m.group_name, members);
    }
    return [...groups].map(([name, members]) => ({ name, members }));
  }
}
