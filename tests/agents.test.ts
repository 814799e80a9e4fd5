/**
 * Peers in other coding agents: a server says which agent it runs in (CLAUDE_PEERS_AGENT, which
 * `install` writes), list_peers, whoami and the CLI show it, and names stay unique across agents.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ErrorBodySchema, HookResultSchema, ListPeersResultSchema } from "../shared/protocol.ts";
import { peerRegistration, runningBroker, startBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { ROOT } from "./helpers/env.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { whoami } from "./helpers/server.ts";
import { hookAncestors } from "../shared/broker/hook-pairing.ts";
import { inProcessServices, registration } from "./helpers/in-process.ts";
import { openWorld, suiteWorld } from "./helpers/world.ts";

/** `await using w = openWorldDisposable()`: a world closed when the test leaves its scope. */
function openWorldDisposable() {
  const world = openWorld();
  return { ...world, [Symbol.asyncDispose]: () => world.close() };
}

describe("peers in Claude Code, Codex and Gemini CLI", () => {
  const world = suiteWorld();
  const { t } = world;

  test("each says its agent; list_peers, whoami and bun cli.ts peers show it; one name is unique across agents", async () => {
    await startBroker(t);
    const claude = await world.start({ name: "api" });
    const codex = await world.start({ name: "api", env: { CLAUDE_PEERS_AGENT: "codex" } });
    const gemini = await world.start({ name: "web", env: { CLAUDE_PEERS_AGENT: "gemini" } });
    expect((await whoami(claude)).name).toBe("api");
    expect((await whoami(codex)).name).toBe("api-2");
    await whoami(gemini);
    expect((await codex.call("whoami")).text).toContain("\nagent: codex\n");

    const listed = (await claude.call("list_peers")).text;
    expect(listed).toMatch(/^- api-2 \(id p-\S+, host \S+\): .*\n {2}.*; runs in codex; seen /m);
    expect(listed).toMatch(/^- web \(id p-\S+, host \S+\): .*\n {2}.*; runs in gemini; seen /m);

    const cli = await runCli(t, ["peers", "--json"]);
    const { peers } = ListPeersResultSchema.parse(JSON.parse(cli.stdout));
    expect(peers.map((p) => [p.name, p.agent])).toEqual([
      ["api", "claude-code"],
      ["api-2", "codex"],
      ["web", "gemini"],
    ]);
  });

  test("the broker refuses an agent it does not know, naming the field; an old server that says none runs in Claude Code", async () => {
    const broker = await runningBroker(t); // the first test's
    const bad = await broker.post("/register", { ...peerRegistration("x"), agent: "cursor" });
    expect(bad.status).toBe(400);
    expect(ErrorBodySchema.parse(await bad.json()).error.field).toBe("agent");
    const old = await broker.post("/register", peerRegistration("old"));
    expect(old.status).toBe(200);
    const { peers } = ListPeersResultSchema.parse(await (await broker.post("/peers", {})).json());
    expect(peers.find((p) => p.name === "old")?.agent).toBe("claude-code");
  });

  test("a server given an unknown CLAUDE_PEERS_AGENT exits at once and says what it takes", async () => {
    const run = await runToEnd([process.execPath, join(ROOT, "server.ts")], { ...t.env, CLAUDE_PEERS_AGENT: "cursor" }, t.home);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('CLAUDE_PEERS_AGENT must be one of claude-code, codex, gemini, got "cursor"');
  });
});

/**
 * Codex's interactive sessions share one app-server process, which runs each session's server: a
 * hook's ancestry then names several peers, and only the session id (which each server learns from
 * Codex's tool calls) tells them apart.
 */
describe("hooks of sessions whose servers share one parent", () => {
  test("codex peers under one app-server: no peer until a server learned the hook's session id, then exactly that one", async () => {
    await using s = inProcessServices();
    const a = await s.registry.register(registration("codex-a", { agent: "codex", parent_pid: 4241 }));
    s.clock.advance(1);
    const b = await s.registry.register(registration("codex-b", { agent: "codex", parent_pid: 4241 }));
    await s.mail.send({ kind: "operator" }, { to: "codex-a", text: "for a" });
    // Before either server knows its session: the hook of A's session must not get B (the newer) or A by guess.
    expect(await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-a")).toMatchObject({ peer: null, messages: [] });
    s.presence.addSessionId(b.peer_id, "thread-b");
    expect(await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-a")).toMatchObject({ peer: null });
    s.presence.addSessionId(a.peer_id, "thread-a");
    expect(await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-a")).toMatchObject({ peer: { id: a.peer_id }, messages: [{ text: "for a" }] });
    expect(await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-b")).toMatchObject({ peer: { id: b.peer_id }, messages: [] });
  });

  test("a codex server already tied to a session is not another session's, even as the only child (that one's server may still be starting)", async () => {
    await using s = inProcessServices();
    const a = await s.registry.register(registration("codex-a", { agent: "codex", parent_pid: 4241 }));
    await s.mail.send({ kind: "operator" }, { to: "codex-a", text: "for a" });
    expect((await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-a", "SessionStart", true)).peer?.id).toBe(a.peer_id); // the first hook ties it
    expect(await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-b")).toMatchObject({ peer: null, messages: [] });
    expect((await s.hookMail.lease(hookAncestors([9, 4241]), 9000, "thread-a")).messages).toMatchObject([{ text: "for a" }]);
    // A Claude Code server after /clear: the new id is its session's.
    const c = await s.registry.register(registration("cc", { parent_pid: 5000, session_id: "old-id" }));
    expect((await s.hookMail.lease(hookAncestors([5000]), 9000, "new-id")).peer?.id).toBe(c.peer_id);
  });

  test("one Claude Code session with two servers (plugin and claude mcp add): the newer, as before", async () => {
    await using s = inProcessServices();
    await s.registry.register(registration("api", { parent_pid: 4241 }));
    s.clock.advance(1);
    const newer = await s.registry.register(registration("api", { parent_pid: 4241 }));
    expect((await s.hookMail.lease(hookAncestors([4241]), 9000, "some-session")).peer?.id).toBe(newer.peer_id);
  });

  test("a real server learns its session id from a tool call's _meta (as Codex sends it) before the tool answers", async () => {
    await using w = openWorldDisposable();
    const broker = await startBroker(w.t);
    const env = { CLAUDE_PEERS_AGENT: "codex" };
    const first = await w.start({ name: "codex-a", env });
    const second = await w.start({ name: "codex-b", env }); // both children of this test process, like one app-server's
    await whoami(first);
    await whoami(second);
    const hook = async (session_id: string) =>
      HookResultSchema.parse(await (await broker.post("/hook", { ancestors: [process.pid], session_id, peek: true })).json()).peer?.name ?? null;
    expect(await hook("thread-a")).toBeNull();
    const result = await first.client.callTool({ name: "whoami", arguments: {}, _meta: { sessionId: "thread-a", threadId: "thread-a" } });
    expect(result.isError).toBeFalsy();
    expect(await hook("thread-a")).toBe("codex-a");
    expect(await hook("thread-b")).toBeNull();
  });
});
