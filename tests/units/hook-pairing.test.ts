/** pairHook: which live peer a hook belongs to, one row per rule (shared/broker/hook-pairing.ts). */
import { describe, expect, test } from "bun:test";
import { hookAncestors, pairHook, type HookAncestor, type HookCandidate } from "../../shared/broker/hook-pairing.ts";
import { isAgentCommand } from "../../shared/agent-process.ts";

type Peer = HookCandidate & { name: string };

/** A live peer named `name`, child of `parent`, registered at `at`, with these session ids. */
const peer = (name: string, parent: number, opts: { agent?: string; at?: number; sessions?: string[] } = {}): Peer => ({
  name,
  row: { parent_pid: parent, agent: opts.agent ?? "claude-code", registered_at: opts.at ?? 0 },
  sessionIds: new Set(opts.sessions ?? []),
});

/** Ancestors nearest first; a pid written as "a123" is an agent process. */
const chain = (...pids: Array<number | `a${number}`>): HookAncestor[] =>
  pids.map((p) => (typeof p === "number" ? { pid: p, agent: false } : { pid: Number(p.slice(1)), agent: true }));

describe("pairHook", () => {
  test.each<[string, Peer[], HookAncestor[], string | undefined, { name: string; parentPid: number | null; bind: string | null } | null]>([
    ["the server's parent among the ancestors names it", [peer("api", 20)], chain(10, "a20", 30), undefined, { name: "api", parentPid: 20, bind: null }],
    ["ancestry ties the hook's new session id to it (after /clear)", [peer("api", 20, { sessions: ["old"] })], chain(10, "a20"), "new", { name: "api", parentPid: 20, bind: "new" }],
    ["a session id it already has is not tied again", [peer("api", 20, { sessions: ["s1"] })], chain(10, "a20"), "s1", { name: "api", parentPid: 20, bind: null }],
    ["nearest first: an agent inside another one's shell gets its own server", [peer("outer", 30), peer("inner", 20)], chain(10, "a20", 25, "a30"), undefined, { name: "inner", parentPid: 20, bind: null }],
    ["the walk stops at the nearest agent: one with no server yet is not the session above it", [peer("outer", 30, { sessions: ["outer-s"] })], chain(10, "a20", 25, "a30"), "nested-s", null],
    ["stopped at an agent without a session id either: no session", [peer("outer", 30)], chain(10, "a20", 25, "a30"), undefined, null],
    ["stopped at an agent, the session id still names a server behind a wrapper", [peer("wrapped", 15, { sessions: ["s1"] }), peer("outer", 30)], chain(10, "a20", 25, "a30"), "s1", { name: "wrapped", parentPid: null, bind: null }],
    ["no agent recognised (an older hook): the walk goes on up, as before", [peer("api", 30)], chain(10, 20, 30), undefined, { name: "api", parentPid: 30, bind: null }],
    ["several children: the one with the hook's session id", [peer("a", 20, { agent: "codex", sessions: ["ta"] }), peer("b", 20, { agent: "codex", at: 5, sessions: ["tb"] })], chain("a20"), "ta", { name: "a", parentPid: 20, bind: null }],
    ["several Claude Code servers of one parent are one session's: the newest", [peer("old", 20), peer("new", 20, { at: 5 })], chain("a20"), "s1", { name: "new", parentPid: 20, bind: "s1" }],
    ["several Codex servers sharing a session id: the newest", [peer("a", 20, { agent: "codex", sessions: ["t"] }), peer("b", 20, { agent: "codex", at: 5, sessions: ["t"] })], chain("a20"), undefined, { name: "b", parentPid: 20, bind: null }],
    ["several Codex servers that have not learned the hook's session: none", [peer("a", 20, { agent: "codex" }), peer("b", 20, { agent: "codex", at: 5 })], chain("a20"), "ta", null],
    ["a Codex server tied to another session is not this one's, even as the only child", [peer("a", 20, { agent: "codex", sessions: ["ta"] })], chain("a20"), "tb", null],
    ["a Codex server tied to a session, asked without a session id: it", [peer("a", 20, { agent: "codex", sessions: ["ta"] })], chain("a20"), undefined, { name: "a", parentPid: 20, bind: null }],
    ["a lone Claude Code server with another session id is this one's (after /clear)", [peer("cc", 20, { sessions: ["old"] })], chain("a20"), "new", { name: "cc", parentPid: 20, bind: "new" }],
    ["no ancestor is a parent: the peers with the session id, newest first", [peer("w1", 15, { sessions: ["s"] }), peer("w2", 16, { at: 5, sessions: ["s"] })], chain(10, 11), "s", { name: "w2", parentPid: null, bind: null }],
    ["nothing matches: no session", [peer("api", 20, { sessions: ["s"] })], chain(10, 11), "other", null],
    ["no candidates: no session", [], chain(10, "a20"), "s", null],
  ])("%s", (_, candidates, ancestors, sessionId, expected) => {
    const paired = pairHook(candidates, ancestors, sessionId);
    expect(paired && { name: paired.peer.name, parentPid: paired.parentPid, bind: paired.bind }).toEqual(expected);
  });

  test("hookAncestors marks the wire's agent pid, and ignores one that is not among the ancestors", () => {
    expect(hookAncestors([1, 2, 3], 2)).toEqual(chain(1, "a2", 3));
    expect(hookAncestors([1, 2], 9)).toEqual(chain(1, 2));
    expect(hookAncestors([1, 2])).toEqual(chain(1, 2));
  });
});

describe("isAgentCommand", () => {
  test.each([
    ["claude --dangerously-skip-permissions", true],
    ["/home/u/.local/share/claude/versions/2.1.3 -p hi", true],
    ["node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", true],
    ["/usr/bin/node --max-old-space-size=8192 /usr/bin/gemini", true],
    ["node /repo/node_modules/.bin/codex exec hi", true],
    ["/repo/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex/codex app-server", true],
    ["bun /repo/tests/helpers/fake-claude-code.ts /repo/server.ts", true],
    ["/bin/sh -c bun /home/u/claude-peers/cli.ts hook", false],
    ["bun /home/u/claude-peers/cli.ts hook", false],
    ["bun test tests/hook.test.ts", false],
    ["/usr/lib/node_modules/bun/bin/bun.exe /repo/tests/helpers/fake-claude-print.ts sh", true],
    ["-bash", false],
    ["tmux new-session -s claude", false],
    ["", false],
  ])("%s → %p", (command, expected) => {
    expect(isAgentCommand(command)).toBe(expected);
  });
});
