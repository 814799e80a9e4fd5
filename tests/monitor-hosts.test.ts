/**
 * A laptop asleep, with the plugin's monitor: two hosts on one PostgreSQL. On host `laptop` a real
 * Claude Code (tmux, API-key auth, a local fake model API, the plugin from this repository) holds
 * its mail by its monitor; everything local is stopped (its broker, Claude Code, its server, its
 * monitor, its waiter), past the hosts' liveness timeout, the monitor's grace and the hooks' lease,
 * while a session on host `devbox` keeps writing to it. Woken, the same session is back once on
 * the network, its monitor holds it again, and each message reaches the model exactly once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dirname } from "node:path";
import { MONITOR_GRACE_MS } from "../shared/broker/delivery-paths.ts";
import { HOOK_LEASE_MS } from "../shared/broker/hook-mail.ts";
import { StatusResultSchema } from "../shared/protocol.ts";
import { messageState, processPids, runningBroker } from "./helpers/broker.ts";
import { CLAUDE, FAKE_API_KEY as KEY, claudeCli, installPluginInteractive } from "./helpers/claude-cli.ts";
import { startFakeAnthropic, type FakeAnthropic } from "./helpers/fake-anthropic.ts";
import { sharedDatabase, TEST_HOST_TIMEOUT_S, type SharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { listedPeers, sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { resume, suspend } from "./helpers/suspend.ts";
import { openPane, TMUX, type TmuxPane } from "./helpers/tmux-pane.ts";
import { waitFor } from "./helpers/wait.ts";
import type { World } from "./helpers/world.ts";

const cluster = TMUX ? await usePostgres() : null;
afterAll(() => cluster?.stop());
const SESSION = `claude-peers-monitor-hosts-${process.pid}`;
/** While the laptop sleeps, devbox's session writes this often, */
const SEND_EVERY_MS = 2000;
/** for this long: past the hosts' liveness timeout, the monitor's grace and the hooks' lease. */
const ASLEEP_MS = Math.max(Number(TEST_HOST_TIMEOUT_S) * 1000, MONITOR_GRACE_MS, HOOK_LEASE_MS) + 6000;

/** Every process of host laptop: its broker and the session (they share its HOME). */
const hostProcesses = (home: string) => processPids(() => true, [`HOME=${home}`]);
const monitorPids = (home: string) => processPids((argv) => argv.some((a) => a.endsWith("cli.ts")) && argv.includes("--monitor"), [`HOME=${home}`]);
const occurrences = (haystack: string, needle: string) => haystack.split(needle).length - 1;

(cluster ? describe : describe.skip)("a laptop asleep with the plugin's monitor, two hosts on PostgreSQL (real Claude Code)", () => {
  let db: SharedDatabase;
  let laptop: World;
  let asker: TestServer;
  let pane: TmuxPane;
  let model: FakeAnthropic;

  beforeAll(async () => {
    db = await sharedDatabase(cluster!);
    laptop = db.host("laptop");
    const devbox = db.host("devbox");
    asker = await devbox.start({ name: "asker" });
    await whoami(asker);
    const cli = claudeCli(laptop.t);
    await installPluginInteractive(cli, laptop.t.home);
    model = startFakeAnthropic(async (n) => ({ text: `Noted ${n}.` }));
    const env = { ...cli.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: "watched" };
    // From a shell, as in a terminal: tmux continues a stopped pane process; a shell between keeps it stopped.
    pane = openPane(SESSION, laptop.t.home, env, ["sh", "-c", `'${CLAUDE}; exit'`]);
  });

  afterAll(async () => {
    pane?.close();
    if (laptop) await waitFor(() => processPids((argv) => argv.some((a) => a.endsWith("/claude") || a.endsWith("server.ts")), [`HOME=${laptop.t.home}`]).length === 0, "Claude Code and its server to exit", 15_000);
    model?.stop();
    await db?.close();
  });

  test("asleep past every timeout while devbox writes; awake, each message reaches the model once", async () => {
    const home = laptop.t.home;
    const broker = await waitFor(async () => {
      try {
        return await runningBroker(laptop.t);
      } catch {
        return null;
      }
    }, "the laptop's broker (started by the session's server)", 60_000);
    const status = async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json());
    const id = await waitFor(async () => (await status()).monitors[0], "the monitor to hold the session", 60_000);
    await waitFor(() => pane.screen().includes("❯"), "Claude Code's prompt", 30_000);
    await waitFor(async () => (await listedPeers(asker, "network", { withHost: true })).includes("watched@laptop"), "devbox to see the session", 30_000);
    // One turn, so that the Stop hook's waiter stands by too (standing down while the monitor holds the session).
    pane.type("hello");
    await waitFor(() => pane.screen().includes("Noted 1."), "the first turn to end", 30_000);
    await waitFor(async () => (await status()).hooks_waiting.includes(id) && monitorPids(home).length === 1, "the session at rest", 30_000);

    const stopped = await suspend(() => hostProcesses(home), [pane.pid()]);
    const texts: string[] = [];
    const ids: string[] = [];
    try {
      const until = Date.now() + ASLEEP_MS;
      while (Date.now() < until) {
        const text = `while asleep ${texts.length} ${Math.random().toString(36).slice(2, 10)}`;
        const sent = await asker.call("send_message", { to: "watched", message: text });
        expect(sent.isError).toBe(false);
        texts.push(text);
        ids.push(sentMessageId(sent.text));
        await Bun.sleep(SEND_EVERY_MS); // devbox's pace (the workload), not a wait for a condition
      }
      // The laptop reads as offline on the network meanwhile.
      expect(await listedPeers(asker, "network", { withHost: true })).toEqual([]);
    } finally {
      resume(stopped);
    }

    // Awake: the same session once on the network, its monitor holding it again.
    await waitFor(async () => (await listedPeers(asker, "network", { withHost: true })).includes("watched@laptop"), "the session back on the network", 30_000);
    expect(await listedPeers(asker, "network", { withHost: true })).toEqual(["watched@laptop"]);
    await waitFor(async () => (await status()).monitors.includes(id), "the monitor to hold the session again", 30_000);
    await waitFor(async () => (await Promise.all(ids.map((m) => messageState(laptop.t, m)))).every((s) => s === "read"), "every message read", 60_000);
    const last = await waitFor(async () => {
      const n = model.requests.length;
      const latest = model.requests[n - 1] ?? "";
      if (!texts.every((t) => latest.includes(t)) || !pane.screen().includes(`Noted ${n}.`)) return null;
      return (await status()).hooks_waiting.includes(id) && model.requests.length === n ? latest : null;
    }, "every message in a model request and the session at rest", 60_000);
    for (const text of texts) expect(occurrences(last, text)).toBe(1);
  }, 180_000);
});
