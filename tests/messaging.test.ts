/** Two real sessions exchange a message and a reply through channel notifications. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { runningBroker } from "./helpers/broker.ts";
import { startServer, whoami, type TestServer } from "./helpers/server.ts";

// Real processes on two cores. Bun applies a default timeout file by file, so each file sets it.
setDefaultTimeout(60_000);

describe("messaging between two sessions", () => {
  let t: TestEnv;
  let alice: TestServer;
  let bob: TestServer;

  beforeAll(async () => {
    t = makeTestEnv();
    [alice, bob] = await Promise.all([startServer(t, { name: "alice" }), startServer(t, { name: "bob" })]);
  });

  afterAll(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await (await runningBroker(t)).stop();
    t.cleanup();
  });

  test("message and reply arrive as channel notifications with the contract's meta", async () => {
    const a = await whoami(alice);
    const b = await whoami(bob);
    const sent = await alice.call("send_message", { to: "bob", message: "can you review PR 12?" });
    expect(sent.isError).toBe(false);
    const messageId = /Message (m-\S+)/.exec(sent.text)![1]!;

    const inbound = await bob.waitForChannel((m) => m.meta.message_id === messageId, "bob to get alice's message");
    expect(inbound.content).toBe("can you review PR 12?");
    expect(inbound.meta).toMatchObject({ from_id: a.id, from_name: "alice", message_id: messageId });
    expect(Object.keys(inbound.meta).every((k) => /^[A-Za-z0-9_]+$/.test(k))).toBe(true);
    expect(Object.values(inbound.meta).every((v) => typeof v === "string")).toBe(true);
    expect(new Date(inbound.meta.sent_at!).toISOString()).toBe(inbound.meta.sent_at!);

    const reply = await bob.call("send_message", { to: a.id, message: "on it", in_reply_to: messageId });
    expect(reply.text).toContain("delivered");
    const back = await alice.waitForChannel((m) => m.meta.in_reply_to === messageId, "alice to get the reply");
    expect(back.meta).toMatchObject({ from_id: b.id, from_name: "bob" });
  });
});
