/** Mail to a name whose session is offline waits in that name's mailbox until a session takes the name. */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { messageState } from "./helpers/broker.ts";
import { sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/wait.ts";
import { suiteWorld } from "./helpers/world.ts";

describe("offline mailbox", () => {
  const world = suiteWorld();
  let sender: TestServer;
  let notesDir: string;

  beforeAll(async () => {
    notesDir = join(world.t.dir, "notes");
    mkdirSync(notesDir);
    sender = await world.start({ name: "sender" });
    await whoami(sender);
  });

  test("mail to a stopped session's name and id waits, then reaches the next session with that name", async () => {
    const first = await world.start({ cwd: notesDir });
    const old = await whoami(first);
    expect(old.name).toBe("notes");
    await first.stop();

    const byName = await sender.call("send_message", { to: "notes", message: "left you a note" });
    expect(byName.isError).toBe(false);
    expect(byName.text).toMatch(/^Message m-\S+ queued in notes's mailbox/);
    const byOldId = await sender.call("send_message", { to: old.id, message: "and one to your old id" });
    expect(byOldId.isError).toBe(false);
    expect(byOldId.text).toMatch(/^Message m-\S+ queued for notes/);

    // Restarting in the same folder gives the same name back, and the mailbox follows it.
    const next = await world.start({ cwd: notesDir });
    const now = await whoami(next);
    expect(now.name).toBe("notes");
    expect(now.id).not.toBe(old.id);
    for (const sent of [byName, byOldId]) {
      const id = sentMessageId(sent.text);
      const shown = await next.waitForChannel((m) => m.meta.message_id === id, `mailbox message ${id}`);
      expect(shown.meta.from_name).toBe("sender");
      expect(await messageState(world.t, id)).toBe("delivered");
    }
    expect(next.channel.map((m) => m.content)).toEqual(["left you a note", "and one to your old id"]);
  });

  test("a name never seen is a tool error that names the problem", async () => {
    const result = await sender.call("send_message", { to: "ghost", message: "anyone?" });
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/^send_message failed: to: no peer with id or name "ghost"/);
    expect(result.text).toContain("list_peers");
  });
});
