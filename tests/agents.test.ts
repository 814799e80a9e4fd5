/**
 * Peers in other coding agents: a server says which agent it runs in (CLAUDE_PEERS_AGENT, which
 * `install` writes), list_peers, whoami and the CLI show it, and names stay unique across agents.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ErrorBodySchema, ListPeersResultSchema } from "../shared/protocol.ts";
import { peerRegistration, runningBroker, startBroker } from "./helpers/broker.ts";
import { runCli } from "./helpers/cli.ts";
import { ROOT } from "./helpers/env.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { whoami } from "./helpers/server.ts";
import { suiteWorld } from "./helpers/world.ts";

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
