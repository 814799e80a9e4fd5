/**
 * `bun cli.ts hook` against a real broker and real servers, in the process tree Claude Code builds:
 * each session runs under a stand-in Claude Code process (helpers/fake-claude-code.ts) whose
 * children are the session's server.ts and every hook, the hook through `sh -c` as Claude Code
 * runs a hook command. The hook finds its session only through that ancestry, never by folder.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { HookResultSchema, SendResultSchema, StatusResultSchema, type HookResult, type Message } from "../shared/protocol.ts";
import { HOOK_LEASE_MS } from "../shared/broker/hook-mail.ts";
import { ancestorsFromPsTable, parentFromStat } from "../shared/ancestry.ts";
import { parseResponse } from "../shared/hook/post.ts";
import { describeHookMail, hookOutput } from "../shared/hook/output.ts";
import { channelsRequested, channelsRequestedAbove, claudeAbove, registrationOf } from "../shared/channel-flag.ts";
import { HOOK_CAPS, HOOK_EVENTS, type HookEvent } from "../shared/hook-events.ts";
import { parseHookInput } from "../shared/hook/run.ts";
import { messageState, runningBroker, type TestBroker } from "./helpers/broker.ts";
import { ROOT, makeTestEnv, type TestEnv } from "./helpers/env.ts";
import { expectForgeryContained, forgedText, readEnvelopes, wireMessage } from "./helpers/envelope.ts";
import { expectWireError } from "./helpers/http.ts";
import { hookAncestors } from "../shared/broker/hook-pairing.ts";
import { inProcessServices, registration } from "./helpers/in-process.ts";
import { sentMessageId, whoami, type TestServer } from "./helpers/server.ts";
import { pidAlive, waitFor } from "./helpers/wait.ts";
import { openWorld, type World } from "./helpers/world.ts";

const STAND_IN = join(ROOT, "tests", "helpers", "fake-claude-code.ts");
/** An agent run from a session's shell, with no server of its own yet (a `claude -p` in a Bash tool call). */
const NESTED_AGENT = join(ROOT, "tests", "helpers", "fake-claude-print.ts");
/** The plugin's hooks.json, by event. */
const readPluginHooks = () =>
  JSON.parse(readFileSync(join(ROOT, "plugin", "hooks", "hooks.json"), "utf8")).hooks as Record<string, Array<{ hooks: Array<{ command: string }> }>>;
const CLI = join(ROOT, "cli.ts");
/** What hooks/hooks.json runs, with this bun and this checkout in place of `bun` and ${CLAUDE_PLUGIN_ROOT}. */
const HOOK_COMMAND = `"${process.execPath}" "${CLI}" hook`;
/** The waiter, as hooks.json runs it in the background (asyncRewake) on SessionStart and Stop. */
const WAIT_COMMAND = `"${process.execPath}" "${CLI}" hook --wait`;
const MONITOR_COMMAND = `"${process.execPath}" "${CLI}" hook --monitor`;

/** Settings only the broker and the server read, each malformed: a hook's shell may carry them. */
const BAD_SETTINGS = "CLAUDE_PEERS_GROUPS='Not a group!' CLAUDE_PEERS_LOOP_LIMIT=lots CLAUDE_PEERS_DUPLICATE_WINDOW_S=-1 CLAUDE_PEERS_AGENT=cursor CLAUDE_PEERS_HOST='not@a host'";

/** The JSON Claude Code writes to a hook's stdin, per event (common fields added by run()). */
const INPUTS: Record<HookEvent, Record<string, unknown>> = {
  SessionStart: { hook_event_name: "SessionStart", source: "startup" },
  UserPromptSubmit: { hook_event_name: "UserPromptSubmit", prompt: "what next?" },
  PostToolUse: { hook_event_name: "PostToolUse", tool_name: "Bash", tool_input: { command: "ls" }, tool_response: { stdout: "" } },
  Stop: { hook_event_name: "Stop", stop_hook_active: false },
};

interface HookRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

interface Session {
  server: TestServer;
  id: string;
  /** server.ts itself (server.pid is the stand-in's). */
  serverPid: number;
  /** Runs one hook as a child of this session's Claude Code, with `input` on its stdin. */
  hook(input: Record<string, unknown>): Promise<HookRun>;
  /** Runs `command` (not the hook's own) as a hook of this session. */
  hookWith(input: Record<string, unknown>, command: string): Promise<HookRun>;
  /** Starts the waiter (or `command`) in the background, as Claude Code runs an asyncRewake hook; `done` is its outcome. */
  startWaiter(command?: string): Promise<{ pid: number; done: Promise<HookRun> }>;
}

function hookInput(input: Record<string, unknown>, cwd: string, sessionId = "0b1c2d3e-test"): string {
  return JSON.stringify({ session_id: sessionId, transcript_path: join(cwd, "transcript.jsonl"), cwd, permission_mode: "default", ...input });
}

/**
 * A session under its own stand-in Claude Code; `claudeArgs` show in that process's command line.
 * Its server gets CLAUDE_CODE_SESSION_ID `session-<name>`, which its hooks' input carries; with
 * `wrap` the server runs behind a shell that does not exec it.
 */
async function openSession(world: World, name: string, claudeArgs: string[] = [], opts: { wrap?: boolean; env?: Record<string, string> } = {}): Promise<Session> {
  const control = join(world.t.dir, `${name}.sock`);
  // A claude.ai login (a token in the environment): where the flag is given, Claude Code shows channel push.
  const env = { FAKE_CLAUDE_CONTROL: control, CLAUDE_CODE_SESSION_ID: `session-${name}`, CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-test", ...(opts.wrap ? { FAKE_CLAUDE_WRAP: "1" } : {}), ...opts.env };
  const server = await world.start({ name, env, via: { script: STAND_IN, args: claudeArgs } });
  const { id } = await whoami(server);
  const ask = async (path: string, body?: unknown) => {
    const res = await fetch(`http://localhost${path}`, { unix: control, method: body ? "POST" : "GET", body: body ? JSON.stringify(body) : undefined });
    return res.json() as Promise<any>;
  };
  const { pid: serverPid } = (await ask("/server")) as { pid: number };
  return {
    server,
    id,
    serverPid,
    hook: (input) => ask("/hook", { input: hookInput(input, world.t.home, `session-${name}`), command: HOOK_COMMAND }),
    hookWith: (input, command) => ask("/hook", { input: hookInput(input, world.t.home, `session-${name}`), command }),
    startWaiter: async (command = WAIT_COMMAND) => {
      // Started as Claude Code starts it when a turn ends (Stop): the session is idle from then on.
      const { pid } = (await ask("/hook/start", { input: hookInput(INPUTS.Stop, world.t.home, `session-${name}`), command })) as { pid: number };
      return { pid, done: ask("/hook/result", { pid }) };
    },
  };
}

/** Runs the hook as a child of this test process, which is no session's Claude Code. */
async function hookOutsideSessions(t: TestEnv, input: Record<string, unknown>): Promise<HookRun> {
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, CLI, "hook"], {
    env: t.env,
    stdin: new TextEncoder().encode(hookInput(input, t.home)),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr, ms: performance.now() - started };
}


function context(run: HookRun, event: Exclude<HookEvent, "Stop">): string {
  expect(run.code).toBe(0);
  expect(run.stderr).toBe("");
  const out = JSON.parse(run.stdout);
  expect(Object.keys(out)).toEqual(["hookSpecificOutput"]);
  expect(Object.keys(out.hookSpecificOutput).sort()).toEqual(["additionalContext", "hookEventName"]);
  expect(out.hookSpecificOutput.hookEventName).toBe(event);
  return out.hookSpecificOutput.additionalContext as string;
}

describe("hook in live sessions (real broker, real servers, Claude Code's process tree)", () => {
  const world = openWorld();
  let broker: TestBroker;
  let alice: Session;
  let bob: Session;
  let carol: Session;

  /** Sends as the operator (cli) and returns the message id. */
  async function send(to: string, text: string): Promise<string> {
    const res = await broker.post("/send", { to, text });
    return SendResultSchema.parse(await res.json()).message.id;
  }

  beforeAll(async () => {
    // alice and bob share a folder; carol's Claude Code was started with channel push for claude-peers.
    [alice, bob, carol] = await Promise.all([
      openSession(world, "alice"),
      openSession(world, "bob"),
      openSession(world, "carol", ["--dangerously-load-development-channels", "server:claude-peers"]),
    ]);
    broker = await runningBroker(world.t);
  });

  afterAll(async () => {
    const serverPids = [alice, bob, carol].filter(Boolean).map((s) => s.serverPid);
    await world.close();
    // Each stand-in ends its server before it exits; prove it, without signalling a reaped pid.
    for (const pid of serverPids) await waitFor(() => !pidAlive(pid), `server.ts pid ${pid} to be gone`);
  });

  test.each(HOOK_EVENTS)("%s with no mail: exit 0, nothing on stdout or stderr", async (event) => {
    expect(await alice.hook(INPUTS[event])).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  test.each(["SessionStart", "UserPromptSubmit", "PostToolUse"] as const)(
    "%s: the mail as hookSpecificOutput.additionalContext, then marked read and never printed again",
    async (event) => {
      const id = await send("alice", `ping for ${event}`);
      const text = context(await alice.hook(INPUTS[event]), event);
      const [only] = readEnvelopes(text).envelopes;
      expect(only).toEqual({ attrs: expect.objectContaining({ id, from: "cli", from_id: "cli", sender: expect.stringMatching(/^the person at the terminal/) }), text: `ping for ${event}` });
      expect(text).toContain("not by the user");
      expect(text).toContain("in_reply_to=<its id>");
      expect(await messageState(world.t, id)).toBe("read");
      expect(await alice.hook(INPUTS[event])).toMatchObject({ code: 0, stdout: "" });
    },
  );

  test("Stop: blocks once, with the mail as the reason; while stop_hook_active it never blocks", async () => {
    const id = await send("alice", "are you done with the migration?");
    expect(await alice.hook({ ...INPUTS.Stop, stop_hook_active: true })).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await messageState(world.t, id)).not.toBe("read"); // it waits for the next hook

    const run = await alice.hook(INPUTS.Stop);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const out = JSON.parse(run.stdout);
    expect(Object.keys(out).sort()).toEqual(["decision", "reason"]);
    expect(out.decision).toBe("block");
    expect(readEnvelopes(out.reason).envelopes).toEqual([{ attrs: expect.objectContaining({ id, from_id: "cli" }), text: "are you done with the migration?" }]);
    expect(await messageState(world.t, id)).toBe("read");
    expect((await alice.hook(INPUTS.Stop)).stdout).toBe(""); // nothing left: the stop goes through
  });

  test("a malformed setting the hook does not use (CLAUDE_PEERS_GROUPS, damping) does not stop its mail", async () => {
    const id = await send("alice", "mail despite a bad setting");
    const text = context(await alice.hookWith(INPUTS.PostToolUse, `${BAD_SETTINGS} ${HOOK_COMMAND}`), "PostToolUse");
    expect(text).toContain(`id="${id}"`);
    expect(text).toContain("mail despite a bad setting");
    expect(await messageState(world.t, id)).toBe("read");
  });

  test("hooks running at once (parallel tool calls): only one of them prints a message", async () => {
    const id = await send("alice", "show me once");
    const runs = await Promise.all([1, 2, 3].map(() => alice.hook(INPUTS.PostToolUse)));
    for (const run of runs) expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(runs.filter((r) => r.stdout.includes(id))).toHaveLength(1);
    expect(runs.filter((r) => r.stdout !== "")).toHaveLength(1);
    expect(await messageState(world.t, id)).toBe("read");
  });

  test("two sessions in one folder: each hook shows only its own session's mail", async () => {
    const [forAlice, forBob] = [await send("alice", "for alice only"), await send(bob.id, "for bob only")];
    const a = context(await alice.hook(INPUTS.UserPromptSubmit), "UserPromptSubmit");
    const b = context(await bob.hook(INPUTS.UserPromptSubmit), "UserPromptSubmit");
    expect(a).toContain(forAlice);
    expect(a).not.toContain(forBob);
    expect(b).toContain(forBob);
    expect(b).not.toContain(forAlice);
  });

  test("a subagent's tool call (agent_id set) prints nothing; the mail waits for the main conversation", async () => {
    const id = await send("alice", "for the main thread");
    expect(await alice.hook({ ...INPUTS.PostToolUse, agent_id: "a1b2c3", agent_type: "general-purpose" })).toMatchObject({ code: 0, stdout: "" });
    expect(await messageState(world.t, id)).not.toBe("read");
    expect(context(await alice.hook(INPUTS.PostToolUse), "PostToolUse")).toContain(id);
  });

  test("more mail than one hook may add comes in order over several runs; a message too long for any says to call check_messages", async () => {
    const ids = [await send("alice", `A${"a".repeat(3000)}`), await send("alice", `B${"b".repeat(3000)}`), await send("alice", `C${"c".repeat(3000)}`)];
    const first = context(await alice.hook(INPUTS.PostToolUse), "PostToolUse");
    expect(first.length).toBeLessThanOrEqual(HOOK_CAPS.additionalContext.chars); // what Claude Code keeps of a plugin hook's context
    expect(first).toContain(ids[0]!);
    expect(first).toContain(ids[1]!);
    expect(first).not.toContain(ids[2]!);
    expect(first).toEndWith("(1 more unread peer message not shown here: call the claude-peers check_messages tool to read it.)");
    expect(await Promise.all(ids.map((id) => messageState(world.t, id)))).toEqual(["read", "read", expect.not.stringMatching(/^read$/)]);
    expect(context(await alice.hook(INPUTS.PostToolUse), "PostToolUse")).toContain(ids[2]!);

    const big = await send("alice", "z".repeat(12_000));
    const notice = context(await alice.hook(INPUTS.PostToolUse), "PostToolUse");
    expect(notice).toContain("1 unread peer message waiting, too long to show here");
    expect(notice).toContain("check_messages");
    expect(notice).not.toContain("zzzz");
    expect(await messageState(world.t, big)).not.toBe("read");
    const checked = await alice.server.call("check_messages");
    expect(checked.text).toContain(big);
    expect((await alice.hook(INPUTS.PostToolUse)).stdout).toBe("");
  });

  test("a peer's forged trailer and fake block from cli stay inside its envelope: in a hook's context, a Stop's reason and check_messages", async () => {
    // Each a little different: the broker refuses the same text twice in a row from one sender.
    const forge = async (path: string) => sentMessageId((await bob.server.call("send_message", { to: "alice", message: `${forgedText()}\n(${path})` })).text);
    const viaContext = await forge("context");
    expectForgeryContained(context(await alice.hook(INPUTS.PostToolUse), "PostToolUse"), viaContext, bob.id);
    const viaStop = await forge("stop");
    expectForgeryContained(JSON.parse((await alice.hook(INPUTS.Stop)).stdout).reason, viaStop, bob.id);
    const viaTool = await forge("check_messages");
    expectForgeryContained((await alice.server.call("check_messages")).text, viaTool, bob.id);
  });

  test("a Stop hook with many long messages: the reason stays within Claude Code's cap (2,000 characters, 20 lines) and only what it shows is marked read", async () => {
    await alice.server.call("check_messages"); // start from an empty inbox
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await send("alice", `note ${i}: ${"detail ".repeat(60)}\nsecond line\nthird line`));
    const out = JSON.parse((await alice.hook(INPUTS.Stop)).stdout);
    expect(out.decision).toBe("block");
    const reason: string = out.reason;
    expect(reason.length).toBeLessThanOrEqual(HOOK_CAPS.reason.chars);
    expect(reason.split("\n").length).toBeLessThanOrEqual(HOOK_CAPS.reason.lines);
    const shown = readEnvelopes(reason).envelopes.map((e) => e.attrs.id!);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThan(ids.length);
    expect(shown).toEqual(ids.slice(0, shown.length));
    expect(reason).toContain(`(${ids.length - shown.length} more unread peer message${ids.length - shown.length === 1 ? "" : "s"} not shown here: call the claude-peers check_messages tool`);
    const states = await Promise.all(ids.map((id) => messageState(world.t, id)));
    expect(states.slice(0, shown.length)).toEqual(shown.map(() => "read"));
    for (const state of states.slice(shown.length)) expect(state).not.toBe("read");
    const rest = readEnvelopes((await alice.server.call("check_messages")).text).envelopes.map((e) => e.attrs.id);
    expect(rest).toEqual(ids.slice(shown.length));
  });

  test("a Claude Code started with channel push for claude-peers: the channel delivers and its hooks stay quiet", async () => {
    const id = await send("carol", "pushed, not hooked");
    await carol.server.waitForChannel((m) => m.meta.message_id === id, "carol's channel notification");
    for (const event of HOOK_EVENTS) expect(await carol.hook(INPUTS[event])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await messageState(world.t, id)).toBe("delivered");
  });

  test("started with the channel flag but API-key auth (Claude Code drops every push): its hooks deliver", async () => {
    const erin = await openSession(world, "gwen", ["--dangerously-load-development-channels", "server:claude-peers"], { env: { ANTHROPIC_API_KEY: "sk-ant-api03-test" } });
    try {
      // Its server takes no push (Claude Code would drop it): the message is not "delivered" before a hook showed it.
      const id = await send("gwen", "never pushed, shown by the hook");
      expect(await messageState(world.t, id)).toBe("queued");
      expect(context(await erin.hook(INPUTS.PostToolUse), "PostToolUse")).toContain(`id="${id}"`);
      expect(await messageState(world.t, id)).toBe("read");
      expect(erin.server.channel).toEqual([]);
    } finally {
      await erin.server.stop();
    }
  });

  test("a server behind a wrapper (its parent a shell, not Claude Code) gets its mail through the session id", async () => {
    const wrapped = await openSession(world, "dave", [], { wrap: true });
    try {
      const id = await send("dave", "for the wrapped server");
      expect(context(await wrapped.hook(INPUTS.PostToolUse), "PostToolUse")).toContain(`id="${id}"`);
      expect(await messageState(world.t, id)).toBe("read");
    } finally {
      await wrapped.server.stop();
    }
  });

  test("after /clear (a session id the broker has not seen), ancestry finds the session and the new id names it from then on", async () => {
    const id = await send("bob", "after the clear");
    const cleared = await bob.hook({ ...INPUTS.SessionStart, source: "clear", session_id: "bob-after-clear" });
    expect(context(cleared, "SessionStart")).toContain(`id="${id}"`);
    // The new id alone (ancestors that are no session's) now finds bob.
    const res = await broker.post("/hook", { ancestors: [process.pid], session_id: "bob-after-clear" });
    expect(HookResultSchema.parse(await res.json()).peer?.name).toBe("bob");
  });

  test("no nagging where push is trusted: a flagged session's tool results leave out mail already pushed to Claude; others count it", async () => {
    for (const session of [alice, carol]) await session.server.call("check_messages"); // start from empty inboxes
    const [forAlice, forCarol] = [await send("alice", "for alice, unflagged"), await send("carol", "pushed to carol")];
    await carol.server.waitForChannel((m) => m.meta.message_id === forCarol, "carol's push");
    await waitFor(async () => (await messageState(world.t, forCarol)) === "delivered", "carol's ack");
    // alice's Claude Code has no channel flag: her server takes no push, and the message waits, counted.
    expect(await messageState(world.t, forAlice)).toBe("queued");
    expect(alice.server.channel.some((m) => m.meta.message_id === forAlice)).toBe(false);
    expect((await alice.server.call("whoami")).text).toEndWith("(1 unread peer message waiting: call check_messages.)");
    expect((await carol.server.call("whoami")).text).not.toContain("unread peer message");
    expect((await carol.server.call("check_messages")).text).toContain("pushed to carol"); // still unread: returned, then read
    await alice.server.call("check_messages");
  });

  describe("mail flags: the plugin's frequent hooks start no Bun while no mail waits", () => {
    const plugin = readPluginHooks().PostToolUse![0]!.hooks[0]!.command;
    /** The plugin's hook command as Claude Code runs it; `root` stands for ${CLAUDE_PLUGIN_ROOT}. */
    const flagged = (root: string) => plugin.replaceAll("${CLAUDE_PLUGIN_ROOT}", root);
    const flag = (session: string) => join(world.t.home, ".claude-peers-mail", session);
    const run = (s: Session, command: string) => s.hookWith(INPUTS.PostToolUse, command);

    test("no mail: the shell exits 0 before Bun would start (a root where no cli.ts is shows it never ran)", async () => {
      await alice.hook(INPUTS.PostToolUse); // a Bun hook run: the broker clears the flag of a session with nothing unread
      expect(existsSync(flag("session-alice"))).toBe(false);
      expect(await run(alice, flagged("/nonexistent"))).toMatchObject({ code: 0, stdout: "", stderr: "" });
    });

    test("mail sets the flag; the hook then runs Bun, shows the mail, and the flag is cleared once it is read", async () => {
      const id = await send("alice", "behind a flag");
      expect(existsSync(flag("session-alice"))).toBe(true);
      const out = await run(alice, flagged(join(ROOT, "plugin")));
      expect(context(out, "PostToolUse")).toContain(`id="${id}"`);
      expect(existsSync(flag("session-alice"))).toBe(false);
    });

    test("a session that ends takes its flag along, mail waiting or not; the folder stays", async () => {
      const dave = await openSession(world, "dave");
      await send("dave", "never read");
      expect(existsSync(flag("session-dave"))).toBe(true);
      await dave.server.stop(); // Claude Code exits, and its server with it
      await waitFor(() => !existsSync(flag("session-dave")), "dave's flag to be removed");
      expect(existsSync(join(world.t.home, ".claude-peers-mail"))).toBe(true);
    });
  });

  describe("the waiter (bun cli.ts hook --wait, asyncRewake)", () => {
    /** Until the broker holds this session's waiter (its /status lists the peers waited for). */
    const hookWaiters = async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).hooks_waiting;
    const waiterHeld = (session: Session) => waitFor(async () => (await hookWaiters()).includes(session.id), `${session.id}'s waiter to be waiting`);

    test("waits without a sound until a peer writes, then hands the mail to Claude on stderr with exit 2, marked read", async () => {
      const waiter = await alice.startWaiter();
      await waiterHeld(alice);
      let settled = false;
      void waiter.done.finally(() => (settled = true));
      expect(settled).toBe(false);
      const id = await send("alice", "wake up, the build is red");
      const run = await waiter.done;
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(readEnvelopes(run.stderr.trimEnd()).envelopes).toEqual([{ attrs: expect.objectContaining({ id, from_id: "cli" }), text: "wake up, the build is red" }]);
      expect(run.stderr).toContain("in_reply_to=<its id>");
      expect(await messageState(world.t, id)).toBe("read");
      expect(await hookWaiters()).not.toContain(alice.id);
    });

    test("a malformed setting the waiter does not use (CLAUDE_PEERS_GROUPS, damping) does not stop it waking Claude", async () => {
      const waiter = await alice.startWaiter(`${BAD_SETTINGS} ${WAIT_COMMAND}`);
      await waiterHeld(alice);
      const id = await send("alice", "wake up despite a bad setting");
      const run = await waiter.done;
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`id="${id}"`);
      expect(await messageState(world.t, id)).toBe("read");
    });

    test("a forged trailer and fake block from cli stay inside their envelope in the waiter's text", async () => {
      const waiter = await alice.startWaiter();
      await waiterHeld(alice);
      const id = sentMessageId((await bob.server.call("send_message", { to: "alice", message: `${forgedText()}\n(waiter)` })).text);
      const run = await waiter.done;
      expect(run.code).toBe(2);
      expectForgeryContained(run.stderr.trimEnd(), id, bob.id);
    });

    test("mail too long for the waiter's text still wakes the session, saying to call check_messages; it stays unread", async () => {
      const waiter = await alice.startWaiter();
      await waiterHeld(alice);
      const id = await send("alice", "y".repeat(HOOK_CAPS.additionalContext.chars + 1));
      const run = await waiter.done;
      expect(run.code).toBe(2);
      expect(run.stderr.trimEnd()).toBe("claude-peers: 1 unread peer message waiting, too long to show here: call the claude-peers check_messages tool to read it.");
      expect(await messageState(world.t, id)).not.toBe("read");
      expect((await alice.server.call("check_messages")).text).toContain(id);
    });

    test("one waiter per session: a newer one replaces the older, which leaves quietly", async () => {
      const first = await alice.startWaiter();
      await waiterHeld(alice);
      const second = await alice.startWaiter();
      expect(await first.done).toMatchObject({ code: 0, stdout: "", stderr: "" });
      const id = await send("alice", "for the newer waiter");
      expect((await second.done).stderr).toContain(`id="${id}"`);
    });

    test("mail that comes during a turn is the hooks' to show: a turn beginning ends the waiter, and the Stop hook shows what came", async () => {
      const waiter = await alice.startWaiter();
      await waiterHeld(alice);
      await alice.hook(INPUTS.UserPromptSubmit); // a turn begins
      expect(await waiter.done).toMatchObject({ code: 0, stderr: "" });
      const during = await send("alice", "sent during the turn");
      const stop = await alice.hook(INPUTS.Stop); // the turn ends: the Stop hook shows it...
      expect(JSON.parse(stop.stdout).reason).toContain(`id="${during}"`);
      const next = await alice.startWaiter(); // ...and the waiter Stop starts finds nothing of its own
      await waiterHeld(alice);
      await alice.hook(INPUTS.UserPromptSubmit);
      expect(await next.done).toMatchObject({ code: 0, stderr: "" });
    });

    test("mail that comes as the turn ends, before the waiter Stop started has asked, is the waiter's (no Stop hook showed it)", async () => {
      await alice.hook(INPUTS.UserPromptSubmit); // a turn
      const late = await send("alice", "sent as the turn ended");
      const waiter = await alice.startWaiter(); // Stop: the waiter, with no Stop hook before it
      const run = await waiter.done;
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`id="${late}"`);
    });

    test("a Claude Code in print mode (-p) gets no waiter: it ends after its turn, and waits for background hooks first", async () => {
      const printing = await openSession(world, "frank", ["-p", "do the thing"]);
      try {
        const waiter = await printing.startWaiter();
        expect(await waiter.done).toMatchObject({ code: 0, stdout: "", stderr: "" });
      } finally {
        await printing.server.stop();
      }
    });

    test("quiet where channels deliver: a Claude Code started with the channel flag gets no waiter", async () => {
      const waiter = await carol.startWaiter();
      expect(await waiter.done).toMatchObject({ code: 0, stdout: "", stderr: "" });
    });

    test("where the plugin's monitor holds the session, the monitor shows mail once and hooks and waiter stand down; once it dies, the waiter takes over", async () => {
      const mona = await openSession(world, "mona");
      try {
        const monitored = async () => StatusResultSchema.parse(await (await broker.post("/status", {})).json()).monitors;
        const monitor = await mona.startWaiter(MONITOR_COMMAND);
        await waitFor(async () => (await monitored()).includes(mona.id), "the monitor to hold the session");
        const first = await send("mona", "for the monitor\nline two");
        await waitFor(async () => (await messageState(world.t, first)) === "read", "the monitor to show it");
        const unseen = await send("mona", "while the monitor holds");
        // Every hook event prints nothing while the monitor holds the session (the monitor may show it meanwhile).
        for (const event of HOOK_EVENTS) expect((await mona.hook(INPUTS[event])).stdout).toBe("");
        await waitFor(async () => (await messageState(world.t, unseen)) === "read", "the monitor to show the second");
        // The turn ended (Stop): Claude Code starts the waiter, which only waits while the monitor holds.
        const waiter = await mona.startWaiter();
        await waiterHeld(mona);
        // The monitor dies: after its hold runs out (MONITOR_GRACE_MS) the waiter brings the next message.
        process.kill(monitor.pid, "SIGKILL");
        const run = await monitor.done;
        expect(run.stdout.split("\n").filter((l) => l.includes(first))).toHaveLength(1);
        expect(run.stdout).toContain(String.raw`"for the monitor\nline two"`);
        const second = await send("mona", "after the monitor died");
        const woken = await waiter.done;
        expect(woken.code).toBe(2);
        expect(woken.stderr).toContain(`id="${second}"`);
        expect(woken.stderr).not.toContain(first);
      } finally {
        await mona.server.stop();
      }
    });

    test("it never outlives its session: when the session's server leaves, the waiter leaves too", async () => {
      const dave = await openSession(world, "erin");
      const waiter = await dave.startWaiter();
      await waiterHeld(dave);
      void waiter.done.catch(() => {}); // the stand-in that would report it is gone too
      await dave.server.stop(); // Claude Code exits: the server goes, and with it the stand-in
      await waitFor(() => !pidAlive(waiter.pid), "the waiter's process to be gone");
      expect(await hookWaiters()).not.toContain(dave.id);
    });
  });

  test("an agent run from a session's shell whose own server has not registered is not that session: no mail, nothing marked, its id not tied", async () => {
    const id = await send("alice", "for the outer session only");
    // alice's Claude Code → sh (its Bash tool) → the nested agent → sh → bun cli.ts hook, with the nested session's id.
    const nested = `"${process.execPath}" "${NESTED_AGENT}" '${HOOK_COMMAND}'`;
    for (const event of HOOK_EVENTS) {
      expect(await alice.hookWith({ ...INPUTS[event], session_id: "nested-session" }, nested)).toMatchObject({ code: 0, stdout: "", stderr: "" });
    }
    expect(await messageState(world.t, id)).not.toBe("read");
    const tied = await broker.post("/hook", { ancestors: [process.pid], session_id: "nested-session", peek: true });
    expect(HookResultSchema.parse(await tied.json()).peer).toBeNull();
    expect(context(await alice.hook(INPUTS.UserPromptSubmit), "UserPromptSubmit")).toContain(id);
  });

  test("a hook whose ancestors are no session's Claude Code prints nothing and marks nothing", async () => {
    const id = await send("alice", "not for strangers");
    expect(await hookOutsideSessions(world.t, INPUTS.UserPromptSubmit)).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await messageState(world.t, id)).not.toBe("read");
    expect(context(await alice.hook(INPUTS.UserPromptSubmit), "UserPromptSubmit")).toContain(id);
  });

  describe("the broker's /hook routes", () => {
    test("POST /hook finds the live peer whose parent is one of the ancestors (nearest first) and changes nothing", async () => {
      const id = await send("bob", "seen by the route");
      const res = await broker.post("/hook", { ancestors: [999_999_999, bob.server.pid, alice.server.pid] });
      const result = HookResultSchema.parse(await res.json());
      expect(result.peer?.id).toBe(bob.id);
      expect(result.parent_pid).toBe(bob.server.pid);
      expect(result.messages.map((m) => m.id)).toEqual([id]);
      expect(result.unread).toBe(1);
      expect(await messageState(world.t, id)).not.toBe("read");

      const read = await broker.post("/hook/read", { peer_id: bob.id, ids: [id] });
      expect(await read.json()).toEqual({ updated: [id], unread: 0 });
      expect(await messageState(world.t, id)).toBe("read");
    });

    test("ancestors that hold no live peer's parent: peer null, no messages", async () => {
      const res = await broker.post("/hook", { ancestors: [999_999_999] });
      expect(await res.json()).toEqual({ peer: null, parent_pid: null, messages: [], unread: 0 });
    });

    test.each([
      ["/hook", {}, /^ancestors: /],
      ["/hook", { ancestors: [] }, /^ancestors: /],
      ["/hook", { ancestors: [0] }, /^ancestors\.0: /],
      ["/hook", { ancestors: ["123"] }, /^ancestors\.0: /],
      ["/hook", { ancestors: [1], max_chars: 10 }, /^max_chars: /],
      ["/hook/read", { peer_id: "cli", ids: ["m-1"] }, /^peer_id: /],
      ["/hook/read", { peer_id: "p-0123456789", ids: [] }, /^ids: /],
    ])("%s with %j is a 400 naming the field", async (path, body, field) => {
      await expectWireError(await broker.post(path, body), 400, field);
    });

    test("/hook/read for an unknown peer is 404; GET /hook is 405", async () => {
      await expectWireError(await broker.post("/hook/read", { peer_id: "p-0123456789", ids: ["m-1"] }), 404, /peer_id/);
      await expectWireError(await broker.fetch("/hook", { headers: { authorization: `Bearer ${broker.token}` } }), 405, /POST \/hook/);
    });
  });
});

describe("hook without a usable broker: exit 0, nothing printed", () => {
  let t: TestEnv;
  beforeAll(() => {
    t = makeTestEnv();
  });
  afterAll(() => t.cleanup());

  // How fast these runs are is bench/hook.ts's figure, not an assertion here.
  async function expectQuiet() {
    expect(await hookOutsideSessions(t, INPUTS.PostToolUse)).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }

  test("no token file: no broker ever ran with this database", expectQuiet);

  test("a token file but nothing on the socket (no socket file)", async () => {
    writeFileSync(t.tokenPath, `${"k".repeat(43)}\n`, { mode: 0o600 });
    await expectQuiet();
  });

  test("a foreign program on the socket", async () => {
    writeFileSync(t.tokenPath, `${"k".repeat(43)}\n`, { mode: 0o600 });
    mkdirSync(dirname(t.socketPath), { recursive: true, mode: 0o700 });
    const other = Bun.serve({ unix: t.socketPath, fetch: () => new Response("<html>not a broker</html>", { status: 200 }) });
    try {
      await expectQuiet();
    } finally {
      await other.stop(true);
    }
  });

  test("a program that accepts the connection and never answers: quiet once the request times out", async () => {
    writeFileSync(t.tokenPath, `${"k".repeat(43)}\n`, { mode: 0o600 });
    mkdirSync(dirname(t.socketPath), { recursive: true, mode: 0o700 });
    const silent = Bun.listen({ unix: t.socketPath, socket: { data() {} } });
    try {
      const run = await hookOutsideSessions(t, INPUTS.PostToolUse);
      expect(run).toMatchObject({ code: 0, stdout: "", stderr: "" });
      expect(run.ms).toBeLessThan(5000); // the hook's own 750 ms timeout, not Claude Code's 5 s one
    } finally {
      silent.stop(true);
    }
  });

  test("input that is not a hook's JSON, or an event the hook does not answer", async () => {
    for (const input of ["", "not json", "[]", JSON.stringify({ hook_event_name: "PreToolUse" })]) {
      const proc = Bun.spawn([process.execPath, CLI, "hook"], { env: t.env, stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect({ input, code, stdout, stderr }).toEqual({ input, code: 0, stdout: "", stderr: "" });
    }
  });
});

describe("hook units", () => {
  test.each([
    [{ hook_event_name: "PostToolUse", tool_name: "Bash" }, { event: "PostToolUse", agentEvent: "PostToolUse", stopHookActive: false, subagent: false }],
    [{ hook_event_name: "Stop", stop_hook_active: true }, { event: "Stop", agentEvent: "Stop", stopHookActive: true, subagent: false }],
    [{ hook_event_name: "Stop", stop_hook_active: "yes" }, { event: "Stop", agentEvent: "Stop", stopHookActive: false, subagent: false }],
    [{ hook_event_name: "PostToolUse", agent_id: "a1", agent_type: "x" }, { event: "PostToolUse", agentEvent: "PostToolUse", stopHookActive: false, subagent: true }],
    [{ hook_event_name: "UserPromptSubmit", agent_type: "reviewer" }, { event: "UserPromptSubmit", agentEvent: "UserPromptSubmit", stopHookActive: false, subagent: false }],
    // Codex CLI 0.171.0 (its Stop input, as codex exec sent it): Claude Code's names and fields.
    [
      { session_id: "01a2323c-49a3-74a3-b4e6-10800b0b5085", turn_id: "t", hook_event_name: "Stop", model: "m", permission_mode: "bypassPermissions", stop_hook_active: false, last_assistant_message: "Done." },
      { event: "Stop", agentEvent: "Stop", stopHookActive: false, subagent: false, sessionId: "01a2323c-49a3-74a3-b4e6-10800b0b5085" },
    ],
    // Gemini CLI 0.61.0's events, as gemini -p sent them, in Claude Code's terms.
    [{ session_id: "894287d4-4e8a-4577-bdf5-39b18305ceec", hook_event_name: "SessionStart", source: "startup" }, { event: "SessionStart", agentEvent: "SessionStart", stopHookActive: false, subagent: false, sessionId: "894287d4-4e8a-4577-bdf5-39b18305ceec" }],
    [{ hook_event_name: "BeforeAgent", prompt: "say hi" }, { event: "UserPromptSubmit", agentEvent: "BeforeAgent", stopHookActive: false, subagent: false }],
    [{ hook_event_name: "AfterTool", tool_name: "mcp_claude-peers_whoami" }, { event: "PostToolUse", agentEvent: "AfterTool", stopHookActive: false, subagent: false }],
    [{ hook_event_name: "AfterAgent", prompt_response: "Done.", stop_hook_active: true }, { event: "Stop", agentEvent: "AfterAgent", stopHookActive: true, subagent: false }],
    [{ hook_event_name: "BeforeTool" }, null],
    [{ hook_event_name: "toString" }, null],
    [{ hook_event_name: "SubagentStop" }, null],
    [{ hook_event_name: "PreToolUse" }, null],
    [{}, null],
  ])("parseHookInput(%j)", (input, expected) => {
    expect(parseHookInput(JSON.stringify(input))).toEqual(expected as never);
  });

  test.each(["", "{", "null", "42", '"Stop"'])("parseHookInput(%p) is null", (text) => {
    expect(parseHookInput(text)).toBeNull();
  });

  test.each([
    ["claude", false],
    ["claude --dangerously-load-development-channels server:claude-peers", true],
    ["node /usr/lib/claude/cli.js --channels server:telegram server:claude-peers --model opus", true],
    ["claude --channels=server:claude-peers", true],
    ["claude --dangerously-load-development-channels plugin:peers@claude-peers", true],
    ["claude --channels plugin:telegram@claude-plugins-official", false],
    ["claude --channels server:claude-peers-old", false],
    ["claude server:claude-peers", false],
    // Only the flag's own values count: not a later prompt or option that mentions the server.
    ["claude --channels server:telegram --model opus server:claude-peers", false],
    ["claude --channels=server:telegram -p server:claude-peers", false],
  ])("channelsRequested(%p) is %p", (command, expected) => {
    expect(channelsRequested(command)).toBe(expected);
  });

  test.each([
    // [command, the registration asking, expected]: the flag must name this registration (Claude Code drops the other one's pushes)
    ["claude --dangerously-load-development-channels server:claude-peers", "server", true],
    ["claude --dangerously-load-development-channels server:claude-peers", "plugin", false],
    ["claude --dangerously-load-development-channels plugin:peers@claude-peers", "plugin", true],
    ["claude --dangerously-load-development-channels plugin:peers@claude-peers", "server", false],
    ["claude --channels=server:claude-peers,plugin:peers@claude-peers", "plugin", true],
  ] as const)("channelsRequested(%p) for the %p registration is %p", (command, registration, expected) => {
    expect(channelsRequested(command, registration)).toBe(expected);
  });

  test.each([
    [{ CLAUDE_PLUGIN_ROOT: "/home/u/.claude/plugins/cache/peers" }, "plugin"],
    [{}, "server"],
  ] as const)("registrationOf(%p) is %p", (env, expected) => {
    expect(registrationOf(env)).toBe(expected);
  });

  test.each([
    ["4242 (bun) S 4241 4242 1 0 -1", 4241],
    ["4242 (my (odd) name) R 77 4242 1 0 -1", 77],
    ["4242 (a b c) S 1 4242", 1],
    ["", undefined],
    [undefined, undefined],
  ])("parentFromStat(%p) is %p", (stat, expected) => {
    expect(parentFromStat(stat)).toBe(expected);
  });

  test("ancestorsFromPsTable: the chain from ps output (macOS), nearest first, stopping before pid 1", async () => {
    const ps = [
      "    1     0 /sbin/launchd",
      "  500     1 /Applications/Terminal.app/Contents/MacOS/Terminal",
      "  610   500 -zsh",
      "  700   610 claude --dangerously-load-development-channels server:claude-peers",
      "  720   700 bun /Users/me/claude-peers/server.ts",
      "  800   700 /bin/sh -c bun \"/Users/me/claude-peers/cli.ts\" hook",
      "  801   800 bun /Users/me/claude-peers/cli.ts hook",
    ].join("\n");
    const chain = ancestorsFromPsTable(ps, 801);
    expect(chain.map((a) => a.pid)).toEqual([800, 700, 610, 500]);
    expect(await chain[1]!.command()).toBe("claude --dangerously-load-development-channels server:claude-peers");
    expect(ancestorsFromPsTable(ps, 999)).toEqual([]);
    expect(ancestorsFromPsTable("  5  6 a\n  6  5 b", 5).map((a) => a.pid)).toEqual([6, 5]); // a cycle ends the walk
  });

  test.each([
    ['HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}', { a: 1 }],
    ["HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}", undefined],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n", undefined],
    ["HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>", undefined],
    ["HTTP/1.1 200 OK\r\nContent-Length: 2", undefined],
    ["", undefined],
  ])("parseResponse(%p)", (raw, expected) => {
    expect(parseResponse(raw)).toEqual(expected);
  });

  const message = (id: string, text: string) => wireMessage(id, text);
  const result = (messages: Message[], unread = messages.length): HookResult => ({ peer: null, parent_pid: 1, messages, unread });

  test("hook mail: a message handed to a hook is held from other hooks until read, or until the lease runs out", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("api"));
    const row = (await s.registry.authenticate(reg.secret))!;
    const sent = (await s.mail.send({ kind: "operator" }, { to: "api", text: "hello" })).message;
    const first = await s.hookMail.lease(hookAncestors([9, 4241]), 9000);
    expect(first).toMatchObject({ parent_pid: 4241, unread: 1, messages: [{ id: sent.id }] });
    expect(await s.hookMail.lease(hookAncestors([4241]), 9000)).toMatchObject({ unread: 0, messages: [] });

    s.clock.advance(HOOK_LEASE_MS); // the first hook died without marking it read
    await s.mail.poll(row); // still live
    expect(await s.hookMail.lease(hookAncestors([4241]), 9000)).toMatchObject({ unread: 1, messages: [{ id: sent.id }] });
    expect(await s.hookMail.read(reg.peer_id, [sent.id])).toEqual({ updated: [sent.id], unread: 0 });
    expect(await s.hookMail.lease(hookAncestors([4241]), 9000)).toMatchObject({ unread: 0, messages: [] });
  });

  test("hookOutput: nothing without unread mail; additionalContext per event, named as the agent named it; block for a stop", () => {
    expect(hookOutput({ event: "PostToolUse", agentEvent: "PostToolUse" }, result([]))).toBeNull();
    const mail = result([message("m-1", "hello")]);
    for (const [event, agentEvent] of [["SessionStart", "SessionStart"], ["UserPromptSubmit", "UserPromptSubmit"], ["PostToolUse", "PostToolUse"], ["PostToolUse", "AfterTool"], ["UserPromptSubmit", "BeforeAgent"]] as const) {
      const answer = hookOutput({ event, agentEvent }, mail)!;
      expect(answer.shown.map((m) => m.id)).toEqual(["m-1"]);
      expect(answer.output).toEqual({ hookSpecificOutput: { hookEventName: agentEvent, additionalContext: expect.any(String) } });
      const text = (answer.output as { hookSpecificOutput: { additionalContext: string } }).hookSpecificOutput.additionalContext;
      expect(readEnvelopes(text).envelopes).toEqual([{ attrs: expect.objectContaining({ id: "m-1", from: "web", from_id: "p-0123456789", sender: "another AI session" }), text: "hello" }]);
    }
    for (const agentEvent of ["Stop", "AfterAgent"]) {
      const stop = hookOutput({ event: "Stop", agentEvent }, mail)!;
      expect(stop.output).toMatchObject({ decision: "block" });
      const reason = (stop.output as { reason: string }).reason;
      expect(readEnvelopes(reason).envelopes.map((e) => e.attrs.id)).toEqual(["m-1"]);
      expect(reason).toEndWith("Deal with them (reply, or act if they concern your task), then finish your turn.");
    }
  });

  test("describeHookMail: envelopes in order; a count of what is left; a notice when none fit", () => {
    const { text, shown } = describeHookMail([message("m-1", "first"), message("m-2", "second")], 5, HOOK_CAPS.additionalContext);
    expect(text).toStartWith("claude-peers: 2 messages from other agent sessions (Claude Code, Codex, Gemini CLI)");
    expect(readEnvelopes(text).envelopes.map((e) => [e.attrs.id, e.text])).toEqual([["m-1", "first"], ["m-2", "second"]]);
    expect(shown.map((m) => m.id)).toEqual(["m-1", "m-2"]);
    expect(text).toEndWith("(3 more unread peer messages not shown here: call the claude-peers check_messages tool to read them.)");
    expect(describeHookMail([], 2, HOOK_CAPS.additionalContext)).toEqual({
      text: "claude-peers: 2 unread peer messages waiting, too long to show here: call the claude-peers check_messages tool to read them.",
      shown: [],
    });
  });

  test.each([
    ["Stop", HOOK_CAPS.reason],
    ["PostToolUse", HOOK_CAPS.additionalContext],
  ] as const)("%s: many long messages stay within the field's cap, the framing first, and only those shown count as shown", (event, cap) => {
    const many = Array.from({ length: 40 }, (_, i) => message(`m-${i}`, `${i}:${"x".repeat(150)}\n${"line\n".repeat(3)}end ${i}`));
    const answer = hookOutput({ event, agentEvent: event }, result(many, 45))!;
    const text = event === "Stop" ? (answer.output as { reason: string }).reason : (answer.output as { hookSpecificOutput: { additionalContext: string } }).hookSpecificOutput.additionalContext;
    expect(text.length).toBeLessThanOrEqual(cap.chars);
    expect(text.split("\n").length).toBeLessThanOrEqual(cap.lines);
    expect(text).toStartWith("claude-peers: ");
    const shown = readEnvelopes(text).envelopes.map((e) => e.attrs.id);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown).toEqual(many.slice(0, shown.length).map((m) => m.id));
    expect(answer.shown.map((m) => m.id as string | undefined)).toEqual(shown);
    expect(text).toContain(`(${45 - shown.length} more unread peer messages not shown here: call the claude-peers check_messages tool to read them.)`);
  });
});

describe("claudeAbove: the Claude Code whose flags count", () => {
  const chain = (...commands: string[]) => commands.map((command, i) => ({ pid: 100 + i, command: async () => command }));

  test.each<[string, string[], string[]]>([
    ["a hook: the shell Claude Code ran it through, then Claude Code", ["/bin/sh -c bun /x/claude-peers/plugin/cli.ts hook", "claude -p hi", "bash"], ["claude -p hi"]],
    ["a Claude Code inside another one's shell reads as itself", ["claude", "/bin/bash", "claude --channels server:claude-peers"], ["claude"]],
    ["npm's Claude Code", ["node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js --print", "bash"], ["node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js --print"]],
    ["no program named like Claude Code: all of them", ["sh -c x", "bash"], ["sh -c x", "bash"]],
  ])("%s", async (_, commands, expected) => {
    expect(await claudeAbove(chain(...commands))).toEqual(expected);
  });

  test("a nested Claude Code without the flag does not borrow its parent's", async () => {
    expect(await channelsRequestedAbove(chain("claude", "/bin/bash", "claude --dangerously-load-development-channels server:claude-peers"))).toBe(false);
  });
});
