/**
 * The Store contract (shared/store/store.ts) as one function over a factory, so every backend runs the
 * same cases: `runStoreContract("sqlite", () => openSqliteStore(path))`, and later Postgres.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { textCrc, type HistoryQuery, type NewMessage, type PairGuard, type PeerRow, type Store } from "../../shared/store/store.ts";

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export function peerRow(id: string, over: Partial<PeerRow> = {}): PeerRow {
  return {
    id,
    secret_hash: `hash-of-${id}`,
    name: id.replace(/^p-/, ""),
    pid: 4242,
    parent_pid: 4241,
    cwd: `/work/${id}`,
    git_root: null,
    git_common_dir: null,
    git_branch: null,
    repo_key: null,
    host: "laptop",
    agent: "claude-code",
    summary: "",
    registered_at: T0,
    last_seen: T0,
    ...over,
  };
}

let counter = 0;
export function newMessage(over: Partial<NewMessage> = {}): NewMessage {
  counter++;
  return {
    id: `m-contract${counter}`,
    from_id: "p-alice",
    from_name: "alice",
    from_summary: "alice's summary",
    from_cwd: "/work/alice",
    to_id: "p-bob",
    to_name: "bob",
    text: `message ${counter}`,
    in_reply_to: null,
    send_key: null,
    reply_by: null,
    replaces: null,
    state: "queued",
    to_group: null,
    fanout_id: null,
    created_at: T0 + counter, // distinct and increasing, like a real clock
    expires_at: T0 + 7 * DAY,
    ...over,
  };
}

export function runStoreContract(name: string, open: () => Store | Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    /** Inserts messages in order and returns their ids. */
    const insert = async (...messages: Array<Partial<NewMessage>>) => {
      const ids: string[] = [];
      for (const m of messages) ids.push((await store.insertMessage(newMessage(m))).id);
      return ids;
    };
    const stateOf = async (id: string) => (await store.getMessage(id))?.state;

    describe("peers", () => {
      test("savePeer then getPeer returns every field; an unknown id is null", async () => {
        const row = peerRow("p-alice", {
          name: "alice-feature",
          cwd: "/home/ünïcode/my project",
          git_root: "/home/ünïcode/my project",
          git_common_dir: "/home/ünïcode/my project/.git",
          git_branch: "feature/x",
          repo_key: "github.com/acme/app",
          host: "dev-box.example.com",
          agent: "codex",
          summary: "refactoring auth ✓",
          pid: 99999,
          parent_pid: 99998,
          registered_at: T0 - DAY,
          last_seen: T0,
        });
        await store.savePeer(row);
        expect(await store.getPeer("p-alice")).toEqual(row);
        expect(await store.getPeer("p-nobody")).toBeNull();
      });

      test("a peer whose server did not name its parent keeps parent_pid null", async () => {
        await store.savePeer(peerRow("p-alice", { parent_pid: null }));
        expect((await store.getPeer("p-alice"))?.parent_pid).toBeNull();
      });

      test("savePeer on an existing id updates it in place", async () => {
        await store.savePeer(peerRow("p-alice"));
        const updated = peerRow("p-alice", { secret_hash: "new-hash", name: "alice-2", pid: 7, parent_pid: 6, cwd: "/elsewhere", agent: "gemini", summary: "new", last_seen: T0 + MINUTE });
        await store.savePeer(updated);
        expect(await store.getPeer("p-alice")).toMatchObject({ ...updated, registered_at: expect.any(Number) });
        expect(await store.peerBySecretHash("hash-of-p-alice")).toBeNull();
        expect((await store.peerBySecretHash("new-hash"))?.id).toBe("p-alice");
      });

      test("peerBySecretHash finds the peer; an unknown hash is null", async () => {
        await store.savePeer(peerRow("p-alice"));
        await store.savePeer(peerRow("p-bob"));
        expect((await store.peerBySecretHash("hash-of-p-bob"))?.id).toBe("p-bob");
        expect(await store.peerBySecretHash("hash-of-p-carol")).toBeNull();
      });

      test("peersByIds returns the known ones sorted by name, and copes with many ids", async () => {
        expect(await store.peersByIds([])).toEqual([]);
        await store.savePeer(peerRow("p-1", { name: "zed" }));
        await store.savePeer(peerRow("p-2", { name: "amy" }));
        await store.savePeer(peerRow("p-3", { name: "kim" }));
        expect((await store.peersByIds(["p-1", "p-unknown", "p-2"])).map((p) => p.name)).toEqual(["amy", "zed"]);
        const many = Array.from({ length: 1200 }, (_, i) => `p-x${i}`);
        expect((await store.peersByIds([...many, "p-3"])).map((p) => p.id)).toEqual(["p-3"]);
      });

      test("lastPeerNamed is the most recently seen peer that had the name", async () => {
        expect(await store.lastPeerNamed("bob")).toBeNull();
        await store.savePeer(peerRow("p-old", { name: "bob", last_seen: T0 }));
        await store.savePeer(peerRow("p-new", { name: "bob", last_seen: T0 + MINUTE }));
        await store.savePeer(peerRow("p-other", { name: "bobby", last_seen: T0 + DAY }));
        expect((await store.lastPeerNamed("bob"))?.id).toBe("p-new");
        await store.touchPeer("p-old", T0 + 2 * MINUTE);
        expect((await store.lastPeerNamed("bob"))?.id).toBe("p-old");
      });

      test("setSummary and touchPeer change only their field; unknown ids are ignored", async () => {
        await store.savePeer(peerRow("p-alice", { summary: "before" }));
        await store.setSummary("p-alice", "after: 日本語 ✓");
        await store.touchPeer("p-alice", T0 + DAY);
        expect(await store.getPeer("p-alice")).toEqual(peerRow("p-alice", { summary: "after: 日本語 ✓", last_seen: T0 + DAY }));
        await store.setSummary("p-nobody", "x");
        await store.touchPeer("p-nobody", T0);
        expect(await store.getPeer("p-nobody")).toBeNull();
      });
    });

    describe("messages", () => {
      test("insertMessage stores a queued message and returns it whole", async () => {
        const m = newMessage({ in_reply_to: "m-earlier", text: "a\u0000b ünïcödé 😀 \n\t\"quoted\"" });
        const row = await store.insertMessage(m);
        expect(row).toEqual({ ...m, seq: expect.any(Number), state: "queued", delivered_at: null, read_at: null, reply_status: null, retracted_at: null, released_at: null, text_crc: expect.any(Number), held_by: null });
        expect(await store.getMessage(m.id)).toEqual(row);
        expect(await store.getMessage("m-nothing")).toBeNull();
        const [other] = await insert({});
        expect((await store.getMessages([other!, m.id, "m-nothing", m.id])).map((r) => r.id).sort()).toEqual([m.id, other!].sort());
        expect(await store.getMessages([])).toEqual([]);
      });

      test("retract: only the sender's, only while unread; returns the row as it was, and the message is unread no more", async () => {
        const [queued, delivered, read] = await insert({}, {}, {});
        await store.markDelivered("p-bob", [delivered!], T0);
        await store.markRead("p-bob", [read!], T0);
        expect(await store.retract("p-bob", queued!, T0 + 5)).toEqual([]); // not the sender
        expect((await store.retract("p-alice", queued!, T0 + 5)).map((m) => m.state)).toEqual(["queued"]);
        expect((await store.retract("p-alice", delivered!, T0 + 5)).map((m) => m.state)).toEqual(["delivered"]);
        expect(await store.retract("p-alice", read!, T0 + 5)).toEqual([]); // already read
        expect(await store.retract("p-alice", queued!, T0 + 6)).toEqual([]); // once
        expect(await store.getMessage(queued!)).toMatchObject({ state: "retracted", retracted_at: T0 + 5 });
        expect((await store.unreadFor("p-bob")).map((m) => m.id)).toEqual([]);
        expect(await store.queuedFor("p-bob")).toEqual([]);
        expect(await store.countUnread("p-bob")).toBe(0);
      });

      test("awaited replies: awaiting until answered by the recipient, or taken as overdue once", async () => {
        const [answered, late, never, plain] = await insert({ reply_by: T0 + 1000 }, { reply_by: T0 + 1000 }, { reply_by: T0 + 2000 }, {});
        expect(await store.getMessage(answered!)).toMatchObject({ reply_by: T0 + 1000, reply_status: "awaiting" });
        expect((await store.getMessage(plain!))?.reply_status).toBeNull();
        expect(await store.markAnswered(answered!, { id: "p-alice", name: "alice" })).toBe(false); // the sender's own reply does not count
        expect(await store.markAnswered(answered!, { id: "p-bob", name: "bob" })).toBe(true);
        expect(await store.markAnswered(plain!, { id: "p-bob", name: "bob" })).toBe(false); // no reply was awaited

        expect(await store.takeOverdue(T0 + 999)).toEqual([]);
        expect((await store.takeOverdue(T0 + 1000)).map((m) => [m.id, m.reply_status])).toEqual([[late!, "overdue"]]);
        expect(await store.takeOverdue(T0 + 1000)).toEqual([]); // each once
        expect(await store.markAnswered(late!, { id: "p-x", name: "bob" })).toBe(true); // answered late, by name
        expect((await store.takeOverdue(T0 + 5000)).map((m) => m.id)).toEqual([never!]);
        expect((await store.getMessage(late!))?.reply_status).toBe("answered");
      });

      test("a 64 KiB text and a mailbox message (no recipient id) round-trip", async () => {
        const text = "😀".repeat(16 * 1024);
        const [big, mailbox] = await insert({ text }, { to_id: null, to_name: "carol" });
        expect((await store.getMessage(big!))?.text).toBe(text);
        expect(await store.getMessage(mailbox!)).toMatchObject({ to_id: null, to_name: "carol", state: "queued" });
      });

      test("a message id is unique", async () => {
        const m = newMessage();
        await store.insertMessage(m);
        await expect(store.insertMessage({ ...m, text: "again" })).rejects.toThrow();
        expect((await store.getMessage(m.id))?.text).toBe(m.text);
      });

      test("messageBySendKey finds a sender's message by its idempotency key, and only that sender's", async () => {
        const m = newMessage({ send_key: "key-12345678" });
        await store.insertMessage(m);
        expect((await store.messageBySendKey(m.from_id, "key-12345678"))?.id).toBe(m.id);
        expect(await store.messageBySendKey("p-someone-else", "key-12345678")).toBeNull();
        expect(await store.messageBySendKey(m.from_id, "key-other")).toBeNull();
        await expect(store.insertMessage(newMessage({ send_key: "key-12345678" }))).rejects.toThrow();
        // Messages without a key never collide.
        await insert({}, {});
      });

      test("markDelivered moves only queued messages addressed to the peer", async () => {
        const [queued, toRead, toOther] = await insert({}, {}, { to_id: "p-carol", to_name: "carol" });
        await store.markRead("p-bob", [toRead!], T0 + 1);
        const changed = await store.markDelivered("p-bob", [queued!, toRead!, toOther!, "m-unknown"], T0 + 2);
        expect(changed).toEqual([queued!]);
        expect(await store.getMessage(queued!)).toMatchObject({ state: "delivered", delivered_at: T0 + 2, read_at: null });
        expect(await stateOf(toRead!)).toBe("read");
        expect(await store.getMessage(toOther!)).toMatchObject({ state: "queued", delivered_at: null });
        // Idempotent: a second ack (a re-push after reconnect) changes nothing.
        expect(await store.markDelivered("p-bob", [queued!], T0 + 3)).toEqual([]);
        expect((await store.getMessage(queued!))?.delivered_at).toBe(T0 + 2);
      });

      test("markRead moves queued or delivered messages addressed to the peer", async () => {
        const [queued, delivered, toOther] = await insert({}, {}, { to_id: "p-carol", to_name: "carol" });
        await store.markDelivered("p-bob", [delivered!], T0 + 1);
        const changed = await store.markRead("p-bob", [queued!, delivered!, toOther!, "m-unknown"], T0 + 5);
        expect(changed.toSorted()).toEqual([queued!, delivered!].toSorted());
        // Read implies delivered: a queued message read directly gets both times.
        expect(await store.getMessage(queued!)).toMatchObject({ state: "read", delivered_at: T0 + 5, read_at: T0 + 5 });
        expect(await store.getMessage(delivered!)).toMatchObject({ state: "read", delivered_at: T0 + 1, read_at: T0 + 5 });
        expect(await store.getMessage(toOther!)).toMatchObject({ state: "queued", read_at: null });
        expect(await store.markRead("p-bob", [queued!], T0 + 9)).toEqual([]);
        expect(await store.markDelivered("p-bob", [queued!], T0 + 9)).toEqual([]);
      });

      test("queuedFor and unreadFor list the peer's messages oldest first", async () => {
        const [m1, m2, m3, m4, other] = await insert({ created_at: T0 }, { created_at: T0 }, { created_at: T0 + 1 }, { created_at: T0 + 2 }, { to_id: "p-carol", to_name: "carol" });
        await store.markDelivered("p-bob", [m2!], T0 + 10);
        await store.markRead("p-bob", [m3!], T0 + 10);
        expect((await store.queuedFor("p-bob")).map((m) => m.id)).toEqual([m1!, m4!]);
        expect((await store.unreadFor("p-bob")).map((m) => m.id)).toEqual([m1!, m2!, m4!]);
        expect(await store.countUnread("p-bob")).toBe(3);
        expect((await store.unreadFor("p-carol")).map((m) => m.id)).toEqual([other!]);
        expect(await store.queuedFor("p-nobody")).toEqual([]);
        expect(await store.countUnread("p-nobody")).toBe(0);
      });

      test("unreadCountsOf counts many peers' unread and queued mail in one call, as unreadCounts does one by one", async () => {
        const [m1, , m3] = await insert({}, {}, {}, { to_id: "p-carol", to_name: "carol" });
        await store.markDelivered("p-bob", [m1!], T0 + 10);
        await store.markRead("p-bob", [m3!], T0 + 10);
        const counts = await store.unreadCountsOf(["p-bob", "p-carol", "p-nobody"]);
        expect(Object.fromEntries(counts)).toEqual({ "p-bob": { unread: 2, queued: 1 }, "p-carol": { unread: 1, queued: 1 } });
        expect(counts.get("p-bob")).toEqual(await store.unreadCounts("p-bob"));
        expect((await store.unreadCountsOf([])).size).toBe(0);
      });

      test("countWaitingNamed counts the unread and held mail addressed to a name, whichever session it waits for", async () => {
        const [m1] = await insert({ to_id: null }, { to_id: "p-bob" }, { to_id: "p-old-bob" }, { to_id: "p-carol", to_name: "carol" });
        expect(await store.countWaitingNamed("bob")).toBe(3);
        await store.markRead("p-bob", [m1!], T0 + 10); // addressed to no id: not markable by p-bob
        await store.claimMailbox("bob", "p-bob", new Set(), T0 + 10);
        await store.markRead("p-bob", [m1!], T0 + 11);
        expect(await store.countWaitingNamed("bob")).toBe(2);
        await insert({ to_id: null, state: "held", held_by: "pause" }, { to_id: "p-bob", state: "held" });
        expect(await store.countWaitingNamed("bob")).toBe(4);
        expect(await store.countWaitingNamed("nobody")).toBe(0);
      });

      test("countWaiting counts a peer's unread and held mail (the unread cap), countUnread only what it can read", async () => {
        const [, delivered, read, , , retracted] = await insert({}, {}, {}, { state: "held" }, { state: "held", held_by: "pause" }, {});
        await insert({ to_id: "p-carol", to_name: "carol", state: "held" });
        await store.markDelivered("p-bob", [delivered!], T0 + 10);
        await store.markRead("p-bob", [read!], T0 + 10);
        await store.retract("p-alice", retracted!, T0 + 10);
        expect(await store.countWaiting("p-bob")).toBe(4);
        expect(await store.countUnread("p-bob")).toBe(2);
        await store.releaseHeld("alice", "bob", T0 + 20, true, T0 + DAY); // discarded: no longer waiting
        expect(await store.countWaiting("p-bob")).toBe(3);
        expect(await store.countWaiting("p-nobody")).toBe(0);
      });

      test("expired messages are neither queued, unread nor markable", async () => {
        const [m] = await insert({ expires_at: T0 + MINUTE });
        await store.prune({ now: T0 + 2 * MINUTE, keepReadMs: 7 * DAY, keepPeersMs: 30 * DAY, liveIds: new Set() });
        expect(await stateOf(m!)).toBe("expired");
        expect(await store.queuedFor("p-bob")).toEqual([]);
        expect(await store.countUnread("p-bob")).toBe(0);
        expect(await store.markDelivered("p-bob", [m!], T0)).toEqual([]);
        expect(await store.markRead("p-bob", [m!], T0)).toEqual([]);
      });
    });

    describe("claimMailbox", () => {
      const NOW = T0 + DAY;
      const mailbox = (over: Partial<NewMessage> = {}) => ({ to_name: "bob", to_id: null, created_at: T0, expires_at: T0 + 7 * DAY, ...over });

      test("moves a name's mail never shown, from absent or dead recipients, to the new peer", async () => {
        const [neverSet, dead] = await insert(mailbox(), mailbox({ to_id: "p-dead" }));
        expect(await store.claimMailbox("bob", "p-new", new Set(["p-someone-else"]), NOW)).toBe(2);
        for (const id of [neverSet!, dead!]) {
          expect(await store.getMessage(id)).toMatchObject({ to_id: "p-new", to_name: "bob", state: "queued", delivered_at: null });
        }
        expect((await store.queuedFor("p-new")).map((m) => m.id)).toEqual([neverSet!, dead!]);
      });

      test("mailboxRecipients names each session the movable mail is set for, once: only those need a liveness check", async () => {
        const [, , , shown] = await insert(mailbox(), mailbox({ to_id: "p-dead" }), mailbox({ to_id: "p-dead" }), mailbox({ to_id: "p-shown" }), mailbox({ to_id: "p-old", expires_at: NOW }), mailbox({ to_name: "bobby", to_id: "p-other" }));
        await store.markDelivered("p-shown", [shown!], T0 + 1);
        expect(await store.mailboxRecipients("bob", NOW)).toEqual(["p-dead"]);
        expect(await store.mailboxRecipients("nobody", NOW)).toEqual([]);
      });

      test("leaves mail a dead session was shown (delivered, not read) with that session", async () => {
        const [shown] = await insert(mailbox({ to_id: "p-dead" }));
        await store.markDelivered("p-dead", [shown!], T0 + 1);
        expect(await store.claimMailbox("bob", "p-new", new Set(), NOW)).toBe(0);
        expect(await store.getMessage(shown!)).toMatchObject({ to_id: "p-dead", state: "delivered" });
        expect(await store.queuedFor("p-new")).toEqual([]);
      });

      test("leaves mail whose recipient is live, read or expired mail, other names, and its own mail", async () => {
        const [live, read, expired, otherName, own] = await insert(
          mailbox({ to_id: "p-live" }),
          mailbox({ to_id: "p-dead" }),
          mailbox({ expires_at: NOW }),
          mailbox({ to_name: "bobby" }),
          mailbox({ to_id: "p-new" }),
        );
        await store.markRead("p-dead", [read!], T0 + 1);
        expect(await store.claimMailbox("bob", "p-new", new Set(["p-live", "p-new"]), NOW)).toBe(0);
        expect((await store.getMessage(live!))?.to_id).toBe("p-live");
        expect(await store.getMessage(read!)).toMatchObject({ to_id: "p-dead", state: "read" });
        expect((await store.getMessage(expired!))?.to_id).toBeNull();
        expect((await store.getMessage(otherName!))?.to_id).toBeNull();
        expect(await store.getMessage(own!)).toMatchObject({ to_id: "p-new", state: "queued" });
      });
    });

    describe("history and counts", () => {
      test("history is newest first, limited, and filters on sender or recipient id or name", async () => {
        const [a2b, b2a, c2b, a2c] = await insert(
          {},
          { from_id: "p-bob", from_name: "bob", to_id: "p-alice", to_name: "alice" },
          { from_id: "p-carol", from_name: "carol" },
          { to_id: "p-carol", to_name: "carol" },
        );
        const ids = async (q: Partial<HistoryQuery>) => (await store.history({ limit: 10, ...q })).map((m) => m.id);
        expect(await ids({})).toEqual([a2c!, c2b!, b2a!, a2b!]);
        expect(await ids({ limit: 2 })).toEqual([a2c!, c2b!]);
        expect(await ids({ peer: "p-carol" })).toEqual([a2c!, c2b!]);
        expect(await ids({ peer: "carol" })).toEqual([a2c!, c2b!]);
        expect(await ids({ peer: "alice" })).toEqual([a2c!, b2a!, a2b!]);
        expect(await ids({ peer: "p-bob", limit: 1 })).toEqual([c2b!]);
        expect(await ids({ peer: "nobody" })).toEqual([]);
      });

      test("history filters mailbox mail (no recipient id) by name", async () => {
        const [m] = await insert({ to_id: null, to_name: "dora" });
        expect((await store.history({ limit: 10, peer: "dora" })).map((x) => x.id)).toEqual([m!]);
      });

      test("history pages back from a cursor, and filters on group and on text (any case)", async () => {
        const [one, two, three, four] = await insert(
          { text: "Deploy the API" },
          { text: "unrelated", to_group: "ui", fanout_id: "m-x" },
          { text: "the api is DEPLOYED", to_group: "ui", fanout_id: "m-y" },
          { text: "100% done_" },
        );
        const page = async (q: Partial<HistoryQuery>) => (await store.history({ limit: 10, ...q })).map((m) => m.id);
        const all = await store.history({ limit: 2 });
        expect(all.map((m) => m.id)).toEqual([four!, three!]);
        expect(await page({ limit: 2, beforeSeq: all[1]!.seq })).toEqual([two!, one!]);
        expect(await page({ beforeSeq: (await store.history({ limit: 4 }))[3]!.seq })).toEqual([]);
        expect(await page({ group: "ui" })).toEqual([three!, two!]);
        expect(await page({ text: "deploy" })).toEqual([three!, one!]);
        expect(await page({ text: "deploy", group: "ui" })).toEqual([three!]);
        // No pattern characters: % and _ are only themselves.
        expect(await page({ text: "% done_" })).toEqual([four!]);
        expect(await page({ text: "%" })).toEqual([four!]);
        expect(await page({ text: "_" })).toEqual([four!]);
      });

      test("a paused name's mail is held until it is resumed; resume releases only what the pause held, oldest first", async () => {
        expect(await store.paused()).toEqual(new Map());
        const [byPair] = await insert({ state: "held" }); // held by the runaway pair rule
        expect((await store.getMessage(byPair!))?.held_by).toBe("pair");
        expect(await store.pause("bob", T0)).toBe(true);
        expect(await store.pause("bob", T0 + 1)).toBe(false); // paused already: since T0
        expect(await store.paused()).toEqual(new Map([["bob", T0]]));
        expect(await store.paused("bob")).toEqual(new Map([["bob", T0]]));
        expect(await store.paused("alice")).toEqual(new Map());
        const [a, b] = await insert({ state: "held", held_by: "pause" }, { state: "held", held_by: "pause" });
        const [other] = await insert({ state: "held", held_by: "pause", to_id: "p-carol", to_name: "carol" });
        // The pair rule counts only the pair's own held mail.
        expect((await store.pairActivity({ a: "alice", b: "bob", since: 0, upTo: 10 })).held).toBe(true);
        const released = await store.resume("bob", T0 + 100, T0 + 100 + DAY);
        expect(released!.map((m) => [m.id, m.state, m.expires_at, m.held_by])).toEqual([
          [a!, "queued", T0 + 100 + DAY, null],
          [b!, "queued", T0 + 100 + DAY, null],
        ]);
        expect(await stateOf(byPair!)).toBe("held");
        expect(await stateOf(other!)).toBe("held");
        expect(await store.resume("bob", T0 + 101, T0 + 101 + DAY)).toBeNull();
        expect(await store.paused()).toEqual(new Map());
        // A pair release leaves a pause's mail alone, and a pause's mail does not make a pair held.
        expect((await store.releaseHeld("alice", "carol", T0 + 102, false, T0 + DAY)).map((m) => m.id)).toEqual([]);
        expect((await store.pairActivity({ a: "alice", b: "carol", since: 0, upTo: 10 })).held).toBe(false);
        // Mail a send stored held just as a resume ran is freed by releasePauseHeld.
        expect((await store.releasePauseHeld("carol", T0 + 103, T0 + DAY)).map((m) => [m.id, m.state])).toEqual([[other!, "queued"]]);
      });

      test("countByState counts every state, zero included", async () => {
        expect(await store.countByState()).toEqual({ queued: 0, delivered: 0, read: 0, expired: 0, retracted: 0, held: 0, discarded: 0 });
        const [, delivered, read, , retracted] = await insert({}, {}, {}, { expires_at: T0 }, {});
        await store.markDelivered("p-bob", [delivered!], T0);
        await store.markRead("p-bob", [read!], T0);
        await store.retract("p-alice", retracted!, T0);
        await store.prune({ now: T0 + 1, keepReadMs: 7 * DAY, keepPeersMs: 30 * DAY, liveIds: new Set() });
        expect(await store.countByState()).toEqual({ queued: 1, delivered: 1, read: 1, expired: 1, retracted: 1, held: 0, discarded: 0 });
      });
    });

    describe("group sends", () => {
      const copies = (fanout: string, ...to: string[]) =>
        to.map((name, i) => newMessage({ id: i === 0 ? fanout : `${fanout}-${i}`, to_id: `p-${name}`, to_name: name, to_group: "ui", fanout_id: fanout, text: "to the group" }));

      test("insertMessages stores every copy or none; copiesOf lists them in order", async () => {
        const rows = await store.insertMessages(copies("m-fan1", "bob", "carol", "dave"));
        expect(rows.map((r) => [r.id, r.to_name, r.to_group, r.fanout_id, r.state])).toEqual([
          ["m-fan1", "bob", "ui", "m-fan1", "queued"],
          ["m-fan1-1", "carol", "ui", "m-fan1", "queued"],
          ["m-fan1-2", "dave", "ui", "m-fan1", "queued"],
        ]);
        expect((await store.copiesOf("m-fan1")).map((r) => r.id)).toEqual(["m-fan1", "m-fan1-1", "m-fan1-2"]);
        // The third copy's id is taken: the whole send fails and nothing of it is stored.
        const clash = [...copies("m-fan2", "bob", "carol"), newMessage({ id: "m-fan1", fanout_id: "m-fan2" })];
        await expect(store.insertMessages(clash)).rejects.toThrow();
        expect(await store.copiesOf("m-fan2")).toEqual([]);
        expect(await store.getMessage("m-fan2")).toBeNull();
      });

      test("retracting any copy retracts every copy of the sender's that is still unread", async () => {
        await store.insertMessages(copies("m-fan3", "bob", "carol", "dave"));
        await store.markRead("p-carol", ["m-fan3-1"], T0);
        expect(await store.retract("p-bob", "m-fan3", T0)).toEqual([]); // not the sender
        const before = await store.retract("p-alice", "m-fan3-2", T0 + 1);
        expect(before.map((m) => [m.id, m.state])).toEqual([
          ["m-fan3", "queued"],
          ["m-fan3-2", "queued"],
        ]);
        expect((await store.copiesOf("m-fan3")).map((m) => m.state)).toEqual(["retracted", "read", "retracted"]);
      });
    });

    describe("loop damping", () => {
      test("recentSends: the sender's messages since a time, not retracted, oldest first, with the text's CRC", async () => {
        const [first, second, , , retracted] = await insert(
          { text: "deploy?", created_at: T0 + 10 },
          { id: "m-fanfirst", text: "deploy?", to_group: "ui", fanout_id: "m-fanfirst", created_at: T0 + 20 },
          { id: "m-fancopy", text: "deploy?", to_group: "ui", to_name: "carol", fanout_id: "m-fanfirst", created_at: T0 + 20 }, // a group send counts once
          { text: "deploy?", from_id: "p-carol", created_at: T0 + 30 },
          { text: "never mind", created_at: T0 + 40 },
        );
        await store.retract("p-alice", retracted!, T0 + 50);
        const sends = await store.recentSends("p-alice", T0);
        expect(sends.map((r) => [r.id, r.to_name, r.to_group, r.created_at])).toEqual([
          [first!, "bob", null, T0 + 10],
          [second!, "bob", "ui", T0 + 20],
        ]);
        expect(sends[0]!.text_crc).toBe(textCrc("deploy?"));
        expect((await store.recentSends("p-alice", T0 + 10)).map((r) => r.id)).toEqual([second!]); // after `since`, not at it
      });

      test("pairActivity counts peer mail each way since the window, a person's message or a release", async () => {
        const pair = { a: "alice", b: "bob", since: T0, upTo: 100 };
        await insert(
          { created_at: T0 + 1 },
          { from_id: "p-bob", from_name: "bob", to_id: "p-alice", to_name: "alice", created_at: T0 + 2 },
          { from_id: "p-alice", to_name: "carol", to_id: "p-carol", created_at: T0 + 3 }, // another pair
          { from_id: "claude-peers", from_name: "claude-peers", to_name: "bob", created_at: T0 + 4 }, // a notice, not a peer
        );
        expect(await store.pairActivity(pair)).toEqual({ fromA: [T0 + 1], fromB: [T0 + 2], held: false });
        expect(await store.pairActivity({ ...pair, since: T0 + 1 })).toEqual({ fromA: [], fromB: [T0 + 2], held: false });
        // A person writes to one of them: the count starts again after it.
        await insert({ from_id: "cli", from_name: "cli", to_id: "p-bob", to_name: "bob", created_at: T0 + 5 }, { created_at: T0 + 6 }, { created_at: T0 + 7 });
        expect(await store.pairActivity(pair)).toEqual({ fromA: [T0 + 6, T0 + 7], fromB: [], held: false });
        const [held1, held2] = await insert({ state: "held", created_at: T0 + 8 }, { state: "held", from_id: "p-bob", from_name: "bob", to_id: "p-alice", to_name: "alice", created_at: T0 + 9 });
        expect(await store.pairActivity(pair)).toEqual({ fromA: [T0 + 6, T0 + 7, T0 + 8], fromB: [T0 + 9], held: true });
        expect(await store.pairActivity({ ...pair, a: "bob", b: "alice" })).toEqual({ fromA: [T0 + 9], fromB: [T0 + 6, T0 + 7, T0 + 8], held: true }); // either way round
        expect(await store.pairActivity({ ...pair, upTo: 2 })).toEqual({ fromA: [T0 + 7, T0 + 8], fromB: [T0 + 9], held: true }); // the newest, up to the limit each way

        const released = await store.releaseHeld("bob", "alice", T0 + 100, false, T0 + 100 + DAY);
        // Queued again, with a fresh mailbox time however long they were held.
        expect(released.map((m) => [m.id, m.state, m.released_at, m.expires_at])).toEqual([
          [held1!, "queued", T0 + 100, T0 + 100 + DAY],
          [held2!, "queued", T0 + 100, T0 + 100 + DAY],
        ]);
        expect(await store.pairActivity(pair)).toEqual({ fromA: [], fromB: [], held: false }); // released: counted afresh
        expect(await store.releaseHeld("alice", "bob", T0 + 101, false, T0 + 101 + DAY)).toEqual([]);
      });

      test("insertMessages with a pair guard decides each queued copy from its pair's activity, the sends before it included", async () => {
        // Held once the pair holds two messages: enough to see that each decision counts the ones stored before it.
        const guard = (...pairs: Array<readonly [string, string] | null>): PairGuard => ({
          pairs,
          since: T0,
          upTo: 10,
          holds: (a) => a.held || a.fromA.length + a.fromB.length >= 2,
        });
        const toBob = (id: string, over: Partial<NewMessage> = {}) => newMessage({ id, to_id: "p-bob", to_name: "bob", ...over });
        const fromBob = (id: string) => newMessage({ id, from_id: "p-bob", from_name: "bob", to_id: "p-alice", to_name: "alice" });
        // Sends in flight at once, from both sides: each is decided after the one before it is stored.
        const rows = await Promise.all([
          store.insertMessages([toBob("m-g1")], guard(["alice", "bob"])),
          store.insertMessages([fromBob("m-g2")], guard(["bob", "alice"])),
          store.insertMessages([toBob("m-g3")], guard(["alice", "bob"])),
          store.insertMessages([fromBob("m-g4")], guard(["bob", "alice"])),
        ]);
        expect(rows.flat().map((r) => [r.state, r.held_by]).sort()).toEqual([
          ["held", "pair"],
          ["held", "pair"],
          ["queued", null],
          ["queued", null],
        ]);
        // A copy with no pair, or held already (by a pause), is stored as it is; a group's copies each by their own pair.
        const group = await store.insertMessages(
          [toBob("m-g5", { fanout_id: "m-g5" }), newMessage({ id: "m-g6", to_id: "p-carol", to_name: "carol", fanout_id: "m-g5" }), newMessage({ id: "m-g7", to_id: "p-dave", to_name: "dave", fanout_id: "m-g5", state: "held", held_by: "pause" })],
          guard(["alice", "bob"], ["alice", "carol"], ["alice", "dave"]),
        );
        expect(group.map((r) => [r.id, r.state, r.held_by])).toEqual([
          ["m-g5", "held", "pair"],
          ["m-g6", "queued", null],
          ["m-g7", "held", "pause"],
        ]);
        expect((await store.insertMessages([toBob("m-g8")], guard(null)))[0]!.state).toBe("queued");
      });

      test("releaseHeld with discard throws the held mail away; held mail is not unread and cannot be read", async () => {
        const [held] = await insert({ state: "held" });
        expect(await store.unreadFor("p-bob")).toEqual([]);
        expect(await store.queuedFor("p-bob")).toEqual([]);
        expect(await store.markRead("p-bob", [held!], T0)).toEqual([]);
        expect((await store.releaseHeld("alice", "bob", T0 + 1, true, T0 + 1 + DAY)).map((m) => m.state)).toEqual(["discarded"]);
        expect(await store.countByState()).toMatchObject({ held: 0, discarded: 1 });
      });
    });

    describe("groups", () => {
      test("joinGroup: joined, already, or full at the bound; leaveGroup; memberships and members sorted", async () => {
        expect(await store.joinGroup("ui", "web", T0, 2)).toBe("joined");
        expect(await store.joinGroup("ui", "web", T0, 2)).toBe("already");
        expect(await store.joinGroup("ui", "api", T0, 2)).toBe("joined");
        expect(await store.joinGroup("ui", "docs", T0, 2)).toBe("full");
        expect(await store.joinGroup("review", "web", T0, 2)).toBe("joined");
        expect(await store.groupMembers("ui")).toEqual(["api", "web"]);
        expect(await store.memberships()).toEqual([
          { group_name: "review", peer_name: "web" },
          { group_name: "ui", peer_name: "api" },
          { group_name: "ui", peer_name: "web" },
        ]);
        expect(await store.memberships(["web"])).toEqual([
          { group_name: "review", peer_name: "web" },
          { group_name: "ui", peer_name: "web" },
        ]);
        expect(await store.leaveGroup("ui", "web")).toBe(true);
        expect(await store.leaveGroup("ui", "web")).toBe(false);
        expect(await store.groupMembers("ui")).toEqual(["api"]);
        expect(await store.groupMembers("nobody")).toEqual([]);
      });

      test("two joins racing for a group's last place: one gets it", async () => {
        await store.joinGroup("ui", "web", T0, 2);
        const outcomes = await Promise.all([store.joinGroup("ui", "api", T0, 2), store.joinGroup("ui", "docs", T0, 2)]);
        expect(outcomes.sort()).toEqual(["full", "joined"]);
        expect(await store.groupMembers("ui")).toHaveLength(2);
      });
    });

    describe("prune", () => {
      const NOW = T0 + 30 * DAY;
      const limits = { now: NOW, keepReadMs: 7 * DAY, keepPeersMs: 14 * DAY };

      test("expires unread mail past expires_at and deletes old read and expired messages", async () => {
        const [unreadDue, deliveredDue, unreadLater, oldRead, recentRead, oldQueued] = await insert(
          { created_at: NOW - DAY, expires_at: NOW },
          { created_at: NOW - DAY, expires_at: NOW - 1 },
          { created_at: NOW - DAY, expires_at: NOW + 1 },
          { created_at: NOW - 8 * DAY },
          { created_at: NOW - DAY },
          { created_at: NOW - 20 * DAY, expires_at: NOW + 30 * DAY },
        );
        await store.markDelivered("p-bob", [deliveredDue!], NOW - DAY);
        await store.markRead("p-bob", [oldRead!, recentRead!], NOW - DAY);

        const first = await store.prune({ ...limits, liveIds: new Set() });
        expect(first).toMatchObject({ expired: 2, deletedMessages: 1, deletedPeers: 0 });
        expect(first.expiredMessages.map((m) => m.state)).toEqual(["expired", "expired"]);
        expect(await store.getMessage(unreadDue!)).toMatchObject({ state: "expired" });
        expect(await store.getMessage(deliveredDue!)).toMatchObject({ state: "expired" });
        expect(await stateOf(unreadLater!)).toBe("queued");
        expect(await store.getMessage(oldRead!)).toBeNull();
        expect(await stateOf(recentRead!)).toBe("read");
        expect(await stateOf(oldQueued!)).toBe("queued"); // old, but still waiting to be read

        // A week on, unreadLater has expired too, and every expired or read one is old enough to go.
        const later = await store.prune({ ...limits, now: NOW + 7 * DAY, liveIds: new Set() });
        expect(later).toMatchObject({ expired: 1, deletedMessages: 4, deletedPeers: 0 });
        expect(later.expiredMessages).toHaveLength(1);
        expect((await store.history({ limit: 100 })).map((m) => m.id)).toEqual([oldQueued!]);
      });

      test("expires held mail past expires_at, by a pair or a pause, as unread mail; released mail has its fresh time", async () => {
        const [pairDue, pauseDue, heldLater, released] = await insert(
          { to_name: "bob", state: "held", created_at: NOW - DAY, expires_at: NOW },
          { to_name: "carol", to_id: "p-carol", state: "held", held_by: "pause", created_at: NOW - DAY, expires_at: NOW - 1 },
          { to_name: "carol", to_id: "p-carol", state: "held", held_by: "pause", created_at: NOW - DAY, expires_at: NOW + 1 },
          { from_name: "dave", from_id: "p-dave", to_name: "erin", to_id: "p-erin", state: "held", created_at: NOW - DAY, expires_at: NOW },
        );
        await store.releaseHeld("dave", "erin", NOW - 1, false, NOW + DAY);
        const r = await store.prune({ ...limits, liveIds: new Set() });
        expect(r.expiredMessages.map((m) => [m.id, m.state, m.held_by])).toEqual([
          [pairDue!, "expired", "pair"],
          [pauseDue!, "expired", "pause"],
        ]);
        expect(await stateOf(heldLater!)).toBe("held");
        expect(await stateOf(released!)).toBe("queued");
        expect(await store.countWaiting("p-bob")).toBe(0);
        expect((await store.pairActivity({ a: "alice", b: "bob", since: 0, upTo: 30 })).held).toBe(false);
        expect((await store.releasePauseHeld("carol", NOW + 2, NOW + DAY)).map((m) => m.id)).toEqual([heldLater!]);
      });

      test("deletes peers not seen for keepPeersMs, but never a live one", async () => {
        await store.savePeer(peerRow("p-gone", { last_seen: NOW - 15 * DAY }));
        await store.savePeer(peerRow("p-live", { last_seen: NOW - 15 * DAY }));
        await store.savePeer(peerRow("p-recent", { last_seen: NOW - 13 * DAY }));
        expect(await store.prune({ ...limits, liveIds: new Set(["p-live"]) })).toEqual({ expired: 0, expiredMessages: [], deletedMessages: 0, deletedPeers: 1 });
        expect(await store.getPeer("p-gone")).toBeNull();
        expect(await store.getPeer("p-live")).not.toBeNull();
        expect(await store.getPeer("p-recent")).not.toBeNull();
      });

      test("a name's groups go with the last of its peers; retracted and discarded mail goes when old", async () => {
        await store.savePeer(peerRow("p-gone", { last_seen: NOW - 15 * DAY }));
        await store.savePeer(peerRow("p-stays", { last_seen: NOW - DAY }));
        await store.joinGroup("ui", "gone", T0, 100);
        await store.joinGroup("ui", "stays", T0, 100);
        const [retracted, held] = await insert({ created_at: NOW - 8 * DAY }, { created_at: NOW - 8 * DAY, state: "held" });
        await store.retract("p-alice", retracted!, NOW - 8 * DAY);
        await store.releaseHeld("alice", "bob", NOW - 8 * DAY, true, NOW);
        await store.prune({ ...limits, liveIds: new Set() });
        expect(await store.groupMembers("ui")).toEqual(["stays"]);
        expect(await store.getMessage(retracted!)).toBeNull();
        expect(await store.getMessage(held!)).toBeNull();
      });
    });
  });
}
