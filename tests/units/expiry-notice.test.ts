/** expiryNotices: what each sender is told when its mail expires undelivered (broker/expiry-notice.ts). */
import { describe, expect, test } from "bun:test";
import { expiryNotices } from "../../shared/broker/expiry-notice.ts";
import type { MessageRow } from "../../shared/store/store.ts";

function expired(id: string, over: Partial<MessageRow> = {}): MessageRow {
  return {
    seq: 1,
    id,
    from_id: "p-alice",
    from_name: "alice",
    from_summary: "",
    from_cwd: "/w/alice",
    to_id: "p-bob",
    to_name: "bob",
    text: "hello",
    in_reply_to: null,
    state: "expired",
    created_at: 0,
    delivered_at: null,
    read_at: null,
    expires_at: 1,
    send_key: null,
    reply_by: null,
    reply_status: null,
    replaces: null,
    retracted_at: null,
    to_group: null,
    fanout_id: null,
    released_at: null,
    text_crc: null,
    held_by: null,
    ...over,
  };
}

const UNTOLD = new Set(["cli", "claude-peers"]);

describe("expiryNotices", () => {
  test.each([
    ["held by a pause", { held_by: "pause" }, "m-1 to bob: held while bob's mail was paused, and not resumed in time"],
    ["held as a loop", { held_by: "pair" }, "m-1 to bob: held as a possible loop, and not released by a person in time"],
    ["queued for a session", {}, "m-1 to bob: bob did not pick it up in time"],
    ["in a name's mailbox", { to_id: null }, "m-1 to bob: no session named bob started in time"],
  ] as const)("one message %s: one notice naming why, in reply to it", (_, over, why) => {
    expect(expiryNotices([expired("m-1", over)], UNTOLD)).toEqual([
      { to: "p-alice", in_reply_to: "m-1", text: `Message ${why}. It expired and was not delivered; send it again if it still matters.` },
    ]);
  });

  test("one notice per sender, listing its messages in order; delivered mail and a person's or a notice's are left out", () => {
    const rows = [
      expired("m-1", { held_by: "pair" }),
      expired("m-2", { from_id: "p-carol", from_name: "carol", to_id: null }),
      expired("m-3", { delivered_at: 5 }), // written to bob's Claude, only never marked read
      expired("m-4", { to_name: "dave", to_id: "p-dave" }),
      expired("m-5", { from_id: "cli", from_name: "cli" }),
      expired("m-6", { from_id: "claude-peers", from_name: "claude-peers" }),
    ];
    expect(expiryNotices(rows, UNTOLD)).toEqual([
      {
        to: "p-alice",
        in_reply_to: "m-1",
        text:
          "2 of your messages expired and were not delivered; send again what still matters:\n" +
          "- m-1 to bob: held as a possible loop, and not released by a person in time\n" +
          "- m-4 to dave: dave did not pick it up in time",
      },
      { to: "p-carol", in_reply_to: "m-2", text: "Message m-2 to bob: no session named bob started in time. It expired and was not delivered; send it again if it still matters." },
    ]);
    expect(expiryNotices([expired("m-3", { delivered_at: 5 })], UNTOLD)).toEqual([]);
  });
});
