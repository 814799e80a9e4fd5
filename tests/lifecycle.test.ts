/** The broker's life: servers bring it back after a crash with ids and mail intact; a cold start makes one. */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { statFields } from "../shared/proc-stat.ts";
import type { Health } from "../shared/protocol.ts";
import { awaitNewBroker, brokerPids, messageState, runningBroker, startBroker } from "./helpers/broker.ts";
import { listsAs, sentMessageId, whoami, type Reach, type TestServer } from "./helpers/server.ts";
import { pidAlive, waitFor } from "./helpers/wait.ts";
import { suiteWorld, type World } from "./helpers/world.ts";

/** What a server logged about the broker it registered with. */
function brokerPidsLogged(server: TestServer): number[] {
  return [...server.stderr().matchAll(/with broker pid (\d+)/g)].map((m) => Number(m[1]));
}

/** The session id of a process, from /proc/<pid>/stat. */
function sessionOf(pid: number): number {
  return Number(statFields(readFileSync(`/proc/${pid}/stat`, "utf8"))[3]);
}

/** SIGKILLs the running broker and waits for the servers to bring up the next one. */
async function crashBroker(world: World): Promise<Health> {
  const old = await runningBroker(world.t);
  process.kill(old.pid, "SIGKILL");
  return awaitNewBroker(world.t, old.pid);
}

describe("broker crash", () => {
  const world = suiteWorld();

  test("servers start a new broker by themselves, keep their ids, and queued mail still arrives", async () => {
    const [alice, bob, carol] = await Promise.all([
      world.start({ name: "alice" }),
      world.start({ name: "bob", env: { CLAUDE_PEERS_PUSH: "off" } }),
      world.start({ name: "carol" }),
    ]);
    const before = await Promise.all([whoami(alice), whoami(bob), whoami(carol)]);
    await carol.stop(); // "carol" is now a known name with no live session

    const toMailbox = await alice.call("send_message", { to: "carol", message: "for carol's mailbox" });
    expect(toMailbox.text).toMatch(/queued in carol's mailbox/);
    // bob polls once a second, so this is usually still unacknowledged when the broker dies.
    const toBob = sentMessageId((await alice.call("send_message", { to: "bob", message: "sent just before the crash" })).text);
    const fresh = await crashBroker(world);
    expect(brokerPids(world.t)).toEqual([fresh.pid]);

    const after = await Promise.all([whoami(alice), whoami(bob)]);
    expect(after).toEqual([before[0]!, before[1]!]);

    await bob.waitForChannel((m) => m.meta.message_id === toBob, "bob to get the message sent before the crash");
    const carol2 = await world.start({ name: "carol" });
    expect((await whoami(carol2)).name).toBe("carol");
    const mailboxId = sentMessageId(toMailbox.text);
    await carol2.waitForChannel((m) => m.meta.message_id === mailboxId, "carol to get her mailbox after the restart");

    // The new broker carries traffic both ways, and nothing was shown twice.
    const late = sentMessageId((await bob.call("send_message", { to: "alice", message: "back online" })).text);
    await alice.waitForChannel((m) => m.meta.message_id === late, "alice to get bob's message through the new broker");
    for (const server of [alice, bob, carol2]) {
      const ids = server.channel.map((m) => m.meta.message_id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});

describe("a send right after the broker dies", () => {
  const world = suiteWorld();

  test("waits for the new broker and goes through once, instead of failing", async () => {
    const [alice, bob] = await Promise.all([world.start({ name: "alice" }), world.start({ name: "bob" })]);
    await Promise.all([whoami(alice), whoami(bob)]);
    const old = await runningBroker(world.t);
    process.kill(old.pid, "SIGKILL");
    // No waiting for recovery: the first request is refused by the dead port, so the server may
    // resend it safely once it has brought a new broker up and registered again.
    const sent = await alice.call("send_message", { to: "bob", message: "sent into the crash" });
    expect(sent.text).not.toContain("failed");
    const id = sentMessageId(sent.text);
    await bob.waitForChannel((m) => m.meta.message_id === id, "bob to get the message sent into the crash");
    expect(bob.channel.filter((m) => m.meta.message_id === id).length).toBe(1);
    expect((await runningBroker(world.t)).pid).not.toBe(old.pid);
  });
});

describe("an unacknowledged push across a broker crash", () => {
  const world = suiteWorld();

  test("is left unread until the client says it shows channels, then pushed by the next broker and shown exactly once", async () => {
    // "slow" is a Claude Code still starting up: its server registers, but until initialize it does
    // not know its client (Claude Code shows channel push, another client would not), so it takes
    // no push: the message waits, queued, at the next tool call's reach.
    const [sender, slow] = await Promise.all([world.start({ name: "sender" }), world.start({ name: "slow", deferInitialize: true })]);
    await whoami(sender);
    const listsSlow = (reach: Reach) => () => listsAs(sender, "slow", reach);
    await waitFor(listsSlow("at the next tool call"), "slow to register before initialize");
    const sent = await sender.call("send_message", { to: "slow", message: "sent before you were ready" });
    expect(sent.text).toMatch(/^Message m-\S+ queued for slow/);
    const id = sentMessageId(sent.text);

    await crashBroker(world);
    await waitFor(listsSlow("at the next tool call"), "slow to re-register with the new broker");
    expect(await messageState(world.t, id)).toBe("queued");

    // Claude Code, started with the flag and a claude.ai login, initializes: the server tells the broker, which pushes.
    await slow.initialize();
    await slow.waitForChannel((m) => m.meta.message_id === id, "the message on slow's channel");
    await waitFor(async () => (await messageState(world.t, id)) === "delivered", "the message to be acknowledged");
    await waitFor(listsSlow("push by channel"), "slow listed as pushed by channel");
    expect(slow.channel.filter((m) => m.meta.message_id === id).length).toBe(1);
  });
});

describe("parallel cold start", () => {
  const COUNT = 20;
  const world = suiteWorld();

  test(`${COUNT} servers started at once with no broker end with exactly one broker`, async () => {
    const servers = await Promise.all(Array.from({ length: COUNT }, (_, i) => world.start({ name: `cold-${i}` })));
    const names = (await Promise.all(servers.map(whoami))).map((w) => w.name);
    expect(new Set(names).size).toBe(COUNT);

    const { pid } = await runningBroker(world.t);
    // One process, one "listening" line in the log beside the DB, and every server registered with it.
    expect(brokerPids(world.t)).toEqual([pid]);
    const listening = readFileSync(world.t.logPath, "utf8").match(/: listening on /g) ?? [];
    expect(listening.length).toBe(1);
    for (const server of servers) expect(new Set(brokerPidsLogged(server))).toEqual(new Set([pid]));
    // Detached: it leads its own session, and its log never reaches a server's stderr.
    expect(sessionOf(pid)).toBe(pid);
    for (const server of servers) expect(server.stderr()).not.toContain("claude-peers broker:");

    const listed = await servers[0]!.call("list_peers");
    expect(listed.text).toStartWith(`${COUNT - 1} peers (scope: machine)`);
    for (const server of servers) expect(server.stderr()).not.toMatch(/^\s+at /m);
  });
});

describe("a socket held by another program", () => {
  const world = suiteWorld();

  test("tool calls fail at once with an error naming the socket and the fix; the server logs it once", async () => {
    let probes = 0;
    mkdirSync(dirname(world.t.socketPath), { recursive: true, mode: 0o700 });
    const foreign = Bun.serve({
      unix: world.t.socketPath,
      fetch: () => {
        probes++;
        return new Response("some other web app");
      },
    });
    try {
      const s = await world.start({ name: "stranded" });
      await waitFor(() => probes >= 3, "the server to probe the socket a few times");
      const result = await s.call("whoami");
      expect(result.isError).toBe(true);
      expect(result.text).toStartWith(`whoami failed: cannot use the claude-peers broker: ${world.t.socketPath} is held by a program that is not a claude-peers broker`);
      expect(result.text).toContain("remove the socket");
      expect(s.stderr().match(/is held by a program that is not a claude-peers broker/g)?.length).toBe(1);
      expect(brokerPids(world.t)).toEqual([]);
    } finally {
      foreign.stop(true);
    }
  });
});

describe("a damaged database", () => {
  const world = suiteWorld();

  test("tool calls say what is wrong and how to fix it, and the file is left as it was", async () => {
    const garbage = crypto.getRandomValues(new Uint8Array(8192));
    writeFileSync(world.t.dbPath, garbage);
    const s = await world.start({ name: "stranded" });
    const result = await waitFor(async () => {
      const r = await s.call("whoami");
      return r.text.includes("database") ? r : null;
    }, "whoami to report the broken database");
    expect(result.isError).toBe(true);
    expect(result.text).toContain(`cannot open the database ${world.t.dbPath}`);
    expect(result.text).toContain("CLAUDE_PEERS_DB");
    expect(new Uint8Array(readFileSync(world.t.dbPath))).toEqual(garbage);
    expect(s.stderr()).not.toMatch(/^\s+at /m);
  });
});


describe("a broker whose socket was taken from it", () => {
  const world = suiteWorld();

  test("leaves once its socket path is another broker's, without removing that broker's socket; the sessions move over", async () => {
    const s = await world.start({ name: "mover" });
    await whoami(s);
    const first = await runningBroker(world.t);
    // Someone removes the socket file under the running broker (rm -rf of the folder, say) and a
    // second broker starts on the same database: the first must go, and leave the new socket be.
    unlinkSync(world.t.socketPath);
    const second = await startBroker(world.t);
    await waitFor(() => !pidAlive(first.pid), "the first broker to leave");
    expect((await runningBroker(world.t)).pid).toBe(second.pid); // its socket is still there, and serves
    // A session that saw the socket gone may have started a broker too; it finds the socket taken and exits.
    await waitFor(() => brokerPids(world.t).join() === String(second.pid), "one broker left");
    expect(readFileSync(world.t.logPath, "utf8")).toContain("was removed or replaced; another broker serves it now");
    expect((await whoami(s)).name).toBe("mover");
  });
});
