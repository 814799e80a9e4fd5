/**
 * Held mail is bounded like unread mail (issue 25): it counts toward its recipient's unread cap, and
 * it has a lifetime (CLAUDE_PEERS_HELD_DAYS, else the mailbox's), after which it expires and its
 * sender is told. In process, on an injected clock; the prune runs as the broker's does.
 */
import { describe, expect, test } from "bun:test";
import type { WireError } from "../shared/errors.ts";
import { MAX_UNREAD_PER_PEER } from "../shared/broker/mailbox-quota.ts";
import { newMessageId } from "../shared/broker/ids.ts";
import type { NewMessage } from "../shared/store/store.ts";
import { inProcessServices, registration, type InProcessServices } from "./helpers/in-process.ts";
import { thrown } from "./helpers/wait.ts";

const DAY = 86_400_000;
const UNPACED = { perSecond: 1e9, burst: 1e9, maxWaitMs: 0 };

/** Two live peers, "asker" and "api", and their rows. */
async function twoPeers(s: InProcessServices) {
  const asker = await s.registry.register(registration("asker"));
  const api = await s.registry.register(registration("api", { parent_pid: 9 }));
  return { asker: (await s.registry.authenticate(asker.secret))!, api: (await s.registry.authenticate(api.secret))! };
}

/** The broker's prune, as createBroker runs it every minute: expire, then tell. */
async function prune(s: InProcessServices) {
  const r = await s.store.prune({ now: s.clock.now(), keepReadMs: 30 * DAY, keepPeersMs: 30 * DAY, liveIds: s.presence.liveIds() });
  await s.mail.expired(r.expiredMessages);
  return r;
}

describe("held mail and the unread cap", () => {
  test(`${MAX_UNREAD_PER_PEER.toLocaleString("en")} held messages fill a mailbox: the next send is refused (mailbox_full), by id, by name and to its mailbox, whoever sends`, async () => {
    await using s = inProcessServices({ sendRate: UNPACED });
    const { asker, api } = await twoPeers(s);
    await s.mail.pause("api");
    // Stored held as a pause stores it, in one write (a send each would take the test seconds).
    const now = s.clock.now();
    const held = Array.from({ length: MAX_UNREAD_PER_PEER }, (_, i): NewMessage => ({
      id: newMessageId(),
      from_id: asker.id,
      from_name: "asker",
      from_summary: "",
      from_cwd: "/w/asker",
      to_id: api.id,
      to_name: "api",
      text: `held ${i}`,
      in_reply_to: null,
      state: "held",
      held_by: "pause",
      created_at: now,
      expires_at: now + DAY,
      send_key: null,
      reply_by: null,
      replaces: null,
      to_group: null,
      fanout_id: null,
    }));
    await s.store.insertMessages(held);
    expect(await s.mail.unreadCount(api)).toBe(0); // nothing it can read...
    for (const [sender, to] of [[{ kind: "peer", row: asker }, api.id], [{ kind: "peer", row: asker }, "api"], [{ kind: "operator" }, api.id]] as const) {
      const err = (await thrown(s.mail.send(sender, { to, text: `one more to ${to}` }))) as WireError;
      expect([err.code, err.field]).toEqual(["mailbox_full", "to"]); // ...but its mailbox is full
      expect(err.message).toMatch(/api has 10000 unread or held messages.*nothing was sent/);
    }
    // The session gone, the same mail waits for its name: a send to the name's mailbox is refused too.
    await s.registry.unregister(api);
    const err = (await thrown(s.mail.send({ kind: "peer", row: asker }, { to: "api", text: "to the mailbox" }))) as WireError;
    expect(err.code).toBe("mailbox_full");
  });
});

describe("held mail expires", () => {
  test("held by a pause, it expires after CLAUDE_PEERS_HELD_DAYS; its sender gets one notice naming why, watchers see it expire", async () => {
    await using s = inProcessServices({ mailboxTtlMs: 7 * DAY, heldTtlMs: DAY });
    const { asker, api } = await twoPeers(s);
    const events: any[] = [];
    s.watchers.add({ send: (data: string) => void events.push(JSON.parse(data)), close: () => {} });
    await s.mail.pause("api");
    const first = (await s.mail.send({ kind: "peer", row: asker }, { to: "api", text: "please review" })).message;
    const second = (await s.mail.send({ kind: "peer", row: asker }, { to: "api", text: "and this" })).message;
    expect([first.state, first.held_by, (await s.store.getMessage(first.id))?.expires_at]).toEqual(["held", "pause", s.clock.now() + DAY]);

    s.clock.advance(DAY - 1);
    expect((await prune(s)).expired).toBe(0);
    s.clock.advance(1);
    expect((await prune(s)).expiredMessages.map((m) => m.id)).toEqual([first.id, second.id]);

    expect((await s.store.getMessage(first.id))?.state).toBe("expired");
    expect(events.filter((e) => e.event === "expired").map((e) => e.message.id)).toEqual([first.id, second.id]);
    const notices = await s.mail.inbox(asker, { markRead: false });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ from_id: "claude-peers", in_reply_to: first.id });
    expect(notices[0]!.text).toContain(`2 of your messages expired and were not delivered`);
    expect(notices[0]!.text).toContain(`- ${first.id} to api: held while api's mail was paused, and not resumed in time`);
    // Resuming now frees nothing: the expired mail is gone from the pause, and api never sees it.
    expect((await s.mail.resume("api")).messages).toEqual([]);
    expect(await s.mail.inbox(api, { markRead: false })).toEqual([]);
  });

  test("without CLAUDE_PEERS_HELD_DAYS held mail lasts the mailbox's time; released mail gets a fresh mailbox time", async () => {
    await using s = inProcessServices({ mailboxTtlMs: 7 * DAY });
    const { asker } = await twoPeers(s);
    await s.mail.pause("api");
    const held = (await s.mail.send({ kind: "peer", row: asker }, { to: "api", text: "held a while" })).message;
    expect((await s.store.getMessage(held.id))?.expires_at).toBe(s.clock.now() + 7 * DAY);
    s.clock.advance(6 * DAY);
    await s.mail.resume("api");
    expect(await s.store.getMessage(held.id)).toMatchObject({ state: "queued", expires_at: s.clock.now() + 7 * DAY });
  });

  test("mail that expires undelivered in a mailbox is told too; mail shown to Claude and never marked read is not; nor a person's or a notice's", async () => {
    await using s = inProcessServices({ mailboxTtlMs: DAY });
    const { asker, api } = await twoPeers(s);
    const gone = await s.registry.register(registration("gone", { parent_pid: 7 }));
    await s.registry.unregister((await s.registry.authenticate(gone.secret))!);
    const waiting = (await s.mail.send({ kind: "peer", row: asker }, { to: "gone", text: "for later" })).message;
    const shown = (await s.mail.send({ kind: "peer", row: asker }, { to: api.id, text: "shown" })).message;
    await s.mail.acknowledge(api, [shown.id]); // delivered: written to api's Claude, never marked read
    await s.mail.send({ kind: "operator" }, { to: "gone", text: "from a person" });
    s.clock.advance(DAY);
    expect((await prune(s)).expired).toBe(3);
    const notices = await s.mail.inbox(asker, { markRead: false });
    expect(notices.map((m) => [m.from_id, m.in_reply_to, m.text])).toEqual([
      ["claude-peers", waiting.id, `Message ${waiting.id} to gone: no session named gone started in time. It expired and was not delivered; send it again if it still matters.`],
    ]);
  });
});
