/**
 * Interactive Codex CLI (0.171.0, offline, in tmux panes) runs its sessions in one background
 * app-server, the parent of every session's server: two sessions' hooks share an ancestry. Mail for
 * one session never reaches the other; it reaches its own once its server has learned the session
 * id from a tool call (Codex names it in each one), through the hook after that call.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HistoryResultSchema, ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { CODEX } from "./helpers/agent-cli.ts";
import { processPids, startBroker, type TestBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { startFakeResponses, type FakeResponses } from "./helpers/fake-openai-responses.ts";
import { killAndConfirm, waitFor } from "./helpers/wait.ts";
import { openWorld, type World } from "./helpers/world.ts";

const TMUX = Bun.which("tmux");
const PANES = ["a", "b"].map((p) => ({ folder: p, tmux: `claude-peers-codex-${p}-${process.pid}` }));
const MAIL = "PEERMAIL: for session a only";

/** Every process of this test's HOME that Codex started (the TUIs, its app-server, their servers). */
const codexPids = (home: string) => processPids((argv) => argv.some((a) => a.includes("codex") || a.endsWith("server.ts")), [`HOME=${home}`]);
const pane = (name: string) => Bun.spawnSync([TMUX!, "capture-pane", "-p", "-t", name]).stdout.toString();
const type = async (name: string, text: string) => {
  Bun.spawnSync([TMUX!, "send-keys", "-t", name, "-l", text]);
  // The TUI takes fast keys as one paste and shows it once the paste is over: Enter then is its own key.
  await waitFor(() => pane(name).includes(text), `"${text}" in the prompt of ${name}`, 15_000);
  Bun.spawnSync([TMUX!, "send-keys", "-t", name, "C-m"]);
};

(TMUX ? describe : describe.skip)("interactive Codex sessions sharing one app-server", () => {
  let world: World;
  let broker: TestBroker;
  let model: FakeResponses;
  /** Each request's session folder and whether it held the mail. */
  const seen: { folder: string | undefined; mail: boolean; body: string }[] = [];

  beforeAll(async () => {
    world = openWorld();
    const { t } = world;
    broker = await startBroker(t);
    model = startFakeResponses(async (_, body) => {
      const text = JSON.stringify(body);
      seen.push({ folder: /<cwd>[^<]*\/(a|b)<\/cwd>/.exec(text)?.[1], mail: text.includes(MAIL), body: text });
      const input = body.input as { type?: string; role?: string }[];
      const last = input.at(-1);
      return last?.type === "message" && last.role === "user" && JSON.stringify(last).includes("use a tool") ? { tool: "whoami" } : { text: "Done." };
    });
    const folders = PANES.map((p) => join(t.home, p.folder));
    for (const folder of folders) mkdirSync(folder, { recursive: true });
    const trusted = folders.map((f) => `[projects.${JSON.stringify(f)}]\ntrust_level = "trusted"\n`).join("");
    mkdirSync(join(t.home, ".codex"), { recursive: true });
    writeFileSync(
      join(t.home, ".codex", "config.toml"),
      `model = "fake-model"\nmodel_provider = "fake"\n[model_providers.fake]\nname = "fake"\nbase_url = "${model.baseUrl}"\nenv_key = "FAKE_OPENAI_KEY"\nwire_api = "responses"\n${trusted}`,
    );
    expect((await runCli(t, ["install", "codex"])).code).toBe(0);
    const env = { ...t.env, FAKE_OPENAI_KEY: "sk-fake", TERM: "xterm-256color" };
    for (const [i, p] of PANES.entries()) {
      const command = `env -i ${Object.entries(env)
        .map(([k, v]) => `${k}='${v}'`)
        .join(" ")} ${CODEX}`;
      expect(Bun.spawnSync([TMUX!, "new-session", "-d", "-s", p.tmux, "-x", "160", "-y", "40", "-c", folders[i]!, command]).exitCode).toBe(0);
      await waitFor(() => pane(p.tmux).includes("Ask Codex"), `Codex's prompt in pane ${p.folder}`, 30_000);
    }
  });

  afterAll(async () => {
    for (const p of PANES) if (TMUX) Bun.spawnSync([TMUX, "kill-session", "-t", p.tmux]);
    // The app-server outlives its terminals, and keeps the sessions' servers: stop them all by pid
    // before the brokers, or a server would start a broker nobody stops.
    // Waited for, not read once: a process that was still starting (a hook, a server) when the
    // list was read would otherwise be left behind.
    if (world) {
      const home = world.t.home;
      await waitFor(
        async () => {
          await Promise.all(codexPids(home).map((pid) => killAndConfirm(pid, "SIGTERM")));
          return codexPids(home).length === 0;
        },
        "every Codex process of this test to exit",
        15_000,
      );
      await world.close();
    }
    model?.stop();
  });

  test("both sessions' servers are children of one app-server process", async () => {
    const peers = await waitFor(
      async () => {
        const live = ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers;
        return live.length === 2 ? live : null;
      },
      "both sessions' servers",
      30_000,
    );
    expect(peers.map((p) => [p.name, p.agent]).sort()).toEqual([
      ["a", "codex"],
      ["b", "codex"],
    ]);
    const parents = peers.map((p) => Number(readFileSync(`/proc/${p.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]));
    expect(parents[0]).toBe(parents[1]!);
    expect(readFileSync(`/proc/${parents[0]}/cmdline`, "utf8").split("\0")).toContain("app-server");
  });

  test("mail for a: b's prompt does not get it; a gets it after its first tool call, once", async () => {
    const sent = SendResultSchema.parse(await (await broker.post("/send", { to: "a", text: MAIL })).json()).message;
    await type(PANES[1]!.tmux, "hello from b");
    await waitFor(() => seen.some((s) => s.folder === "b"), "b's turn", 30_000);
    await type(PANES[0]!.tmux, "please use a tool");
    await waitFor(() => seen.some((s) => s.folder === "a" && s.mail), "the mail in a's model input", 30_000);
    const state = async () => HistoryResultSchema.parse(await (await broker.post("/history", {})).json()).messages.find((m) => m.id === sent.id)?.state;
    await waitFor(async () => (await state()) === "read", "the mail to be marked read");
    expect(seen.filter((s) => s.folder === "b" && s.mail)).toEqual([]);
    // It came after the tool call (its output is in the same request), not with a's prompt.
    const first = seen.find((s) => s.folder === "a" && s.mail)!;
    expect(first.body).toContain("function_call_output");
    expect(first.body.split(MAIL).length - 1).toBe(1);
  });
});
