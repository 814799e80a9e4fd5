/**
 * The delivery contract, written once and run for every path a message can take: push (WebSocket)
 * or the poll fallback, addressed by peer id or by name, on one machine or across two hosts whose
 * brokers share a PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SEND_RATE } from "../shared/broker/send-pace.ts";
import { messageState } from "./helpers/broker.ts";
import { sharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { UNREAD_LINE, listsAs, sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld, suiteWorld, type World } from "./helpers/world.ts";

/** One call of each tool that is not check_messages: each result ends with the unread line while mail waits. */
const TOOL_CALLS = (to: string): Array<[string, Record<string, unknown>]> => [
  ["whoami", {}],
  ["list_peers", {}],
  ["set_summary", { summary: "reading mail" }],
  ["send_message", { to, message: "got two messages, reading them now" }],
];

/** Where the sender and the recipient run; close() stops everything they started. */
interface Machines {
  sender: World;
  recipient: World;
  close(): Promise<void>;
}

interface DeliveryPath {
  label: string;
  machines: () => Promise<Machines>;
  /** Extra environment for the recipient's server. */
  recipientEnv: Record<string, string>;
  /** How the sender names the recipient in send_message. */
  address: (recipient: { id: string; name: string; host: string }) => string;
  /** What send_message reports for a live recipient on this path. */
  sentState: RegExp;
}

const SENDER_SUMMARY = "testing the delivery contract";
/**
 * More than the broker's rate burst (SEND_RATE.burst) from one session: the bulk a user scripts.
 * Whether the pace then holds calls back depends on the machine's speed; tests/pace.test.ts makes it.
 */
const BURST = SEND_RATE.burst + 500;
const BURST_INFLIGHT = 20;

function runDeliveryContract(path: DeliveryPath, run = describe): void {
  run(`delivery: ${path.label}`, () => {
    let machines: Machines;
    let sender: TestServer;
    let recipient: TestServer;
    let senderId: string;
    let to: string;

    beforeAll(async () => {
      machines = await path.machines();
      [sender, recipient] = await Promise.all([
        machines.sender.start({ name: "sender" }),
        machines.recipient.start({ name: "recipient", env: path.recipientEnv }),
      ]);
      const [s, r] = await Promise.all([whoami(sender), whoami(recipient)]);
      senderId = s.id;
      to = path.address({ ...r, host: machines.recipient.t.env.CLAUDE_PEERS_HOST ?? "" });
      expect((await sender.call("set_summary", { summary: SENDER_SUMMARY })).isError).toBe(false);
    });

    afterAll(() => machines?.close());

    /** Sends `text` from sender to recipient and waits until the recipient's channel shows it. */
    async function deliver(text: string) {
      const sent = await sender.call("send_message", { to, message: text });
      expect(sent.isError).toBe(false);
      const id = sentMessageId(sent.text);
      const shown = await recipient.waitForChannel((m) => m.meta.message_id === id, `channel message ${id}`);
      return { id, sent, shown };
    }

    test("a message arrives as a channel notification with content and meta; the sender sees its state", async () => {
      const { id, sent, shown } = await deliver("please rebase on main");
      expect(sent.text).toMatch(path.sentState);
      expect(shown.content).toBe("please rebase on main");
      expect(Object.keys(shown.meta).sort()).toEqual(["from_cwd", "from_id", "from_name", "from_summary", "message_id", "sent_at"]);
      expect(shown.meta).toEqual({
        message_id: id,
        from_id: senderId,
        from_name: "sender",
        from_summary: SENDER_SUMMARY,
        from_cwd: machines.sender.t.home,
        sent_at: shown.meta.sent_at!,
      });
      expect(new Date(shown.meta.sent_at!).toISOString()).toBe(shown.meta.sent_at!);
    });

    test("check_messages returns a pushed but unread message, then marks it read", async () => {
      const { id } = await deliver("the build is green");
      const first = await recipient.call("check_messages");
      expect(first.isError).toBe(false);
      expect(first.text).toContain(id);
      expect(first.text).toContain("the build is green");
      expect(await messageState(machines.sender.t, id)).toBe("read");
      const second = await recipient.call("check_messages");
      expect(second.text).toBe("No unread messages.");
    });

    test("tool results do not announce mail the channel already showed; check_messages still returns it", async () => {
      await recipient.call("check_messages"); // start from an empty inbox
      const shown = await Promise.all([deliver("one"), deliver("two")]);
      for (const { id } of shown) await waitFor(async () => (await messageState(machines.sender.t, id)) === "delivered", "the recipient's ack");
      for (const [tool, args] of TOOL_CALLS(senderId)) {
        const result = await recipient.call(tool, args);
        expect(result.isError).toBe(false);
        expect(result.text).not.toMatch(UNREAD_LINE);
      }
      const checked = await recipient.call("check_messages");
      for (const { id } of shown) expect(checked.text).toContain(id);
    });

    test("a reply with in_reply_to reaches the sender and marks the original read", async () => {
      await recipient.call("check_messages");
      const { id, shown } = await deliver("which port does the API use?");
      const reply = await recipient.call("send_message", { to: shown.meta.from_id!, message: "8080", in_reply_to: id });
      expect(reply.isError).toBe(false);
      const replyId = sentMessageId(reply.text);
      const back = await sender.waitForChannel((m) => m.meta.message_id === replyId, "the reply on the sender's channel");
      expect(back.content).toBe("8080");
      expect(back.meta.in_reply_to).toBe(id);
      expect(await messageState(machines.sender.t, id)).toBe("read");
      expect((await recipient.call("check_messages")).text).toBe("No unread messages.");
    });

    test(`a burst of ${BURST} send_message calls, ${BURST_INFLIGHT} in flight, more than the rate burst: none fails, each shown once`, async () => {
      let next = 0;
      const ids: string[] = [];
      const failures: string[] = [];
      await Promise.all(Array.from({ length: BURST_INFLIGHT }, async () => {
        for (let k = next++; k < BURST; k = next++) {
          const sent = await sender.call("send_message", { to, message: `burst ${k}` });
          if (sent.isError) failures.push(sent.text);
          else ids.push(sentMessageId(sent.text));
        }
      }));
      expect(failures).toEqual([]);
      await waitFor(
        () => {
          const shown = new Set(recipient.channel.map((m) => m.meta.message_id));
          return ids.every((id) => shown.has(id));
        },
        `all ${BURST} burst messages on the recipient's channel`,
        30_000,
      );
      const texts = recipient.channel.filter((m) => m.content.startsWith("burst ")).map((m) => m.content);
      expect(texts.length).toBe(BURST);
      expect(new Set(texts).size).toBe(BURST);
      await recipient.call("check_messages"); // read them, so the tests after this start from an empty inbox
    });

    test("check_messages with wait_s returns the message that arrives while it waits, and marks it read", async () => {
      const waiting = recipient.call("check_messages", { wait_s: 30 });
      const sent = await sender.call("send_message", { to, message: "while you wait" });
      const id = sentMessageId(sent.text);
      const { text, isError } = await waiting;
      expect(isError).toBe(false);
      expect(text).toContain(`id="${id}"`);
      expect(text).toContain("while you wait");
      await waitFor(async () => (await messageState(machines.sender.t, id)) === "read", "the waited-for message to be read");
    });

    test("check_messages with a short wait_s and nothing arriving says so", async () => {
      expect(await recipient.call("check_messages", { wait_s: 0.2 })).toEqual({ text: "No message within 0.2 s.", isError: false });
      const bad = await recipient.call("check_messages", { wait_s: 601 });
      expect(bad.isError).toBe(true);
      expect(bad.text).toContain("wait_s");
    });

    test("reply_within_s: the recipient sees reply_by; with no reply in time the sender gets a notice from claude-peers", async () => {
      const sent = await sender.call("send_message", { to, message: "answer within a second, please", reply_within_s: 1 });
      expect(sent.text).toMatch(/A reply is expected by \S+Z; if none comes, claude-peers tells you\.$/m);
      const id = sentMessageId(sent.text);
      const shown = await recipient.waitForChannel((m) => m.meta.message_id === id, `channel message ${id}`);
      expect(shown.meta.reply_by).toMatch(/^\d{4}-\d\d-\d\dT/);
      const notice = await sender.waitForChannel((m) => m.meta.in_reply_to === id && m.meta.from_id === "claude-peers", "the overdue notice");
      expect(notice.content).toStartWith(`No reply from recipient to ${id} after 1 s.`);
      await Promise.all([sender.call("check_messages"), recipient.call("check_messages")]); // the next tests start from empty inboxes
    });

    test("retract_message after the recipient was shown it: a withdrawn notice from claude-peers, and check_messages leaves it out", async () => {
      const { id } = await deliver("deploy to production now");
      await waitFor(async () => (await messageState(machines.sender.t, id)) === "delivered", "the recipient's ack");
      const retracted = await sender.call("retract_message", { message_id: id });
      expect(retracted).toEqual({ text: expect.stringMatching(new RegExp(`^Message ${id} to recipient .*is retracted`)), isError: false });
      const notice = await recipient.waitForChannel((m) => m.meta.in_reply_to === id && m.meta.from_id === "claude-peers", "the withdrawn notice");
      expect(notice.content).toBe(`Message ${id} from sender was withdrawn by its sender: disregard it.`);
      const inbox = await recipient.call("check_messages");
      expect(inbox.text).not.toContain("deploy to production now");
      expect(inbox.text).toContain("was withdrawn by its sender");
      expect(await messageState(machines.sender.t, id)).toBe("retracted");
      const again = await sender.call("retract_message", { message_id: id });
      expect(again.isError).toBe(true);
      expect(again.text).toContain("is retracted already");
    });

    test("no message is shown twice on a channel", () => {
      for (const server of [sender, recipient]) {
        const ids = server.channel.map((m) => m.meta.message_id);
        expect(ids.length).toBeGreaterThan(0);
        expect(new Set(ids).size).toBe(ids.length);
      }
    });
  });
}

/**
 * The contract sends over a thousand messages from one session to another (and a reply or two
 * back) on loop damping's defaults: a stream that is not answered in turn is never held.
 */
const oneMachine = async (): Promise<Machines> => {
  const world = openWorld();
  return { sender: world, recipient: world, close: () => world.close() };
};

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
const twoHosts = async (): Promise<Machines> => {
  const db = await sharedDatabase(cluster!);
  return { sender: db.host("laptop"), recipient: db.host("devbox"), close: () => db.close() };
};

const transports: Array<{ label: string; recipientEnv: Record<string, string>; state: RegExp }> = [
  { label: "push", recipientEnv: {}, state: /^Message m-\S+ delivered to recipient/ },
  // Poll mode acks within a poll round, so the sender may see either state.
  { label: "poll fallback", recipientEnv: { CLAUDE_PEERS_PUSH: "off" }, state: /^Message m-\S+ (delivered to|queued for) recipient/ },
];
const addressings = [
  { label: "by id", address: (r: { id: string }) => r.id },
  { label: "by name", address: (r: { name: string }) => r.name },
];

for (const transport of transports) {
  for (const addressing of addressings) {
    runDeliveryContract({
      label: `${transport.label}, ${addressing.label}`,
      machines: oneMachine,
      recipientEnv: transport.recipientEnv,
      address: addressing.address,
      sentState: transport.state,
    });
  }
}

// Across hosts: the recipient's broker is woken through PostgreSQL; acks travel back the same way.
const acrossHosts = [...addressings, { label: "by name@host", address: (r: { name: string; host: string }) => `${r.name}@${r.host}` }];
for (const transport of transports) {
  for (const addressing of acrossHosts) {
    runDeliveryContract(
      {
        label: `across two hosts on PostgreSQL, ${transport.label}, ${addressing.label}`,
        machines: twoHosts,
        recipientEnv: transport.recipientEnv,
        address: addressing.address,
        sentState: transport.state,
      },
      cluster ? describe : describe.skip,
    );
  }
}

/**
 * A session whose client does not show channel push (a Claude Code without the flag or with
 * API-key auth, Codex, Gemini): its server takes none, so nothing reads "delivered" that no model
 * saw. Its mail stays queued, every tool result says it waits, and check_messages (or a hook, or
 * the monitor: tests/hook.test.ts, tests/monitor.test.ts) shows it and marks it read.
 */
for (const [label, recipientOpts] of [
  ["no channel flag", { channels: false }],
  ["no channel flag, polling", { channels: false, env: { CLAUDE_PEERS_PUSH: "off" } }],
  ["the flag, but API-key auth", { env: { ANTHROPIC_API_KEY: "sk-ant-api03-test" } }],
  ["another MCP client (Codex)", { env: { CLAUDE_PEERS_AGENT: "codex" }, clientName: "codex-mcp-client" }],
] as const) {
  describe(`delivery without channels: ${label}`, () => {
    const world = suiteWorld();
    test("the message stays queued until check_messages shows it; every tool result says it waits; nothing is pushed", async () => {
      const [sender, recipient] = await Promise.all([world.start({ name: "sender" }), world.start({ name: "recipient", ...recipientOpts })]);
      const [s] = await Promise.all([whoami(sender), whoami(recipient)]);
      await waitFor(() => listsAs(sender, "recipient", "at the next tool call"), "the recipient listed as reached at its next tool call");
      const ids: string[] = [];
      for (const text of ["one", "two"]) {
        const sent = await sender.call("send_message", { to: "recipient", message: text });
        expect(sent.text).toMatch(/^Message m-\S+ queued for recipient/);
        ids.push(sentMessageId(sent.text));
      }
      for (const [tool, args] of TOOL_CALLS(s.id)) {
        const result = await recipient.call(tool, args);
        expect(result.isError).toBe(false);
        expect(UNREAD_LINE.exec(result.text)?.[1]).toBe("2");
      }
      for (const id of ids) expect(await messageState(world.t, id)).toBe("queued");
      const checked = await recipient.call("check_messages");
      for (const id of ids) {
        expect(checked.text).toContain(id);
        expect(await messageState(world.t, id)).toBe("read");
      }
      expect((await recipient.call("whoami")).text).not.toMatch(UNREAD_LINE);
      expect(recipient.channel).toEqual([]);
    });
  });
}
