/** What Claude Code sees of a real server at initialize, and two sessions exchanging a message and a reply. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { runningBroker } from "./helpers/broker.ts";
import { startServer, whoami, type TestServer } from "./helpers/server.ts";

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

  test("initialize declares the channel, short instructions, and the eight tools with described fields", async () => {
    const capabilities = alice.client.getServerCapabilities()!;
    expect(capabilities.experimental).toEqual({ "claude/channel": {} }); // and not claude/channel/permission
    expect(Object.keys(capabilities).sort()).toEqual(["experimental", "tools"]); // no prompts, resources or logging

    const instructions = alice.client.getInstructions()!;
    expect(Buffer.byteLength(instructions)).toBeLessThan(2048);
    expect(instructions).toContain('<channel source="claude-peers"');
    expect(instructions).toMatch(/not (from|by) the user/);
    expect(instructions).toContain("in_reply_to");
    expect(instructions).toContain("SendMessage");
    expect(instructions).toContain("set_summary");

    const { tools } = await alice.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["check_messages", "claim_files", "join_group", "leave_group", "list_peers", "retract_message", "send_message", "set_summary", "whoami"]);
    for (const tool of tools) {
      expect(tool.description!.length).toBeLessThan(200);
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        expect({ field, description: (schema as { description?: string }).description }).toMatchObject({ description: expect.any(String) });
      }
    }
    expect(tools.find((t) => t.name === "send_message")!.inputSchema.required?.sort()).toEqual(["message", "to"]);
    // The whole model-facing surface stays small: tools/list as JSON plus the instructions.
    expect(JSON.stringify({ tools }).length + Buffer.byteLength(instructions)).toBeLessThan(5500);
  });

  test("a bad argument is a tool error that names the field", async () => {
    const result = await alice.call("send_message", { to: "bob" });
    expect(result.isError).toBe(true);
    expect(result.text).toContain("message");
    const scope = await alice.call("list_peers", { scope: "galaxy" });
    expect(scope.isError).toBe(true);
    expect(scope.text).toContain("scope");
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
