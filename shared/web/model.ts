/**
 * The console's state and the pure logic over it: the first state and history, then every watch
 * event folded in; threads by in_reply_to; who talks to whom. No DOM here, so bun test runs it.
 */
import type { BrokerFrame, ConsoleSession, ConsoleState, Message } from "../protocol.ts";

export interface Model {
  host: string;
  network: boolean;
  /** Live sessions by id. */
  sessions: Map<string, ConsoleSession>;
  /** Paused names → since (ISO). */
  paused: Map<string, string>;
  groups: ConsoleState["groups"];
  /** Every message loaded or seen since, by id. */
  messages: Map<string, Message>;
  /** Where the next history page starts; null once the oldest is loaded. */
  before: number | null;
}

export interface Filter {
  /** A session's name or id: messages from or to it. */
  peer: string;
  /** A group's name ("*" for broadcasts). */
  group: string;
  /** Text the message holds, in any case. */
  text: string;
}

export const NO_FILTER: Filter = { peer: "", group: "", text: "" };

export function modelOf(state: ConsoleState, history: { messages: Message[]; before: number | null }): Model {
  return {
    host: state.host,
    network: state.network,
    sessions: new Map(state.sessions.map((s) => [s.id, s])),
    paused: new Map(state.paused.map((p) => [p.name, p.since])),
    groups: state.groups,
    messages: new Map(history.messages.map((m) => [m.id, m])),
    before: history.before,
  };
}

/** A newer state (after a session joined or left): sessions and counts from the broker, messages kept. */
export function withState(model: Model, state: ConsoleState): Model {
  const next = modelOf(state, { messages: [], before: model.before });
  next.messages = model.messages;
  return next;
}

/** An older page: messages the page has not seen are added; the cursor moves back. */
export function withOlder(model: Model, page: { messages: Message[]; before: number | null }): Model {
  const messages = new Map(model.messages);
  for (const m of page.messages) if (!messages.has(m.id)) messages.set(m.id, m);
  return { ...model, messages, before: page.before };
}

/** How far along a message is: a copy never moves back (a later read has the newer of two copies). */
const PROGRESS: Record<Message["state"], number> = { held: 0, queued: 1, delivered: 2, read: 3, retracted: 3, discarded: 3, expired: 3 };

/** The first page read again after a reconnect: each message as the further along of the two copies. */
export function withFresher(model: Model, page: { messages: Message[] }): Model {
  const messages = new Map(model.messages);
  for (const m of page.messages) {
    const known = messages.get(m.id);
    if (!known || PROGRESS[m.state] >= PROGRESS[known.state]) messages.set(m.id, m);
  }
  return { ...model, messages };
}

/**
 * Folds one watch event into the model (a new model; the old one is left as it was). `needsState`
 * is true when the broker's sessions and counts must be read again: a message changed state (the
 * unread counts are the broker's to count, mailboxes and other hosts included), or a session
 * joined or left.
 */
export function applyFrame(model: Model, frame: BrokerFrame): { model: Model; needsState: boolean } {
  if (frame.type !== "event") return { model, needsState: false };
  const next: Model = { ...model };
  if (frame.message) {
    const m = frame.message;
    next.messages = new Map(model.messages).set(m.id, m);
    if (frame.event === "sent" && m.in_reply_to) answer(next, m);
    return { model: next, needsState: true };
  }
  if (frame.peer) {
    const p = frame.peer;
    next.sessions = new Map(model.sessions);
    if (frame.event === "left") next.sessions.delete(p.id);
    else if (frame.event === "joined") {
      next.sessions.set(p.id, { ...p, unread: 0, queued: 0, hooks: false, paused_since: model.paused.get(p.name) ?? null });
    } else if (frame.event === "summary") {
      const s = next.sessions.get(p.id);
      if (s) next.sessions.set(p.id, { ...s, summary: p.summary });
    }
    return { model: next, needsState: frame.event === "joined" || frame.event === "left" };
  }
  if (frame.name && (frame.event === "paused" || frame.event === "resumed")) {
    next.paused = new Map(model.paused);
    const since = frame.event === "paused" ? new Date().toISOString() : null;
    if (since) next.paused.set(frame.name, since);
    else next.paused.delete(frame.name);
    next.sessions = new Map([...model.sessions].map(([id, s]) => [id, s.name === frame.name ? { ...s, paused_since: since } : s]));
  }
  return { model: next, needsState: false };
}

/** A reply from the recipient answers an awaited message (as the broker's markAnswered does). */
function answer(model: Model, reply: Message): void {
  const original = model.messages.get(reply.in_reply_to!);
  if (!original || (original.reply_status !== "awaiting" && original.reply_status !== "overdue")) return;
  if (reply.from_id !== original.to_id && reply.from_name !== original.to_name) return;
  model.messages.set(original.id, { ...original, reply_status: "answered" });
}

export function matches(m: Message, f: Filter): boolean {
  if (f.peer && m.from_name !== f.peer && m.to_name !== f.peer && m.from_id !== f.peer && m.to_id !== f.peer) return false;
  if (f.group && m.group !== f.group) return false;
  return !f.text || m.text.toLowerCase().includes(f.text.toLowerCase());
}

/** One send: a message, or every copy of a group send (they share fanout_id). */
export interface Send {
  id: string;
  first: Message;
  copies: Message[];
}

export interface Thread {
  send: Send;
  replies: Thread[];
  /** The newest sent_at in the thread, for ordering. */
  latest: string;
}

/** Sends grouped into threads by in_reply_to: newest thread first, replies oldest first. */
export function threads(messages: Iterable<Message>, filter: Filter = NO_FILTER): Thread[] {
  const sends = new Map<string, Send>();
  const sendOf = new Map<string, string>(); // message id → send id
  for (const m of messages) {
    if (!matches(m, filter)) continue;
    const key = m.fanout_id ?? m.id;
    sendOf.set(m.id, key);
    const send = sends.get(key);
    if (send) send.copies.push(m);
    else sends.set(key, { id: key, first: m, copies: [m] });
  }
  const nodes = new Map<string, Thread>();
  for (const send of sends.values()) {
    send.copies.sort((a, b) => a.to_name.localeCompare(b.to_name));
    send.first = send.copies.find((c) => c.id === send.id) ?? send.copies[0]!;
    nodes.set(send.id, { send, replies: [], latest: send.first.sent_at });
  }
  const roots: Thread[] = [];
  for (const node of nodes.values()) {
    const parentId = node.send.first.in_reply_to;
    const parent = parentId === null ? undefined : nodes.get(sendOf.get(parentId) ?? "");
    if (parent && parent !== node) parent.replies.push(node);
    else roots.push(node);
  }
  const settle = (t: Thread): string => {
    t.replies.sort((a, b) => a.send.first.sent_at.localeCompare(b.send.first.sent_at));
    for (const r of t.replies) {
      const latest = settle(r);
      if (latest > t.latest) t.latest = latest;
    }
    return t.latest;
  };
  for (const r of roots) settle(r);
  return roots.sort((a, b) => b.latest.localeCompare(a.latest));
}

/** An awaited reply's standing at `now`: overdue once its deadline passed unanswered. */
export function replyStanding(m: Message, now: number): "awaiting" | "answered" | "overdue" | null {
  if (m.reply_status === "awaiting" && m.reply_by && Date.parse(m.reply_by) <= now) return "overdue";
  return m.reply_status;
}

/**
 * Mail a runaway pair holds, by pair; not mail a pause holds (that is the pause's), nor a pair with
 * a paused side (the broker refuses to release it until the pause ends).
 */
export function heldPairs(model: Model): Array<{ a: string; b: string; count: number }> {
  const pairs = new Map<string, { a: string; b: string; count: number }>();
  for (const m of model.messages.values()) {
    if (m.state !== "held" || m.held_by === "pause" || model.paused.has(m.to_name) || model.paused.has(m.from_name)) continue;
    const [a, b] = [m.from_name, m.to_name].sort() as [string, string];
    const key = `${a}\0${b}`;
    const pair = pairs.get(key) ?? { a, b, count: 0 };
    pair.count++;
    pairs.set(key, pair);
  }
  return [...pairs.values()].sort((x, y) => x.a.localeCompare(y.a) || x.b.localeCompare(y.b));
}

export interface Edge {
  from: string;
  to: string;
  count: number;
}

/** Who wrote to whom since `since` (ms): one edge per direction, counting each copy. */
export function talkEdges(messages: Iterable<Message>, since: number): Edge[] {
  const edges = new Map<string, Edge>();
  for (const m of messages) {
    if (Date.parse(m.sent_at) < since || m.from_name === m.to_name) continue;
    const key = `${m.from_name}\0${m.to_name}`;
    const e = edges.get(key) ?? { from: m.from_name, to: m.to_name, count: 0 };
    e.count++;
    edges.set(key, e);
  }
  return [...edges.values()];
}
