/**
 * Faults with real processes and real signals: the broker killed -9 under a stream of 1,000
 * messages, a recipient killed -9 between push and ack, and a database folder the user cannot
 * write. lifecycle.test.ts and liveness.test.ts hold the single-message crash cases.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { probeBroker } from "../shared/broker-probe.ts";
import { StatusResultSchema } from "../shared/protocol.ts";
import { awaitNewBroker, messageState, runningBroker } from "./helpers/broker.ts";
import { ROOT, makeTestEnv } from "./helpers/env.ts";
import { listsAs, sentMessageId, startServer, whoami } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { suiteWorld } from "./helpers/world.ts";

/** The contract's bound for a new broker after a crash. */
const BACK_WITHIN_MS = 2000;

/** Waits until the servers have brought up a broker other than `oldPid`. */
describe("kill -9 of the broker while 1,000 messages stream from A to B", () => {
  // Loop damping on its defaults: a one-way stream of any length is never held (tests/loop-rule.test.ts).
  const world = suiteWorld();
  const TOTAL = Number(process.env.CHAOS_MESSAGES ?? 1000);
  const IN_FLIGHT = 4;

  test("a new broker is up within 2 s, ids are kept, and B gets every message exactly once", async () => {
    const [a, b] = await Promise.all([world.start({ name: "stream-a" }), world.start({ name: "stream-b" })]);
    const before = await Promise.all([whoami(a), whoami(b)]);
    const old = await runningBroker(world.t);

    const sent = new Map<number, string>(); // sequence number → message id
    const failures: string[] = [];
    let next = 0;
    let done = 0;
    let recovery: Promise<number> | undefined;
    let killedAt = Infinity;
    let backAt = Infinity;
    let acrossTheGap = 0; // calls made before the new broker was up that returned after it was
    const killBroker = async (): Promise<number> => {
      killedAt = performance.now();
      process.kill(old.pid, "SIGKILL");
      await awaitNewBroker(world.t, old.pid);
      backAt = performance.now();
      return backAt - killedAt;
    };
    // Sends as Claude would: a call that fails with an error is sent again.
    const sender = async () => {
      while (next < TOTAL) {
        const seq = next++;
        while (true) {
          const callStarted = performance.now();
          const r = await a.call("send_message", { to: "stream-b", message: `stream ${seq}` });
          if (callStarted < backAt && performance.now() > backAt) acrossTheGap++;
          if (!r.isError) {
            sent.set(seq, sentMessageId(r.text));
            break;
          }
          failures.push(r.text);
        }
        if (++done === Math.floor(TOTAL * 0.3)) recovery = killBroker();
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
    const backInMs = await recovery!;

    await waitFor(() => [...sent.values()].every((id) => b.channel.some((m) => m.meta.message_id === id)), "B to receive every message", 30_000);
    // Every one is acknowledged in the new broker's store, too: nothing left queued.
    const broker = await runningBroker(world.t);
    await waitFor(async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).messages.queued === 0, "no message left queued");
    const seconds = (performance.now() - started) / 1000;

    const ids = b.channel.map((m) => m.meta.message_id!);
    const byText = new Map<string, Set<string>>();
    for (const m of b.channel) byText.set(m.content, (byText.get(m.content) ?? new Set()).add(m.meta.message_id!));
    const received = new Set(ids).size;
    const lost = [...sent.values()].filter((id) => !ids.includes(id)).length;
    const duplicatedById = ids.length - received;
    const duplicatedByText = [...byText.values()].reduce((n, set) => n + set.size - 1, 0);
    console.log(
      `chaos stream: sent ${sent.size}, received ${received}, lost ${lost}, duplicated ${duplicatedById} (by id) / ${duplicatedByText} (by text); ` +
        `${acrossTheGap} calls in flight across the gap, ${failures.length} failed with an error and were sent again; broker back in ${Math.round(backInMs)} ms; ${seconds.toFixed(1)} s in all`,
    );

    expect(sent.size).toBe(TOTAL);
    expect(received).toBe(TOTAL);
    expect([lost, duplicatedById, duplicatedByText]).toEqual([0, 0, 0]);
    expect(backInMs).toBeLessThan(BACK_WITHIN_MS);
    expect(acrossTheGap).toBeGreaterThan(0); // the kill landed mid-stream, not between calls
    // A failed call is never silent: it says the broker is away and to try again.
    for (const text of failures) expect(text).toMatch(/^send_message failed: .*(try again|retry)/);
    expect(await Promise.all([whoami(a), whoami(b)])).toEqual(before);
    expect(broker.pid).not.toBe(old.pid);
  });
});

describe("kill -9 of a recipient that never showed its mail", () => {
  const world = suiteWorld();

  test("the unacknowledged message goes to the next session with the same name", async () => {
    // "victim" registers and holds its push socket, but cannot show anything (so takes no push and
    // acks nothing) until initialize, which never comes: it dies first.
    const [sender, victim] = await Promise.all([world.start({ name: "sender" }), world.start({ name: "victim", deferInitialize: true })]);
    await whoami(sender);
    const listsVictim = () => listsAs(sender, "victim", "at the next tool call");
    await waitFor(listsVictim, "victim to register");
    const id = sentMessageId((await sender.call("send_message", { to: "victim", message: "pushed, never acknowledged" })).text);
    expect(await messageState(world.t, id)).toBe("queued");

    process.kill(victim.pid, "SIGKILL");
    await victim.stop();
    const heir = await world.start({ name: "victim" });
    expect((await whoami(heir)).name).toBe("victim");
    await heir.waitForChannel((m) => m.meta.message_id === id, "the message on the next victim's channel");
    await waitFor(async () => (await messageState(world.t, id)) === "delivered", "the heir's ack");
    expect(heir.channel.filter((m) => m.meta.message_id === id).length).toBe(1);
  });
});

describe("a session killed -9 while the broker is down", () => {
  const world = suiteWorld();

  test("leaves only a stale row: the next broker never lists it, and its name is free for the next session", async () => {
    const [survivor, ghost] = await Promise.all([world.start({ name: "survivor" }), world.start({ name: "ghost" })]);
    await Promise.all([whoami(survivor), whoami(ghost)]);
    const old = await runningBroker(world.t);
    // Both at once: the ghost never learns the broker died, so it never unregisters or comes back.
    process.kill(old.pid, "SIGKILL");
    process.kill(ghost.pid, "SIGKILL");
    await ghost.stop();
    await awaitNewBroker(world.t, old.pid);
    const listed = await waitFor(async () => {
      const r = await survivor.call("list_peers");
      return r.isError ? null : r.text;
    }, "list_peers through the new broker");
    expect(listed).toStartWith("No other peers");
    const next = await world.start({ name: "ghost" });
    expect((await whoami(next)).name).toBe("ghost"); // not ghost-2: the stale row holds no name
  });
});

describe("a database folder the user cannot write", () => {
  // As root, chmod stops nothing, so the server runs as the unprivileged user nobody (setpriv)
  // against a root-owned folder of mode 0555: a real EACCES, as a user with a read-only home gets.
  // nobody must also be able to read this checkout (a clone under a 0700 temp folder is not).
  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  const canDropPrivileges =
    process.getuid?.() === 0 &&
    Bun.which("setpriv") !== null &&
    Bun.spawnSync([...asNobody, "test", "-r", join(ROOT, "server.ts")]).exitCode === 0;

  test.skipIf(!canDropPrivileges)("tool calls fail at once naming the folder and CLAUDE_PEERS_DB; no broker, no retry loop, nothing written", async () => {
    const t = makeTestEnv();
    const readOnly = join(t.dir, "read-only");
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
    chmodSync(t.dir, 0o755);
    chmodSync(t.home, 0o777);
    const server = await startServer(t, { runAs: asNobody, name: "read-only", env: { CLAUDE_PEERS_DB: join(readOnly, "peers.db") } });
    try {
      for (let i = 0; i < 3; i++) {
        const { text, isError } = await server.call("whoami");
        expect(isError).toBe(true);
        expect(text).toContain(`EACCES: permission denied`);
        expect(text).toContain(readOnly);
        expect(text).toContain("set CLAUDE_PEERS_DB to a file in a writable folder");
      }
      expect(readdirSync(readOnly)).toEqual([]);
      expect((await probeBroker(t.socketPath)).kind).toBe("none");
      expect(server.stderr().match(/cannot start the broker/g)?.length).toBe(1); // logged once, not once per retry
      expect(server.stderr()).not.toMatch(/^\s+at /m);
    } finally {
      await server.stop();
      t.cleanup();
    }
  });
});
