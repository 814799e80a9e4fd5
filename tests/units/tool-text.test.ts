/** Model-facing tool texts and channel meta. */
import { describe, expect, test } from "bun:test";
import { channelMeta } from "../../shared/server/mcp-server.ts";
import { type Message, type MessageState } from "../../shared/protocol.ts";
import { describeSent, unreadFooter } from "../../shared/tool-text.ts";

describe("tool text", () => {
  test.each([
    [undefined, ""],
    [0, ""],
    [1, "\n\n(1 unread peer message waiting: call check_messages.)"],
    [3, "\n\n(3 unread peer messages waiting: call check_messages.)"],
  ])("unreadFooter(%p)", (unread, expected) => {
    expect(unreadFooter(unread)).toBe(expected);
  });

  const message = (over: Partial<Message> = {}): Message => ({
    id: "m-abc123",
    from_id: "p-alice",
    from_name: "alice",
    from_summary: "working on auth",
    from_cwd: "/src/api",
    to_id: "p-bob",
    to_name: "bob",
    text: "hello",
    in_reply_to: null,
    state: "queued",
    sent_at: "2026-01-02T03:04:05.000Z",
    delivered_at: null,
    read_at: null,
    reply_by: null,
    reply_status: null,
    replaces: null,
    group: null,
    fanout_id: null,
    ...over,
  });

  test.each<[string, Partial<Message>, RegExp[]]>([
    ["delivered", { state: "delivered" }, [/^Message m-abc123 delivered to bob \(p-bob\)\.$/]],
    ["read", { state: "read" }, [/^Message m-abc123 read by bob \(p-bob\)\.$/]],
    ["queued for a live id", { state: "queued" }, [/^Message m-abc123 queued for bob \(p-bob\)/, /kept until that session reads it/]],
    ["queued in a mailbox", { state: "queued", to_id: null }, [/^Message m-abc123 queued in bob's mailbox/, /no session named bob is live/, /delivered when one starts/]],
    ["expired", { state: "expired" }, [/^Message m-abc123 expired before bob \(p-bob\) read it\.$/]],
  ])("describeSent: %s", (_, over, patterns) => {
    const text = describeSent(message(over));
    for (const p of patterns) expect(text).toMatch(p);
    expect(text).not.toContain("\n");
  });

  test("describeSent covers every state", () => {
    const states: MessageState[] = ["queued", "delivered", "read", "expired"];
    for (const state of states) expect(describeSent(message({ state }))).toContain("m-abc123");
  });

  describe("channelMeta", () => {
    test("identifier keys and string values, in_reply_to only when set", () => {
      const plain = channelMeta(message());
      expect(plain).toEqual({
        message_id: "m-abc123",
        from_id: "p-alice",
        from_name: "alice",
        from_summary: "working on auth",
        from_cwd: "/src/api",
        sent_at: "2026-01-02T03:04:05.000Z",
      });
      expect("in_reply_to" in plain).toBe(false);

      const reply = channelMeta(message({ in_reply_to: "m-earlier" }));
      expect(reply.in_reply_to).toBe("m-earlier");
      for (const meta of [plain, reply]) {
        for (const [key, value] of Object.entries(meta)) {
          expect(key).toMatch(/^[A-Za-z0-9_]+$/);
          expect(typeof value).toBe("string");
        }
      }
    });

    test("an empty summary or cwd is still a string value", () => {
      const meta = channelMeta(message({ from_summary: "", from_cwd: "" }));
      expect(meta).toMatchObject({ from_summary: "", from_cwd: "" });
    });
  });
});
