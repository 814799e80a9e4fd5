/**
 * Which live peer a hook belongs to, as pure rules over the hook's ancestors and session id (the
 * broker's Presence applies the answer). A hook holds the token but no peer secret, so a wrong match
 * hands one session's mail to another: every rule here says when to answer "no session" instead.
 */

/** One of the hook's ancestors, nearest first; `agent` when it is a coding agent's process (the hook says which). */
export interface HookAncestor {
  pid: number;
  agent: boolean;
}

/** What pairing reads of a live peer. */
export interface HookCandidate {
  row: { parent_pid: number | null; agent: string; registered_at: number };
  /** The session ids its hooks may send (its own, and those ancestry tied to it). */
  sessionIds: ReadonlySet<string>;
}

export interface HookPairing<T> {
  peer: T;
  /** The ancestor that is the peer's parent (its agent process); null when the session id alone named it. */
  parentPid: number | null;
  /** A session id to tie to the peer from now on (ancestry found it: after /clear the id is new). */
  bind: string | null;
}

/**
 * The hook's ancestors as the wire gives them: pids nearest first and the pid of the nearest agent
 * process among them, if the hook recognised one (a pid not among them is ignored).
 */
export function hookAncestors(pids: readonly number[], agentPid?: number): HookAncestor[] {
  return pids.map((pid) => ({ pid, agent: pid === agentPid }));
}

/**
 * The live peer a hook belongs to, or null.
 *
 * 1. Ancestry, nearest first: a hook and its session's MCP server are both children of one agent
 *    process, so the first ancestor that is a candidate's parent names it (nearest first: an agent may
 *    run inside another one's shell). The walk stops at the nearest agent process: an agent run from
 *    another session's shell (`claude -p`, Codex, Gemini) whose own server has not registered yet is
 *    not that session, and must not take its mail.
 * 2. Several children of that process: the one with the hook's session id; else, if they are one
 *    session's servers (Claude Code with the plugin and `claude mcp add`, or sharing a session id),
 *    the newest; else none. Codex's app-server runs the servers of several sessions: a Codex server
 *    that already has a session id is not another session's, even as the only child (the other's
 *    server may not have registered yet). A Claude Code server is: after /clear its session has a new
 *    id, which is then tied to it.
 * 3. Ancestry names none (a server behind a wrapper is no ancestor's child): the peers that have the
 *    hook's session id (their server started under it, or learned it); several: the newest.
 */
export function pairHook<T extends HookCandidate>(candidates: readonly T[], ancestors: readonly HookAncestor[], sessionId?: string): HookPairing<T> | null {
  const walked = walkAncestry(candidates, ancestors, sessionId);
  if (walked) return walked;
  const owners = sessionId ? candidates.filter((p) => p.sessionIds.has(sessionId)) : [];
  return owners.length > 0 ? { peer: newest(owners), parentPid: null, bind: null } : null;
}

/** Rules 1 and 2: a pairing, or null (no ancestor names one). */
function walkAncestry<T extends HookCandidate>(candidates: readonly T[], ancestors: readonly HookAncestor[], sessionId?: string): HookPairing<T> | null {
  for (const { pid, agent } of ancestors) {
    const children = candidates.filter((p) => p.row.parent_pid === pid);
    if (children.length === 0) {
      if (agent) return null; // the nearest agent has no server here: ancestry ends
      continue;
    }
    const found = (peer: T): HookPairing<T> => ({ peer, parentPid: pid, bind: sessionId && !peer.sessionIds.has(sessionId) ? sessionId : null });
    const named = sessionId ? children.filter((p) => p.sessionIds.has(sessionId)) : [];
    if (named.length > 0) return found(newest(named));
    if (children.length === 1) return sessionId && ownsOtherSession(children[0]!) ? null : found(children[0]!);
    return oneSession(children) ? found(newest(children)) : null;
  }
  return null;
}

/** A server of an agent whose one process runs several sessions (Codex's app-server) that is already tied to a session. */
function ownsOtherSession(p: HookCandidate): boolean {
  return p.row.agent === "codex" && p.sessionIds.size > 0;
}

/** Whether several servers of one parent are one session's: Claude Code's, or sharing a session id. */
function oneSession(peers: readonly HookCandidate[]): boolean {
  if (peers.every((p) => p.row.agent === "claude-code")) return true;
  const [first, ...rest] = peers;
  return [...first!.sessionIds].some((id) => rest.every((p) => p.sessionIds.has(id)));
}

/** Two servers in one session (plugin and `claude mcp add`): the newer one. */
function newest<T extends HookCandidate>(peers: readonly T[]): T {
  return peers.reduce((best, p) => (p.row.registered_at > best.row.registered_at ? p : best));
}
