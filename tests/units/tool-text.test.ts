/** Model-facing tool texts and channel meta. */
import { describe, expect, test } from "bun:test";
import { channelMeta } from "../../shared/server/mcp-server.ts";
import { MessageStateSchema, type Message } from "../../shared/protocol.ts";
import { describeSendResult, describeSent, unreadFooter } from "../../shared/tool-text.ts";
import { wireMessage } from "../helpers/envelope.ts";

describe("tool text", () => {
  test.each([
    [undefined, ""],
    [0, ""],
    [1, "\n\n(1 unread peer message waiting: call check_messages.)"],
    [3, "\n\n(3 unread peer messages waiting: call check_messages.)"],
  ])("unreadFooter(%p)", (unread, expected) => {
    expect(unreadFooter(unread)).toBe(expected);
  });

  const message = (over: Partial<Message> = {}): Message =>
    wireMessage("m-abc123", "hello", {
      from_id: "p-alice",
      from_name: "alice",
      from_summary: "working on auth",
      from_cwd: "/src/api",
      to_id: "p-bob",
      to_name: "bob",
      state: "queued",
      sent_at: "2026-01-02T03:04:05.000Z",
      ...over,
    });

  test.each<[string, Partial<Message>, RegExp[]]>([
    ["delivered", { state: "delivered" }, [/^Message m-abc123 delivered to bob \(p-bob\)\.$/]],
    ["read", { state: "read" }, [/^Message m-abc123 read by bob \(p-bob\)\.$/]],
    ["queued for a live id", { state: "queued" }, [/^Message m-abc123 queued for bob \(p-bob\)/, /kept until that session reads it/]],
    ["queued in a mailbox", { state: "queued", to_id: null }, [/^Message m-abc123 queued in bob's mailbox/, /no session named bob is live/, /delivered when one starts/]],
    ["expired", { state: "expired" }, [/^Message m-abc123 expired before bob \(p-bob\) read it\.$/]],
    ["held", { state: "held" }, [/^Message m-abc123 to bob \(p-bob\) is held, not delivered\./, /bun cli\.ts release alice bob/, /do not answer acknowledgements/]],
    ["held by a pause", { state: "held", held_by: "pause" }, [/^Message m-abc123 to bob \(p-bob\) is held, not delivered\. A person paused bob: /, /bun cli\.ts resume bob/, /^(?![\s\S]*(loop|release))/]],
    ["discarded", { state: "discarded" }, [/^Message m-abc123 to bob \(p-bob\) was discarded by a person\.$/]],
  ])("describeSent: %s", (_, over, patterns) => {
    const text = describeSent(message(over));
    for (const p of patterns) expect(text).toMatch(p);
    expect(text).not.toContain("\n");
  });

  test("describeSent covers every state", () => {
    for (const state of MessageStateSchema.options) expect(describeSent(message({ state }))).toContain("m-abc123");
  });

  test("describeSendResult: a group send counts its copies by state and names the id that stands for them all", () => {
    const copy = (to_name: string, over: Partial<Message>) => message({ id: `m-${to_name}`, to_name, to_id: `p-${to_name}`, group: "ui", fanout_id: "m-api", ...over });
    const copies = [copy("api", { state: "delivered" }), copy("docs", { state: "delivered" }), copy("review", { state: "queued", to_id: null })];
    expect(describeSendResult({ message: copies[0]!, copies })).toBe(
      "Message m-api to #ui: 3 copies; delivered 2 (api, docs); in mailbox 1 (review). retract_message and check_messages(reply_to) take m-api for them all.",
    );
    const held = [copy("api", { state: "held" })];
    expect(describeSendResult({ message: held[0]!, copies: held })).toMatch(/^Message m-api to #ui: 1 copy; held 1 \(api\)\. .* You and api have exchanged many messages/);
    const everyone = [copy("api", { state: "delivered", group: "*" })];
    expect(describeSendResult({ message: everyone[0]!, copies: everyone })).toStartWith("Message m-api to every live session here (*): 1 copy;");
    expect(describeSendResult({ message: message({ state: "delivered", reply_by: "2026-01-02T03:14:05.000Z" }) })).toBe(
      "Message m-abc123 delivered to bob (p-bob). A reply is expected by 2026-01-02T03:14:05.000Z; if none comes, claude-peers tells you.",
    );
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

    test("a group copy carries group; a send to everyone carries *", () => {
      expect(channelMeta(message({ group: "ui", fanout_id: "m-first" })).group).toBe("ui");
      expect(channelMeta(message({ group: "*" })).group).toBe("*");
      expect("fanout_id" in channelMeta(message({ group: "ui", fanout_id: "m-first" }))).toBe(false); // the sender's business
    });

    test("an empty summary or cwd is still a string value", () => {
      const meta = channelMeta(message({ from_summary: "", from_cwd: "" }));
      expect(meta).toMatchObject({ from_summary: "", from_cwd: "" });
    });
  });
});
