/** parseNotice: every kind a broker sends reads back; anything else anyone may NOTIFY is refused, never thrown. */
import { expect, test } from "bun:test";
import { parseNotice, type Notice } from "../../shared/broker/network-notice.ts";

test.each<Notice>([
  { kind: "message", broker: "b-0a1b2c3d4e5f", peer: "p-7kq2mxw4tz", message: "m-3hx8c2kq9vnd" },
  { kind: "acked", ids: ["m-3hx8c2kq9vnd", "m-4hx8c2kq9vnd"] },
  { kind: "acked", ids: ["m-3hx8c2kq9vnd"], state: "delivered", at: 1_700_000_000_000 },
  { kind: "watching", broker: "b-0a1b2c3d4e5f" },
  { kind: "events", broker: "b-0a1b2c3d4e5f", events: [["sent", "m-3hx8c2kq9vnd"], ["paused", "api"]] },
])("a broker's %o reads back", (notice) => {
  expect(parseNotice(JSON.stringify(notice))).toEqual({ ok: true, notice });
});

test.each([
  ["null", "null"],
  ["an empty object", "{}"],
  ["not JSON", "garbage {"],
  ["an array", "[]"],
  ["ids that are not a list", '{"kind":"acked","ids":null}'],
  ["an id that is not a string", '{"kind":"acked","ids":[{"a":1}]}'],
  ["an ack's state that is not one an ack makes", '{"kind":"acked","ids":["m-3hx8c2kq9vnd"],"state":"expired","at":1}'],
  ["an ack's time that is not a time", '{"kind":"acked","ids":["m-3hx8c2kq9vnd"],"state":"read","at":-5}'],
  ["too many ids", JSON.stringify({ kind: "acked", ids: Array.from({ length: 401 }, (_, i) => `m-${i}`) })],
  ["a message notice without its ids", '{"kind":"message","broker":"b-1"}'],
  ["a broker id with spaces", '{"kind":"watching","broker":"b-1 OR 1=1"}'],
  ["an event that is not a pair", '{"kind":"events","broker":"b-1","events":[null]}'],
  ["an unknown kind", '{"kind":"shutdown"}'],
])("%s is refused", (_, payload) => {
  const parsed = parseNotice(payload);
  expect(parsed.ok).toBe(false);
  if (!parsed.ok) expect(parsed.reason.length).toBeGreaterThan(0);
});

test("an older broker's short-form notice is refused with a reason that says to update every host", () => {
  expect(parseNotice('{"k":"ack","ids":["m-1"]}')).toEqual({ ok: false, reason: "an older broker's notice: update claude-peers on every host" });
});
