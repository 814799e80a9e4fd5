/**
 * The real Claude Code CLI (2.1.332, offline) registers our server and finds it Connected; in real
 * sessions a wrapped server is paired with its hooks, and the unread line follows the channel flag.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ListPeersResultSchema, SendResultSchema } from "../shared/protocol.ts";
import { messageState, runningBroker } from "./helpers/broker.ts";
import { claudeCli, suiteClaudeCli } from "./helpers/claude-cli.ts";
import { ROOT, type TestEnv } from "./helpers/env.ts";
import { startFakeAnthropic } from "./helpers/fake-anthropic.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

describe("Claude Code CLI", () => {
  const cli = suiteClaudeCli();
  const claude = (...args: string[]) => cli.run(...args);

  test("claude mcp add, as README says, then claude mcp list reports claude-peers Connected", async () => {
    const add = await claude("mcp", "add", "--scope", "user", "--transport", "stdio", "claude-peers", "--", process.execPath, join(ROOT, "server.ts"));
    expect(add.code).toBe(0);
    expect(add.out).toContain("claude-peers");

    // `claude mcp list` exits 0 even when a server fails: the verdict is in the text.
    const list = await claude("mcp", "list");
    expect(list.out).toMatch(/claude-peers: .*server\.ts - \S* ?Connected/);
    expect(list.out).not.toMatch(/claude-peers: .*Failed/);
  });
});

/**
 * Real `claude -p` sessions (API-key auth, a local fake model API) that call one of the server's
 * tools while peer mail waits: how the hooks and the unread line behave in Claude Code itself.
 */
describe("Claude Code sessions with peer mail", () => {
  interface SessionOptions {
    /** The server's command, as `claude mcp add` registers it. */
    register: string[];
    /** More `claude -p` arguments (after the prompt: a channel flag takes the words after it). */
    args?: string[];
    settings?: object;
    tool: string;
    /** Runs while the model's first turn waits; then the model calls `tool`. */
    beforeTool: (t: TestEnv) => Promise<void>;
    /** Runs once the session has ended, before its world closes. */
    after?: (t: TestEnv) => Promise<void>;
  }

  /** One session; returns what the model was sent after the tool call. */
  async function session(opts: SessionOptions): Promise<string> {
    const world = openWorld();
    const cli = claudeCli(world.t);
    try {
      expect((await cli.run("mcp", "add", "--scope", "user", "--transport", "stdio", "claude-peers", "--", ...opts.register)).code).toBe(0);
      if (opts.settings) writeFileSync(join(cli.env.CLAUDE_CONFIG_DIR!, "settings.json"), JSON.stringify(opts.settings));
      const model = startFakeAnthropic(async (n) => {
        if (n === 1) await opts.beforeTool(world.t);
        return n === 1 ? { tool: opts.tool } : { text: "Done." };
      });
      try {
        const env = { ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: "cc-session", PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
        const run = await cli.runWith(env, "-p", "check in with your peers", "--allowedTools", opts.tool, ...(opts.args ?? []));
        expect(run.out).not.toContain("fake model:");
        expect(run.code).toBe(0);
        await opts.after?.(world.t);
        return model.requests[1] ?? "";
      } finally {
        model.stop();
      }
    } finally {
      await world.close();
    }
  }

  /** The session's peer, once its server has registered. */
  async function livePeer(t: TestEnv) {
    const broker = await runningBroker(t);
    return waitFor(async () => ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json()).peers.find((p) => p.name === "cc-session"), "the session's server", 30_000);
  }

  /** Sends as the operator (the broker answers once the message is stored, and pushed if it can be). */
  async function send(t: TestEnv, text: string): Promise<string> {
    const broker = await runningBroker(t);
    return SendResultSchema.parse(await (await broker.post("/send", { to: "cc-session", text })).json()).message.id;
  }

  test("a server behind a wrapper (its parent a shell, not Claude Code) is still paired with its hooks, by session id", async () => {
    let serverParent = "";
    const wrapped = `"${process.execPath}" "${join(ROOT, "server.ts")}"; exit $?`;
    const hooks = { PostToolUse: [{ matcher: "*", hooks: [{ type: "command", command: `"${process.execPath}" "${join(ROOT, "cli.ts")}" hook`, timeout: 5 }] }] };
    const afterTool = await session({
      register: ["/bin/sh", "-c", wrapped],
      settings: { hooks },
      tool: "mcp__claude-peers__whoami",
      beforeTool: async (t) => {
        const peer = await livePeer(t);
        const ppid = Number(readFileSync(`/proc/${peer.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
        serverParent = readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0")[0]!;
        await send(t, "M1: behind a wrapper");
      },
    });
    expect(serverParent).toBe("/bin/sh"); // wrapped: ancestry alone would not find it
    expect(afterTool).toContain("hook additional context: claude-peers: 1 message from other agent sessions");
    expect(afterTool).toContain("M1: behind a wrapper");
  });

  test.each([
    // API-key auth: Claude Code drops every channel push ("Channels are not currently available"), so the server must take none.
    ["started with README's channel flag but API-key auth", ["--dangerously-load-development-channels", "server:claude-peers"]],
    ["without the flag", []],
  ])("a session %s: the message is not delivered before the model is shown it, and check_messages brings it to the next model request", async (_, args) => {
    let id = "";
    const states: Array<string | undefined> = [];
    const afterTool = await session({
      register: [process.execPath, join(ROOT, "server.ts")],
      args,
      tool: "mcp__claude-peers__check_messages",
      beforeTool: async (t) => {
        await livePeer(t);
        id = await send(t, "M1: not pushed, read by check_messages");
        // Claude Code would drop a push here: its server takes none, so nothing says delivered while no model saw it.
        states.push(await messageState(t, id));
      },
      after: async (t) => void states.push(await messageState(t, id)),
    });
    expect(states).toEqual(["queued", "read"]);
    expect(afterTool).toContain("M1: not pushed, read by check_messages"); // the tool result in the next model request
    expect(afterTool).toContain(id);
  });
});
