/** The console page's state logic (shared/web/model.ts): events folded in, threads, held pairs, edges. */
import { describe, expect, test } from "bun:test";
import type { ConsoleSession, ConsoleState, Message } from "../../shared/protocol.ts";
import { applyFrame, heldPairs, modelOf, replyStanding, talkEdges, threads, withFresher } from "../../shared/web/model.ts";

const T = Date.parse("2026-12-01T12:00:00Z");
const at = (s: number) => new Date(T + s * 1000).toISOString();

function msg(id: string, extra: Partial<Message> = {}): Message {
  return {
    id, from_id: "p-alice00000", from_name: "alice", from_summary: "", from_cwd: "/a", to_id: "p-bob0000000", to_name: "bob", text: id,
    in_reply_to: null, state: "queued", sent_at: at(0), delivered_at: null, read_at: null, reply_by: null, reply_status: null,
    replaces: null, group: null, fanout_id: null, held_by: null, ...extra,
  };
}

function session(id: string, name: string, extra: Partial<ConsoleSession> = {}): ConsoleSession {
  return {
    id, name, summary: "", pid: 1, cwd: "/", git_root: null, git_branch: null, host: "h", registered_at: at(0), last_seen: at(0),
    push: true, groups: [], agent: "claude-code", unread: 0, queued: 0, hooks: false, paused_since: null, ...extra,
  };
}

const state = (sessions: ConsoleSession[]): ConsoleState => ({ host: "h", network: false, sessions, paused: [], groups: [] });

describe("applyFrame", () => {
  test("every message event keeps the message as it is now, and asks for the broker's counts again", () => {
    let model = modelOf(state([session("p-bob0000000", "bob", { unread: 1 })]), { messages: [], before: null });
    for (const [event, m] of [["sent", msg("m-1")], ["delivered", msg("m-1", { state: "delivered" })], ["read", msg("m-old", { state: "read" })]] as const) {
      const r = applyFrame(model, { type: "event", event, message: m });
      expect(r.needsState).toBe(true);
      model = r.model;
    }
    expect([model.messages.get("m-1")?.state, model.messages.get("m-old")?.state]).toEqual(["delivered", "read"]);
    expect(model.sessions.get("p-bob0000000")!.unread).toBe(1); // the broker's count until it is read again
  });

  test("after a reconnect each message is the further along of the page's copy and the broker's", () => {
    const model = modelOf(state([]), { messages: [msg("m-1", { state: "read" }), msg("m-2")], before: 7 });
    const fresher = withFresher(model, { messages: [msg("m-1", { state: "delivered" }), msg("m-2", { state: "read" }), msg("m-3")] });
    expect([...fresher.messages.values()].map((m) => [m.id, m.state])).toEqual([["m-1", "read"], ["m-2", "read"], ["m-3", "queued"]]);
    expect(fresher.before).toBe(7);
  });

  test("sessions join, change summary and leave; a join or leave asks for the broker's counts again", () => {
    let model = modelOf(state([]), { messages: [], before: null });
    const joined = applyFrame(model, { type: "event", event: "joined", peer: session("p-c", "carol") });
    expect(joined.needsState).toBe(true);
    model = joined.model;
    model = applyFrame(model, { type: "event", event: "summary", peer: { ...session("p-c", "carol"), summary: "testing" } }).model;
    expect(model.sessions.get("p-c")?.summary).toBe("testing");
    model = applyFrame(model, { type: "event", event: "paused", name: "carol" }).model;
    expect(model.sessions.get("p-c")?.paused_since).not.toBeNull();
    model = applyFrame(model, { type: "event", event: "resumed", name: "carol" }).model;
    expect(model.sessions.get("p-c")?.paused_since).toBeNull();
    model = applyFrame(model, { type: "event", event: "left", peer: session("p-c", "carol") }).model;
    expect(model.sessions.size).toBe(0);
  });

  test("a reply from the recipient answers an awaited message", () => {
    let model = modelOf(state([]), { messages: [msg("m-q", { reply_status: "awaiting", reply_by: at(60) })], before: null });
    const reply = msg("m-r", { from_id: "p-bob0000000", from_name: "bob", to_id: "p-alice00000", to_name: "alice", in_reply_to: "m-q" });
    model = applyFrame(model, { type: "event", event: "sent", message: reply }).model;
    expect(model.messages.get("m-q")?.reply_status).toBe("answered");
  });

  test("the model before an event is left as it was", () => {
    const model = modelOf(state([session("p-bob0000000", "bob")]), { messages: [], before: null });
    applyFrame(model, { type: "event", event: "sent", message: msg("m-1") });
    expect([model.messages.size, model.sessions.get("p-bob0000000")!.unread]).toEqual([0, 0]);
  });
});

describe("threads", () => {
  test("replies nest under what they answer, oldest first; threads newest first by their latest message", () => {
    const list = threads([
      msg("m-a", { sent_at: at(0) }),
      msg("m-b", { sent_at: at(1), text: "other" }),
      msg("m-a2", { sent_at: at(5), in_reply_to: "m-a" }),
      msg("m-a1", { sent_at: at(2), in_reply_to: "m-a" }),
      msg("m-a11", { sent_at: at(3), in_reply_to: "m-a1" }),
      msg("m-orphan", { sent_at: at(4), in_reply_to: "m-not-loaded" }),
    ]);
    expect(list.map((t) => t.send.id)).toEqual(["m-a", "m-orphan", "m-b"]);
    expect(list[0]!.replies.map((r) => r.send.id)).toEqual(["m-a1", "m-a2"]);
    expect(list[0]!.replies[0]!.replies.map((r) => r.send.id)).toEqual(["m-a11"]);
  });

  test("a group send's copies are one send; a reply to any copy joins its thread", () => {
    const copies = [
      msg("m-g1", { group: "ui", fanout_id: "m-g1", to_name: "bob" }),
      msg("m-g2", { group: "ui", fanout_id: "m-g1", to_name: "carol", to_id: "p-carol00000" }),
    ];
    const reply = msg("m-r", { from_name: "carol", to_name: "alice", in_reply_to: "m-g2", sent_at: at(1) });
    const [t] = threads([copies[1]!, copies[0]!, reply]);
    expect(t!.send.id).toBe("m-g1");
    expect(t!.send.copies.map((c) => c.to_name)).toEqual(["bob", "carol"]);
    expect(t!.replies.map((r) => r.send.id)).toEqual(["m-r"]);
  });

  test("filters by session, group and text (any case)", () => {
    const all = [msg("m-1", { text: "Deploy now" }), msg("m-2", { from_name: "carol", to_name: "dave", group: "ops", fanout_id: "m-2" })];
    expect(threads(all, { peer: "carol", group: "", text: "" }).map((t) => t.send.id)).toEqual(["m-2"]);
    expect(threads(all, { peer: "", group: "ops", text: "" }).map((t) => t.send.id)).toEqual(["m-2"]);
    expect(threads(all, { peer: "", group: "", text: "deploy" }).map((t) => t.send.id)).toEqual(["m-1"]);
  });
});

describe("replies due, held pairs, who talks to whom", () => {
  test("an awaited reply past its deadline is overdue", () => {
    const m = msg("m-q", { reply_status: "awaiting", reply_by: at(60) });
    expect(replyStanding(m, T + 59_000)).toBe("awaiting");
    expect(replyStanding(m, T + 60_000)).toBe("overdue");
    expect(replyStanding(msg("m-x"), T)).toBeNull();
  });

  test("held mail is shown by pair, but not mail a pause holds, nor a pair with a paused side", () => {
    const model = modelOf(
      { ...state([]), paused: [{ name: "zed", since: at(0) }] },
      {
        messages: [
          msg("m-1", { state: "held", held_by: "pair" }),
          msg("m-2", { state: "held", held_by: "pair", from_name: "bob", to_name: "alice" }),
          msg("m-3", { state: "held", held_by: "pause", to_name: "carol" }),
          msg("m-4", { state: "held", held_by: "pair", from_name: "zed", to_name: "dave" }),
        ],
        before: null,
      },
    );
    expect(heldPairs(model)).toEqual([{ a: "alice", b: "bob", count: 2 }]);
  });

  test("edges count each direction over the window", () => {
    const edges = talkEdges([msg("m-1", { sent_at: at(0) }), msg("m-2", { sent_at: at(10) }), msg("m-3", { sent_at: at(20), from_name: "bob", to_name: "alice" })], T + 5000);
    expect(edges).toEqual([
      { from: "alice", to: "bob", count: 1 },
      { from: "bob", to: "alice", count: 1 },
    ]);
  });
});
