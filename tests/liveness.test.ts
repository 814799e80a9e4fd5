/** A session is live exactly as long as its process: closed stdin, kill -9 and a dead parent all end it. */
import { beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers/env.ts";
import { listedPeers, whoami, type TestServer } from "./helpers/server.ts";
import { killAndConfirm, pidAlive, waitFor } from "./helpers/wait.ts";
import { suiteWorld } from "./helpers/world.ts";

/** The contract's bound: a dead session leaves list_peers (and its process is gone) within 2 s. */
const GONE_WITHIN_MS = 2000;

describe("liveness", () => {
  const world = suiteWorld();
  let observer: TestServer;

  beforeAll(async () => {
    observer = await world.start({ name: "observer" });
    await whoami(observer);
  });

  const listed = async (name: string) => (await listedPeers(observer)).includes(name);

  async function waitUnlisted(name: string): Promise<void> {
    await waitFor(async () => !(await listed(name)), `${name} to leave list_peers`, GONE_WITHIN_MS);
  }

  test("closing stdin ends the process and takes it off list_peers", async () => {
    const s = await world.start({ name: "closer" });
    await whoami(s);
    expect(await listed("closer")).toBe(true);
    const closing = s.client.close(); // ends stdin, as Claude Code does on exit
    await waitFor(() => !pidAlive(s.pid), `pid ${s.pid} to exit after stdin closed`, GONE_WITHIN_MS);
    await closing;
    // The SDK would SIGTERM a server that ignores stdin; the log proves stdin was the reason.
    expect(s.stderr()).toContain("exiting: stdin closed");
    await waitUnlisted("closer");
  });

  const modes: Array<{ label: string; env: Record<string, string> }> = [
    { label: "push", env: {} },
    { label: "poll", env: { CLAUDE_PEERS_PUSH: "off" } },
  ];
  for (const mode of modes) {
    test(`kill -9 of a ${mode.label} session takes it off list_peers within 2 s`, async () => {
      const name = `killed-${mode.label}`;
      const s = await world.start({ name, env: mode.env });
      await whoami(s);
      const { text } = await observer.call("list_peers");
      expect(text).toMatch(new RegExp(`^- ${name} \\(id .*\\n.*; reachable by push by channel$`, "m"));
      expect((await s.call("whoami")).text).toContain(mode.label === "push" ? "(push connected)" : "(polling)");
      process.kill(s.pid, "SIGKILL");
      await waitUnlisted(name);
      await s.stop();
    });
  }

  test("a session whose parent dies exits within 2 s, even with stdin still open", async () => {
    // sh stands in for Claude Code. The server reads a FIFO the test holds open, so when sh dies
    // its stdin stays open and only the parent check can end it.
    const fifo = join(world.t.dir, "orphan.stdin");
    const log = join(world.t.dir, "orphan.log");
    Bun.spawnSync(["mkfifo", fifo]);
    const stdinHold = openSync(fifo, "r+"); // read-write: opening never blocks, and a writer stays
    const script = '"$0" "$1" <"$2" >/dev/null 2>"$3" & echo $!; wait';
    const parent = Bun.spawn(["sh", "-c", script, process.execPath, join(ROOT, "server.ts"), fifo, log], {
      env: { ...world.t.env, CLAUDE_PEERS_NAME: "orphan" },
      cwd: world.t.home,
      stdout: "pipe",
    });
    const reader = parent.stdout.getReader();
    const serverPid = Number(new TextDecoder().decode((await reader.read()).value).trim());
    reader.releaseLock();
    try {
      expect(serverPid).toBeGreaterThan(0);
      await waitFor(() => listed("orphan"), "the orphan-to-be to register");
      parent.kill("SIGKILL");
      await parent.exited;
      await waitFor(() => !pidAlive(serverPid), `server pid ${serverPid} to exit after its parent died`, GONE_WITHIN_MS);
      await waitUnlisted("orphan");
      expect(readFileSync(log, "utf8")).toContain("exiting: parent process exited");
    } finally {
      if (pidAlive(serverPid)) await killAndConfirm(serverPid, "SIGKILL"); // only if the test failed
      closeSync(stdinHold);
    }
  });
});
