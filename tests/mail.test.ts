/**
 * The broker's mail as pure state, in process: services over an in-memory SQLite store with an
 * injected clock (tests/helpers/in-process.ts). No processes and no HTTP; only the ack-timeout
 * case waits on the real clock, for ACK_WAIT_MS.
 */
import { describe, expect, test } from "bun:test";
import { ACK_WAIT_MS } from "../shared/broker/mail.ts";
import { MAX_UNREAD_PER_PEER } from "../shared/broker/mailbox-quota.ts";
import { MAX_GROUP_MEMBERS, MAX_GROUPS_PER_PEER } from "../shared/protocol.ts";
import type { WireError } from "../shared/errors.ts";
import { openSqliteStore } from "../shared/store/sqlite.ts";
import type { Store } from "../shared/store/store.ts";
import { join } from "node:path";
import type { RegisterResult } from "../shared/protocol.ts";
import { inProcessServices, registration as hooksRegistration, type InProcessServices } from "./helpers/in-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";

/** Sessions whose Claude Code shows channel push: their sockets here stand in for their servers, and the broker pushes to them. */
const registration = (name: string, extra: Parameters<typeof hooksRegistration>[1] = {}) => hooksRegistration(name, { channel: true, ...extra });
import { waitFor } from "./helpers/wait.ts";
import { hookAncestors } from "../shared/broker/hook-pairing.ts";
import { thrown } from "./helpers/wait.ts";

/** A store whose next insertMessage (or insertMessages) waits at a gate the test opens: one interleaving, on purpose. */
function gatedInserts(real: Store, method: "insertMessage" | "insertMessages" = "insertMessage") {
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const store = new Proxy(real, {
    get(target, key) {
      if (key === method) {
        return async (...args: unknown[]) => {
          reached.resolve();
          await gate.promise;
          return (target[method] as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, reached: reached.promise, open: () => gate.resolve() };
}

describe("mail to a session that is gone", () => {
  test.each(["by name", "by the old id"])("a send that found it offline (%s), stored after a new session took the name, goes to that session", async (how) => {
    const gated = gatedInserts(openSqliteStore(":memory:"));
    await using s = inProcessServices({ store: gated.store });
    const first = await s.registry.register(registration("b"));
    await s.registry.unregister((await s.registry.authenticate(first.secret))!);
    // The send resolves "b" to its mailbox (or its gone id) while no session holds the name...
    const sending = s.mail.send({ kind: "operator" }, { to: how === "by name" ? "b" : first.peer_id, text: "in the gap" });
    await gated.reached;
    // ...a new session takes the name and claims the mailbox before the message is stored.
    const next = await s.registry.register(registration("b"));
    gated.open();
    await sending;
    const peer = (await s.registry.authenticate(next.secret))!;
    expect((await s.mail.inbox(peer, { markRead: false })).map((m) => m.text)).toEqual(["in the gap"]);
  });
});

/** Two live peers, "asker" and "api", and their rows. */
async function pair(s: InProcessServices) {
  const [asker, api] = await Promise.all([s.registry.register(registration("asker")), s.registry.register(registration("api", { parent_pid: 9 }))]);
  return { askerRow: (await s.registry.authenticate(asker.secret))!, apiRow: (await s.registry.authenticate(api.secret))! };
}

/** A push socket that records what the broker sends it, and how it was closed. */
function recordingSocket() {
  const frames: any[] = [];
  const closed: Array<{ code?: number; reason?: string }> = [];
  return { frames, closed, send: (data: string) => void frames.push(JSON.parse(data)), close: (code?: number, reason?: string) => void closed.push({ code, reason }) };
}

describe("mail a gone session was shown", () => {
  test("stays with it: the next session of its name gets only the mail never shown, not yesterday's", async () => {
    await using s = inProcessServices();
    const first = await s.registry.register(registration("web"));
    const row = (await s.registry.authenticate(first.secret))!;
    const shown = (await s.mail.send({ kind: "operator" }, { to: "web", text: "ok" })).message;
    const unseen = (await s.mail.send({ kind: "operator" }, { to: "web", text: "please run the tests" })).message;
    expect(await s.mail.acknowledge(row, [shown.id])).toEqual([shown.id]); // pushed and written to Claude, never marked read
    await s.registry.unregister(row);

    const next = await s.registry.register(registration("web"));
    expect(next.unread).toBe(1);
    const peer = (await s.registry.authenticate(next.secret))!;
    expect((await s.mail.inbox(peer, { markRead: false })).map((m) => m.id)).toEqual([unseen.id]);
    expect(await s.store.getMessage(shown.id)).toMatchObject({ to_id: first.peer_id, state: "delivered" });
  });
});

describe("mailboxes on the clock", () => {
  test("mail left longer than the mailbox time is not handed to a later session, and the prune marks it expired", async () => {
    await using s = inProcessServices({ mailboxTtlMs: 60_000 });
    const first = await s.registry.register(registration("late"));
    await s.registry.unregister((await s.registry.authenticate(first.secret))!);
    const sent = (await s.mail.send({ kind: "operator" }, { to: "late", text: "too late" })).message;
    expect([sent.state, sent.to_id]).toEqual(["queued", null]); // in late's mailbox
    s.clock.advance(60_000);

    const next = await s.registry.register(registration("late"));
    expect(next.unread).toBe(0);
    const peer = (await s.registry.authenticate(next.secret))!;
    expect(await s.mail.inbox(peer, { markRead: false })).toEqual([]);
    await s.store.prune({ now: s.clock.now(), keepReadMs: 86_400_000, keepPeersMs: 86_400_000, liveIds: new Set([next.peer_id]) });
    expect((await s.store.getMessage(sent.id))?.state).toBe("expired");
  });

  test("mail within the mailbox time is handed over, queued, and pushed once the session's socket attaches", async () => {
    await using s = inProcessServices({ mailboxTtlMs: 60_000 });
    const first = await s.registry.register(registration("soon"));
    await s.registry.unregister((await s.registry.authenticate(first.secret))!);
    const sent = (await s.mail.send({ kind: "operator" }, { to: "soon", text: "in time" })).message;
    s.clock.advance(59_999);
    const next = await s.registry.register(registration("soon"));
    expect(next.unread).toBe(1);
    const socket = recordingSocket();
    expect(await s.registry.attach(next.peer_id, socket)).toBe(true);
    expect(socket.frames).toEqual([{ type: "message", message: expect.objectContaining({ id: sent.id, to_id: next.peer_id, state: "queued" }) }]);
  });
});

describe("the unread cap", () => {
  test(`${MAX_UNREAD_PER_PEER.toLocaleString("en")} unread messages: the next is refused with mailbox_full naming the field, by id and by name; none is dropped`, async () => {
    await using s = inProcessServices({ sendRate: { perSecond: 1e9, burst: 1e9, maxWaitMs: 0 } });
    const target = await s.registry.register(registration("target"));
    const texts = Array.from({ length: MAX_UNREAD_PER_PEER }, (_, i) => `fill ${i}`);
    for (let i = 0; i < texts.length; i += 500) await Promise.all(texts.slice(i, i + 500).map((text) => s.mail.send({ kind: "operator" }, { to: target.peer_id, text })));
    for (const to of [target.peer_id, "target"]) {
      const err = (await thrown(s.mail.send({ kind: "operator" }, { to, text: "one too many" }))) as WireError;
      expect([err.code, err.field]).toEqual(["mailbox_full", "to"]);
      expect(err.message).toMatch(/target has 10000 unread or held messages.*nothing was sent/);
    }
    const peer = (await s.registry.authenticate(target.secret))!;
    const inbox = await s.mail.inbox(peer, { markRead: true });
    expect(inbox.map((m) => m.text)).toEqual(texts); // oldest first, none dropped to make room
    await s.mail.send({ kind: "operator" }, { to: target.peer_id, text: "room again" });
  });
});

describe("registry", () => {
  test("a name lost to another host: the peer leaves (socket closed 4003, watchers told) and its name is free here", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("api"));
    const socket = recordingSocket();
    await s.registry.attach(reg.peer_id, socket);
    const watcher = recordingSocket();
    s.watchers.add(watcher);
    s.registry.namesLost([reg.peer_id, "p-notapeer0"]);
    expect(socket.closed).toEqual([{ code: 4003, reason: "name taken on another host; register again" }]);
    expect(watcher.frames).toEqual([{ type: "event", event: "left", peer: expect.objectContaining({ id: reg.peer_id, name: "api" }) }]);
    expect(s.presence.get(reg.peer_id)).toBeUndefined();
    expect((await s.registry.register(registration("api"))).name).toBe("api");
  });

  test("a newer push socket replaces the older one (closed 4000); closing the old one does not take the peer offline", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("api"));
    const [older, newer] = [recordingSocket(), recordingSocket()];
    await s.registry.attach(reg.peer_id, older);
    await s.registry.attach(reg.peer_id, newer);
    expect(older.closed).toEqual([{ code: 4000, reason: "replaced by a newer connection" }]);
    s.registry.detach(reg.peer_id, older);
    expect(s.presence.get(reg.peer_id)?.socket).toBe(newer);
    s.registry.detach(reg.peer_id, newer);
    expect(s.presence.get(reg.peer_id)).toBeUndefined();
  });
});

describe("acks", () => {
  test("a send to a pushed peer waits for its ack and answers delivered; watchers see sent, then delivered", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("api"));
    const peer = (await s.registry.authenticate(reg.secret))!;
    // The socket acks each push as server.ts does, once it has handed the message to Claude.
    const socket = { ...recordingSocket(), send: (data: string) => void s.mail.acknowledge(peer, [JSON.parse(data).message.id]) };
    await s.registry.attach(reg.peer_id, socket);
    const watcher = recordingSocket();
    s.watchers.add(watcher);
    const sent = (await s.mail.send({ kind: "operator" }, { to: "api", text: "hello" })).message;
    expect(sent.state).toBe("delivered");
    expect(watcher.frames.map((f) => [f.event, f.message.state])).toEqual([["sent", "queued"], ["delivered", "delivered"]]);
  });

  test("an ack that never comes: the send answers queued after ACK_WAIT_MS, and the message stays for the next push", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("api"));
    const socket = recordingSocket(); // pushes arrive, nothing acks
    await s.registry.attach(reg.peer_id, socket);
    const started = performance.now();
    const sent = (await s.mail.send({ kind: "operator" }, { to: "api", text: "unacked" })).message;
    expect(sent.state).toBe("queued");
    expect(performance.now() - started).toBeGreaterThanOrEqual(ACK_WAIT_MS - 5); // it did wait
    expect(socket.frames).toHaveLength(1);
    expect((await s.store.queuedFor(reg.peer_id)).map((m) => m.id)).toEqual([sent.id]);
  });
});

describe("a session that does not show channel push (delivered means shown)", () => {
  test("gets no push and no polled mail: the send answers queued at once, and the message waits unread for what shows it", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(hooksRegistration("api"));
    const peer = (await s.registry.authenticate(reg.secret))!;
    // The socket records each push and acks it, as server.ts does once it has written it to Claude.
    const recorded = recordingSocket();
    const socket = { ...recorded, send: (data: string) => (recorded.send(data), void s.mail.acknowledge(peer, [JSON.parse(data).message.id])) };
    await s.registry.attach(reg.peer_id, socket);
    const started = performance.now();
    const sent = (await s.mail.send({ kind: "operator" }, { to: "api", text: "for the hooks" })).message;
    expect(sent.state).toBe("queued");
    expect(performance.now() - started).toBeLessThan(ACK_WAIT_MS); // no ack to wait for: nothing was pushed
    expect(socket.frames).toEqual([]);
    expect(s.paths.pathOf(reg.peer_id)).toBe("hooks");
    expect((await s.store.getMessage(sent.id))?.state).toBe("queued");
    // Once its client turns out to show channels (a late initialize: POST /channel), what waits is pushed.
    s.paths.setChannel(reg.peer_id, true);
    await waitFor(() => socket.frames.length === 1, "the waiting message pushed");
    await waitFor(async () => (await s.store.getMessage(sent.id))?.state === "delivered", "its ack");
  });
});

describe("one path per session: where channel push shows the mail, the hooks and the waiter take none", () => {
  test("a channel session's hook is leased nothing and its waiter is told `channel`; a hooks session's hook shows its mail", async () => {
    await using s = inProcessServices();
    const [pushed, hooked] = await Promise.all([
      s.registry.register(registration("pushed", { parent_pid: 7001 })),
      s.registry.register(hooksRegistration("hooked", { parent_pid: 7002 })),
    ]);
    await s.mail.send({ kind: "operator" }, { to: "pushed", text: "by channel" });
    await s.mail.send({ kind: "operator" }, { to: "hooked", text: "by a hook" });
    expect([s.paths.pathOf(pushed.peer_id), s.paths.pathOf(hooked.peer_id)]).toEqual(["channel", "hooks"]);
    expect(await s.hookMail.lease(hookAncestors([9, 7001]), 9000, undefined, "PostToolUse")).toMatchObject({ peer: { id: pushed.peer_id }, messages: [], unread: 0 });
    expect(await s.hookMail.wait(hookAncestors([9, 7001]), 9000, undefined, undefined, "Stop")).toMatchObject({ peer: { id: pushed.peer_id }, messages: [], ended: "channel" });
    expect(await s.hookMail.lease(hookAncestors([9, 7002]), 9000, undefined, "PostToolUse")).toMatchObject({ peer: { id: hooked.peer_id }, messages: [{ text: "by a hook" }] });
  });
});

describe("awaited replies: check_messages that waits", () => {
  test("with nothing unread it waits, and returns the moment a message arrives", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("asker"));
    const peer = (await s.registry.authenticate(reg.secret))!;
    let settled = false;
    const waiting = s.mail.inbox(peer, { markRead: true, waitMs: 30_000 }).finally(() => (settled = true));
    await Bun.sleep(0); // let the wait start: nothing is there yet
    expect(settled).toBe(false);
    await s.mail.send({ kind: "operator" }, { to: "asker", text: "here you are" });
    expect((await waiting).map((m) => [m.text, m.state])).toEqual([["here you are", "read"]]);
  });

  test("with reply_to it returns only replies to that message and leaves other mail unread", async () => {
    await using s = inProcessServices();
    const [asker, api] = await Promise.all([s.registry.register(registration("asker")), s.registry.register(registration("api", { parent_pid: 9 }))]);
    const [askerRow, apiRow] = await Promise.all([s.registry.authenticate(asker.secret), s.registry.authenticate(api.secret)]);
    const question = (await s.mail.send({ kind: "peer", row: askerRow! }, { to: "api", text: "which port?" })).message;
    await s.mail.send({ kind: "operator" }, { to: "asker", text: "unrelated" });
    const waiting = s.mail.inbox(askerRow!, { markRead: true, waitMs: 30_000, replyTo: question.id });
    await s.mail.send({ kind: "peer", row: apiRow! }, { to: "asker", text: "also unrelated" });
    await s.mail.send({ kind: "peer", row: apiRow! }, { to: "asker", text: "7899", in_reply_to: question.id });
    expect((await waiting).map((m) => m.text)).toEqual(["7899"]);
    expect((await s.mail.inbox(askerRow!, { markRead: false })).map((m) => m.text)).toEqual(["unrelated", "also unrelated"]);
  });

  test("a wait that runs out returns nothing, and leaves no waiter behind", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("asker"));
    const peer = (await s.registry.authenticate(reg.secret))!;
    expect(await s.mail.inbox(peer, { markRead: true, waitMs: 20 })).toEqual([]);
    // Mail after the wait is an ordinary unread message, not swallowed by a stale waiter.
    await s.mail.send({ kind: "operator" }, { to: "asker", text: "later" });
    expect((await s.mail.inbox(peer, { markRead: false })).map((m) => m.text)).toEqual(["later"]);
  });

  test("mail to the old id of a session whose name a new session holds wakes the new one's wait", async () => {
    await using s = inProcessServices();
    const first = await s.registry.register(registration("b"));
    await s.registry.unregister((await s.registry.authenticate(first.secret))!);
    const next = await s.registry.register(registration("b"));
    const peer = (await s.registry.authenticate(next.secret))!;
    const waiting = s.mail.inbox(peer, { markRead: true, waitMs: 30_000 });
    await s.mail.send({ kind: "operator" }, { to: first.peer_id, text: "to the old id" }); // its mail follows the name
    expect((await waiting).map((m) => m.text)).toEqual(["to the old id"]);
  });
});

describe("awaited replies: reply_within_s", () => {
  test("no reply in time: the sender gets one notice from claude-peers itself, in reply to its message", async () => {
    await using s = inProcessServices();
    const { askerRow } = await pair(s);
    const question = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "which port?", reply_within_s: 600 })).message;
    expect([question.reply_status, question.reply_by]).toEqual(["awaiting", new Date(s.clock.now() + 600_000).toISOString()]);
    s.clock.advance(599_999);
    await s.mail.noticeOverdue();
    expect(await s.mail.inbox(askerRow, { markRead: false })).toEqual([]);
    s.clock.advance(1);
    await s.mail.noticeOverdue();
    await s.mail.noticeOverdue(); // once, not once per sweep
    const notices = await s.mail.inbox(askerRow, { markRead: false });
    expect(notices.map((m) => [m.from_id, m.from_name, m.in_reply_to, m.text])).toEqual([
      ["claude-peers", "claude-peers", question.id, `No reply from api to ${question.id} after 10 min. It may still answer; ask again, ask someone else, or go on without it.`],
    ]);
    expect((await s.store.getMessage(question.id))?.reply_status).toBe("overdue");
  });

  test("a reply from the recipient in time answers it: no notice; a waiting check_messages(reply_to) gets the reply", async () => {
    await using s = inProcessServices();
    const { askerRow, apiRow } = await pair(s);
    const question = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "which port?", reply_within_s: 60 })).message;
    const waiting = s.mail.inbox(askerRow, { markRead: true, waitMs: 30_000, replyTo: question.id });
    await s.mail.send({ kind: "peer", row: apiRow }, { to: askerRow.id, text: "7899", in_reply_to: question.id });
    expect((await waiting).map((m) => m.text)).toEqual(["7899"]);
    expect((await s.store.getMessage(question.id))?.reply_status).toBe("answered");
    s.clock.advance(120_000);
    await s.mail.noticeOverdue();
    expect(await s.mail.inbox(askerRow, { markRead: false })).toEqual([]);
  });

  test("the overdue notice also ends a check_messages waiting for that reply", async () => {
    await using s = inProcessServices();
    const { askerRow } = await pair(s);
    const question = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "still there?", reply_within_s: 5 })).message;
    const waiting = s.mail.inbox(askerRow, { markRead: true, waitMs: 30_000, replyTo: question.id });
    s.clock.advance(5000);
    await s.mail.noticeOverdue();
    expect((await waiting).map((m) => m.from_id)).toEqual(["claude-peers"]);
  });
});

describe("retraction", () => {
  test("a queued message nobody was shown: retracted, never returned, no notice", async () => {
    await using s = inProcessServices();
    const { askerRow, apiRow } = await pair(s);
    const m = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "deploy now" })).message;
    expect(((await s.mail.retract(askerRow, m.id)).message).state).toBe("retracted");
    expect(await s.mail.inbox(apiRow, { markRead: false })).toEqual([]);
    expect(await s.store.queuedFor(apiRow.id)).toEqual([]);
  });

  test("a message already pushed: the recipient gets one notice from claude-peers that it is withdrawn", async () => {
    await using s = inProcessServices();
    const { askerRow, apiRow } = await pair(s);
    const socket = { frames: [] as any[], send(data: string) { this.frames.push(JSON.parse(data)); }, close() {} };
    await s.registry.attach(apiRow.id, socket); // pushed, never acked: it may be on the screen
    const m = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "deploy now" })).message;
    await s.mail.retract(askerRow, m.id);
    const notices = socket.frames.filter((f) => f.message.from_id === "claude-peers").map((f) => [f.message.in_reply_to, f.message.text]);
    expect(notices).toEqual([[m.id, `Message ${m.id} from asker was withdrawn by its sender: disregard it.`]]);
  });

  test("refused with a clear error: someone else's message, an unknown one, one already read (send a correction), one retracted already", async () => {
    await using s = inProcessServices();
    const { askerRow, apiRow } = await pair(s);
    const m = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "deploy now" })).message;
    const fail = async (who: typeof askerRow, id: string) => {
      const err = (await thrown(s.mail.retract(who, id))) as WireError;
      return [err.code, err.field, err.message];
    };
    expect(await fail(apiRow, m.id)).toEqual(["not_found", "message_id", `message_id: no message ${m.id} of yours`]);
    expect((await fail(askerRow, "m-nosuchmessage"))[0]).toBe("not_found");
    await s.mail.inbox(apiRow, { markRead: true });
    expect(await fail(askerRow, m.id)).toEqual(["conflict", "message_id", `message_id: ${m.id} was already read by api; send a correction instead (send_message with in_reply_to=${m.id})`]);
    const other = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "second thoughts" })).message;
    await s.mail.retract(askerRow, other.id);
    expect((await fail(askerRow, other.id))[2]).toMatch(/is retracted already/);
  });

  test("replaces: the old message is retracted and the new one names it; the recipient sees only the new one", async () => {
    await using s = inProcessServices();
    const { askerRow, apiRow } = await pair(s);
    const old = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "use port 80" })).message;
    const fixed = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "use port 8080", replaces: old.id })).message;
    expect(fixed.replaces).toBe(old.id);
    expect((await s.mail.inbox(apiRow, { markRead: false })).map((m) => [m.text, m.replaces])).toEqual([["use port 8080", old.id]]);
    expect((await s.store.getMessage(old.id))?.state).toBe("retracted");
  });
});

/** Registers live peers by name (each its own Claude Code), returning their rows. */
async function peers(s: InProcessServices, ...names: string[]) {
  const rows = [];
  for (const [i, name] of names.entries()) {
    const reg = await s.registry.register(registration(name, { parent_pid: 100 + i }));
    rows.push((await s.registry.authenticate(reg.secret))!);
  }
  return rows;
}

describe("groups", () => {
  test("#group: every member but the sender gets one copy with its own state; a member with no session gets it in its mailbox", async () => {
    await using s = inProcessServices();
    const [web, api, docs] = await peers(s, "web", "api", "docs");
    const apiSocket = recordingSocket();
    await s.registry.attach(api!.id, apiSocket);
    for (const name of ["web", "api", "docs", "review"]) await s.groups.join(name, "ui");
    await s.registry.unregister(docs!); // docs' name stays in the group
    const sent = await s.mail.send({ kind: "peer", row: web! }, { to: "#ui", text: "the button is blue now" });
    // api was pushed its copy (this socket never acks, so it stays queued); docs and review have no session.
    expect(sent.copies!.map((c) => [c.to_name, c.to_id === null ? "mailbox" : c.state, c.group, c.fanout_id])).toEqual([
      ["api", "queued", "ui", sent.message.id],
      ["docs", "mailbox", "ui", sent.message.id],
      ["review", "mailbox", "ui", sent.message.id],
    ]);
    expect(apiSocket.frames.map((f) => [f.message.text, f.message.group])).toEqual([["the button is blue now", "ui"]]);
    // docs comes back: its name's mailbox, the group copy in it, is its own again.
    const [docsAgain] = await peers(s, "docs");
    expect((await s.mail.inbox(docsAgain!, { markRead: false })).map((m) => [m.text, m.group])).toEqual([["the button is blue now", "ui"]]);
    expect(await s.groups.of("docs")).toEqual(["ui"]);
  });

  test("a retry of a group send (same idempotency key) while the first is being stored gets the first's copies, not an error", async () => {
    // The first attempt's copies wait at a gate the test opens, after the retry checked the key.
    const gated = gatedInserts(openSqliteStore(":memory:"), "insertMessages");
    await using s = inProcessServices({ store: gated.store });
    const [web] = await peers(s, "web", "api", "docs");
    for (const name of ["web", "api", "docs"]) await s.groups.join(name, "ui");
    const body = { to: "#ui", text: "the build is green", idempotency_key: "key-fanout-01" };
    const first = s.mail.send({ kind: "peer", row: web! }, body);
    await gated.reached;
    const retry = s.mail.send({ kind: "peer", row: web! }, body);
    gated.open();
    const [a, b] = await Promise.all([first, retry]);
    expect(b.message.id).toBe(a.message.id);
    expect(b.copies!.map((c) => c.id)).toEqual(a.copies!.map((c) => c.id));
  });

  test("a reply to any copy answers the group send: check_messages(reply_to=<first id>) returns it", async () => {
    await using s = inProcessServices();
    const [web, api, docs] = await peers(s, "web", "api", "docs");
    for (const name of ["web", "api", "docs"]) await s.groups.join(name, "ui");
    const sent = await s.mail.send({ kind: "peer", row: web! }, { to: "#ui", text: "who owns the login page?" });
    const docsCopy = sent.copies!.find((c) => c.to_name === "docs")!;
    const waiting = s.mail.inbox(web!, { markRead: true, waitMs: 30_000, replyTo: sent.message.id });
    await s.mail.send({ kind: "peer", row: api! }, { to: "web", text: "not me" }); // not a reply: stays unread
    await s.mail.send({ kind: "peer", row: docs! }, { to: "web", text: "I do", in_reply_to: docsCopy.id });
    expect((await waiting).map((m) => m.text)).toEqual(["I do"]);
  });

  test("retracting a group send withdraws every copy not yet read; a read one stays read", async () => {
    await using s = inProcessServices();
    const [web, api, docs] = await peers(s, "web", "api", "docs");
    for (const name of ["web", "api", "docs"]) await s.groups.join(name, "ui");
    const sent = await s.mail.send({ kind: "peer", row: web! }, { to: "#ui", text: "freeze main" });
    await s.mail.inbox(api!, { markRead: true });
    const retracted = await s.mail.retract(web!, sent.message.id);
    expect(retracted.copies!.map((c) => [c.to_name, c.state])).toEqual([
      ["api", "read"],
      ["docs", "retracted"],
    ]);
    expect(await s.mail.inbox(docs!, { markRead: false })).toEqual([]);
  });

  test("* reaches every other live session on this host once; with none, a clear error", async () => {
    await using s = inProcessServices();
    const [web, api, docs] = await peers(s, "web", "api", "docs");
    const sent = await s.mail.send({ kind: "operator" }, { to: "*", text: "lunch" });
    expect(sent.copies!.map((c) => [c.to_name, c.group])).toEqual([["api", "*"], ["docs", "*"], ["web", "*"]]);
    const fromWeb = await s.mail.send({ kind: "peer", row: web! }, { to: "*", text: "tests are green" });
    expect(fromWeb.copies!.map((c) => c.to_name)).toEqual(["api", "docs"]);
    await s.registry.unregister(api!);
    await s.registry.unregister(docs!);
    const err = (await thrown(s.mail.send({ kind: "peer", row: web! }, { to: "*", text: "anyone?" }))) as WireError;
    expect([err.code, err.field, err.message]).toEqual(["not_found", "to", "to: * reaches every other live session on this machine, and there is none"]);
  });

  test("unknown groups, a group of only the sender, a full group and too many groups are clear errors", async () => {
    await using s = inProcessServices();
    const [web] = await peers(s, "web");
    const fail = async (p: Promise<unknown>) => {
      const err = (await thrown(p)) as WireError;
      return [err.code, err.field, err.message];
    };
    expect(await fail(s.mail.send({ kind: "peer", row: web! }, { to: "#nobody", text: "hi" }))).toEqual([
      "not_found",
      "to",
      "to: no group #nobody (a group exists while someone is in it; join_group creates it)",
    ]);
    await s.groups.join("web", "solo");
    expect((await fail(s.mail.send({ kind: "peer", row: web! }, { to: "#solo", text: "hi" })))[2]).toBe("to: you are the only member of #solo");
    for (let i = 0; i < MAX_GROUP_MEMBERS; i++) await s.groups.join(`member-${i}`, "big");
    expect(await fail(s.groups.join("web", "big"))).toEqual(["conflict", "group", `group: #big has ${MAX_GROUP_MEMBERS} members, the most a group holds; use another group`]);
    for (let i = 1; i < MAX_GROUPS_PER_PEER; i++) await s.groups.join("web", `g-${i}`);
    expect((await fail(s.groups.join("web", "one-more")))[2]).toMatch(/^group: web is in 20 groups, the most a name may be in/);
    expect(await s.groups.join("web", "g-1")).toEqual({ groups: expect.any(Array), changed: false }); // already in: no error
  });

  test("a group send takes a token a copy from the sender's pace", async () => {
    await using s = inProcessServices({ sendRate: { perSecond: 1, burst: 3, maxWaitMs: 0 } });
    const [web] = await peers(s, "web", "a", "b", "c", "d");
    for (const name of ["web", "a", "b", "c", "d"]) await s.groups.join(name, "ui");
    const err = (await thrown(s.mail.send({ kind: "peer", row: web! }, { to: "#ui", text: "four copies, three tokens" }))) as WireError;
    expect(err.code).toBe("rate_limited");
    expect(await s.store.countByState()).toMatchObject({ queued: 0 }); // nothing stored
  });

  test("CLAUDE_PEERS_GROUPS (registration groups) joins a new session, not one coming back after a broker restart", async () => {
    await using s = inProcessServices();
    const first = await s.registry.register(registration("web", { groups: ["ui", "review"] }));
    expect(first.groups).toEqual(["review", "ui"]);
    await s.groups.leave("web", "review");
    const again = await s.registry.register(registration("web", { groups: ["ui", "review"], peer_id: first.peer_id, secret: first.secret }));
    expect(again.groups).toEqual(["ui"]);
  });
});

describe("loop damping", () => {
  test("the same text to the same recipient within the window is refused, naming the first; a resend of the same call is not", async () => {
    await using s = inProcessServices();
    const { askerRow } = await pair(s);
    const first = (await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "ready?", idempotency_key: "key-00000001" })).message;
    expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "ready?", idempotency_key: "key-00000001" })).message.id).toBe(first.id);
    const err = (await thrown(s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "ready?" }))) as WireError;
    expect([err.code, err.field]).toEqual(["conflict", "text"]);
    expect(err.message).toStartWith(`message: the same text went to api as ${first.id} (now queued) within the last 60 s, so this one was not sent.`);
    s.clock.advance(60_001);
    expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "ready?" })).message.id).not.toBe(first.id);
  });

  test("a runaway pair is held after the limit, both ways; a person releases it in order, or discards it", async () => {
    await using s = inProcessServices({ damping: { duplicateWindowMs: 60_000, pairLimit: 4, pairWindowMs: 600_000 } });
    const { askerRow, apiRow } = await pair(s);
    const socket = recordingSocket();
    await s.registry.attach(askerRow.id, socket);
    const states: string[] = [];
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 2 === 0 ? [askerRow, "api"] : [apiRow, "asker"];
      states.push((await s.mail.send({ kind: "peer", row: from }, { to, text: `thanks #${i}` })).message.state);
    }
    expect(states.map((st) => (st === "held" ? "held" : "sent"))).toEqual(["sent", "sent", "sent", "sent", "held", "held"]);
    expect(await s.mail.inbox(askerRow, { markRead: false })).toHaveLength(2); // thanks #1 and #3: held mail is not unread
    expect(socket.frames.map((f) => f.message.text)).toEqual(["thanks #1", "thanks #3"]);
    // Released by a person: queued again, in the order sent, and handed over (#5 pushed to asker).
    const released = await s.mail.release("api", "asker", false);
    expect(released.map((m) => [m.text, m.state])).toEqual([
      ["thanks #4", "queued"],
      ["thanks #5", "queued"],
    ]);
    expect(socket.frames.map((f) => f.message.text)).toEqual(["thanks #1", "thanks #3", "thanks #5"]);
    expect((await s.mail.inbox(apiRow, { markRead: false })).map((m) => m.text)).toEqual(["thanks #0", "thanks #2", "thanks #4"]);
    // The count starts again after a release.
    expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "one more" })).message.state).toBe("queued");
    expect(await s.mail.release("asker", "api", false)).toEqual([]);
  });

  test("a person writing to either peer starts the pair's count again; discard throws held mail away", async () => {
    await using s = inProcessServices({ damping: { duplicateWindowMs: 60_000, pairLimit: 2, pairWindowMs: 600_000 } });
    const { askerRow, apiRow } = await pair(s);
    await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "a" });
    await s.mail.send({ kind: "peer", row: apiRow }, { to: "asker", text: "b" });
    s.clock.advance(1);
    await s.mail.send({ kind: "operator" }, { to: "api", text: "carry on" });
    s.clock.advance(1);
    expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "c" })).message.state).toBe("queued");
    expect((await s.mail.send({ kind: "peer", row: apiRow }, { to: "asker", text: "d" })).message.state).toBe("queued");
    expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "e" })).message.state).toBe("held");
    expect((await s.mail.release("asker", apiRow.id, true)).map((m) => [m.text, m.state])).toEqual([["e", "discarded"]]);
    const err = (await thrown(s.mail.release("asker", "nobody", false))) as WireError;
    expect([err.code, err.field]).toEqual(["not_found", "b"]);
  });

  test("after a broker restart both rules answer from the store: the duplicate is refused, the pair still counted", async () => {
    using tmp = tempDir();
    const path = join(tmp.dir, "peers.db");
    const damping = { duplicateWindowMs: 60_000, pairLimit: 2, pairWindowMs: 600_000 };
    let regs: RegisterResult[];
    {
      await using s = inProcessServices({ store: openSqliteStore(path), damping });
      regs = [await s.registry.register(registration("asker")), await s.registry.register(registration("api", { parent_pid: 9 }))];
      const [asker, api] = await Promise.all(regs.map((r) => s.registry.authenticate(r.secret)));
      await s.mail.send({ kind: "peer", row: asker! }, { to: "api", text: "ready?" });
      await s.mail.send({ kind: "peer", row: api! }, { to: "asker", text: "yes" });
    }
    await using s = inProcessServices({ store: openSqliteStore(path), damping });
    const [asker] = await Promise.all(regs.map(async (r) => s.registry.authenticate((await s.registry.register(registration(r.name, { peer_id: r.peer_id, secret: r.secret }))).secret)));
    const err = (await thrown(s.mail.send({ kind: "peer", row: asker! }, { to: "api", text: "ready?" }))) as WireError;
    expect(err.message).toStartWith("message: the same text went to api as");
    expect((await s.mail.send({ kind: "peer", row: asker! }, { to: "api", text: "go" })).message.state).toBe("held");
  });

  test("limits of 0 turn damping off", async () => {
    await using s = inProcessServices({ damping: { duplicateWindowMs: 0, pairLimit: 0, pairWindowMs: 600_000 } });
    const { askerRow } = await pair(s);
    for (let i = 0; i < 40; i++) expect((await s.mail.send({ kind: "peer", row: askerRow }, { to: "api", text: "same" })).message.state).toBe("queued");
  });
});
