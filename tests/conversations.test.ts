/**
 * Conversations between real sessions, written once and run on one machine (SQLite) and across two
 * hosts sharing a PostgreSQL: groups that span hosts, a member offline then back, a wait ended by
 * a reply from another host, a runaway pair held and released in order, duplicates refused, a
 * retraction racing its push, and exactly one copy each when the broker is killed mid fan-out.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { messageState, runningBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { sharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { listedPeers, sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { killAndConfirm, waitFor } from "./helpers/wait.ts";
import { openWorld, type World } from "./helpers/world.ts";

/** Small enough to reach in a test: the fifth message between two peers is held. */
const LOOP_LIMIT = 4;
const DAMPING_ENV = { CLAUDE_PEERS_LOOP_LIMIT: String(LOOP_LIMIT) };

/** Where the sessions run: `here` holds the sender, `there` the other members (the same world on SQLite). */
interface Machines {
  here: World;
  there: World;
  close(): Promise<void>;
}

function runConversations(label: string, machines: () => Promise<Machines>, run = describe): void {
  run(`conversations: ${label}`, () => {
    let m: Machines;
    let web: TestServer;
    let api: TestServer;

    beforeAll(async () => {
      m = await machines();
      [web, api] = await Promise.all([
        m.here.start({ name: "web", env: { CLAUDE_PEERS_GROUPS: "ui, review" } }),
        m.there.start({ name: "api" }),
      ]);
      await Promise.all([whoami(web), whoami(api)]);
    });

    afterAll(() => m?.close());

    /** A person writes to web and api (then they read it): their pair's count starts again. */
    let spoken = 0;
    async function personSpeaks(): Promise<void> {
      spoken++; // a new text each time: the same one within a minute is a duplicate
      for (const to of ["web", "api"]) expect((await runCli(m.here.t, ["send", to, `carry on, ${to} (${spoken})`])).code).toBe(0);
      await Promise.all([web.call("check_messages"), api.call("check_messages")]);
    }

    test("a group spans hosts: joined by CLAUDE_PEERS_GROUPS and join_group, shown by whoami, list_peers and the CLI", async () => {
      expect((await web.call("whoami")).text).toContain("groups: #review #ui");
      expect(await api.call("join_group", { group: "ui" })).toEqual({ text: "Joined #ui. Your groups: #ui.", isError: false });
      expect(await api.call("join_group", { group: "ui" })).toEqual({ text: "Already in #ui. Your groups: #ui.", isError: false });
      const bad = await api.call("join_group", { group: "UI Team" });
      expect(bad.isError).toBe(true);
      expect(bad.text).toContain("group");
      await waitFor(async () => (await web.call("list_peers", { scope: "network" })).text.includes("in #ui"), "api listed with its group");
      const groups = await runCli(m.here.t, ["groups", "--json"]);
      expect(groups.code).toBe(0);
      expect(JSON.parse(groups.stdout).groups.map((g: { name: string; members: Array<{ name: string }> }) => [g.name, g.members.map((x) => x.name)])).toEqual([
        ["review", ["web"]],
        ["ui", ["api", "web"]],
      ]);
    });

    test("#group: each member but the sender gets one copy, with meta group; a member offline gets it when it is back", async () => {
      const docs = await m.there.start({ name: "docs" });
      await whoami(docs);
      await docs.call("join_group", { group: "ui" });
      await docs.stop(); // its name stays in the group; its copy waits in the name's mailbox
      await waitFor(async () => !(await listedPeers(web, "network")).includes("docs"), "docs to read as offline");

      const sent = await web.call("send_message", { to: "#ui", message: "the login button moved to the header" });
      expect(sent.isError).toBe(false);
      expect(sent.text).toMatch(/^Message m-\S+ to #ui: 2 copies; delivered 1 \(api\); in mailbox 1 \(docs\)\./);
      const first = sentMessageId(sent.text);
      const shown = await api.waitForChannel((c) => c.content === "the login button moved to the header", "api's copy");
      expect(shown.meta).toMatchObject({ group: "ui", from_name: "web" });

      const back = await m.there.start({ name: "docs" });
      const copy = await back.waitForChannel((c) => c.content === "the login button moved to the header", "docs' copy, once it is back");
      expect(copy.meta.group).toBe("ui");
      expect(back.channel.filter((c) => c.meta.group === "ui")).toHaveLength(1);
      expect(api.channel.filter((c) => c.meta.message_id === shown.meta.message_id)).toHaveLength(1);
      expect(shown.meta.message_id === first || copy.meta.message_id === first).toBe(true);
      await Promise.all([api.call("check_messages"), back.call("check_messages")]);
      await back.call("leave_group", { group: "ui" });
      await back.stop();
    });

    test("check_messages(reply_to=<group send>, wait_s) ends with a member's reply from the other host", async () => {
      const sent = await web.call("send_message", { to: "#ui", message: "who owns the session cookie?", reply_within_s: 600 });
      const first = sentMessageId(sent.text);
      const copy = await api.waitForChannel((c) => c.content === "who owns the session cookie?", "api's copy");
      const waiting = web.call("check_messages", { reply_to: first, wait_s: 30 });
      const reply = await api.call("send_message", { to: copy.meta.from_id!, message: "api does", in_reply_to: copy.meta.message_id! });
      expect(reply.isError).toBe(false);
      const { text, isError } = await waiting;
      expect(isError).toBe(false);
      expect(text).toContain("api does");
      expect(await messageState(m.here.t, copy.meta.message_id!)).toBe("read");
    });

    test("the same text to the same recipient within a minute is refused, naming the first", async () => {
      const first = await web.call("send_message", { to: "api", message: "is the build green?" });
      const again = await web.call("send_message", { to: "api", message: "is the build green?" });
      expect(again.isError).toBe(true);
      expect(again.text).toContain(`the same text went to api as ${sentMessageId(first.text)}`);
      await api.call("check_messages");
    });

    test("a retraction racing its push: pushed but not yet acknowledged, it is withdrawn, and the recipient is told once it shows", async () => {
      await personSpeaks();
      // api's server holds its socket but is stopped: the push is on the wire, unacknowledged, when the retraction comes.
      process.kill(api.pid, "SIGSTOP");
      let id: string;
      try {
        const sent = await web.call("send_message", { to: "api", message: "drop the users table" });
        expect(sent.text).toContain("queued for api"); // no ack within the send's wait
        id = sentMessageId(sent.text);
        const retracted = await web.call("retract_message", { message_id: id });
        expect(retracted.isError).toBe(false);
      } finally {
        process.kill(api.pid, "SIGCONT");
      }
      expect(await messageState(m.here.t, id)).toBe("retracted");
      const notice = await api.waitForChannel((c) => c.meta.in_reply_to === id && c.meta.from_id === "claude-peers", "the withdrawn notice");
      expect(notice.content).toBe(`Message ${id} from web was withdrawn by its sender: disregard it.`);
      const inbox = await api.call("check_messages");
      expect(inbox.text).not.toContain("drop the users table");
      expect(await messageState(m.here.t, id)).toBe("retracted"); // the late ack of the push does not revive it
    });

    test(`a runaway pair is held after ${LOOP_LIMIT} messages, both senders told; bun cli.ts release delivers the held mail in order`, async () => {
      await personSpeaks();
      const results: Array<{ text: string; isError: boolean }> = [];
      for (let i = 0; i < LOOP_LIMIT + 2; i++) {
        const [from, to] = i % 2 === 0 ? [web, "api"] : [api, "web"];
        results.push(await from.call("send_message", { to, message: `thank you (${i})` }));
      }
      expect(results.map((r) => /is held, not delivered/.test(r.text))).toEqual([false, false, false, false, true, true]);
      const heldIds = results.slice(LOOP_LIMIT).map((r) => sentMessageId(r.text));
      const history = await runCli(m.here.t, ["history", "--limit", "2"]);
      expect(history.stdout).toContain("held");

      const released = await runCli(m.here.t, ["release", "web", "api"]);
      expect(released).toMatchObject({ code: 0, stdout: "released 2 held messages between web and api, in the order they were sent\n" });
      await api.waitForChannel((c) => c.meta.message_id === heldIds[0], "the first held message, released to api");
      await web.waitForChannel((c) => c.meta.message_id === heldIds[1], "the second held message, released to web");
      expect((await runCli(m.here.t, ["release", "web", "api"])).stdout).toBe("nothing is held between web and api\n");
      await Promise.all([web.call("check_messages"), api.call("check_messages")]);
    });

    test("exactly one copy each when the broker is killed with -9 mid fan-out", async () => {
      const members = await Promise.all(["m1", "m2", "m3"].map((name) => m.there.start({ name, env: { CLAUDE_PEERS_GROUPS: "fanout" } })));
      const slow = await m.here.start({ name: "slow", env: { CLAUDE_PEERS_GROUPS: "fanout" } });
      await Promise.all([...members, slow].map(whoami));
      // slow holds its push socket but cannot ack: the send waits on it (1 s) while the others have theirs.
      process.kill(slow.pid, "SIGSTOP");
      let sent: Promise<{ text: string; isError: boolean }>;
      try {
        sent = web.call("send_message", { to: "#fanout", message: "one copy each" });
        await Promise.all(members.map((s) => s.waitForChannel((c) => c.content === "one copy each", "a member's copy")));
        await killAndConfirm((await runningBroker(m.here.t)).pid, "SIGKILL");
      } finally {
        process.kill(slow.pid, "SIGCONT");
      }
      const result = await sent;
      expect(result.isError).toBe(false);
      expect(result.text).toMatch(/to #fanout: 4 copies/);
      await slow.waitForChannel((c) => c.content === "one copy each", "slow's copy, after the new broker came up");
      for (const s of [...members, slow]) {
        await s.call("check_messages"); // anything pushed again after the restart would show by now
        expect(s.channel.filter((c) => c.content === "one copy each")).toHaveLength(1);
      }
      const history = JSON.parse((await runCli(m.here.t, ["history", "--json", "--limit", "50"])).stdout).messages;
      expect(history.filter((x: { text: string }) => x.text === "one copy each").map((x: { to_name: string }) => x.to_name).sort()).toEqual(["m1", "m2", "m3", "slow"]);
    });
  });
}

const cluster = await usePostgres();
afterAll(() => cluster?.stop());

runConversations("one machine", async () => {
  const world = openWorld(DAMPING_ENV);
  return { here: world, there: world, close: () => world.close() };
});

runConversations(
  "across two hosts on PostgreSQL",
  async () => {
    const db = await sharedDatabase(cluster!);
    return { here: db.host("laptop", DAMPING_ENV), there: db.host("devbox", DAMPING_ENV), close: () => db.close() };
  },
  cluster ? describe : describe.skip,
);
