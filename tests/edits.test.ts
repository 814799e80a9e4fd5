/**
 * Edit collisions end to end: a real broker, real servers, and `bun cli.ts hook --edits` run as
 * Claude Code runs it (a stand-in Claude Code process is the parent of the server and each hook),
 * in two worktrees of one repository and in another repository.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EditsResultSchema } from "../shared/protocol.ts";
import { runCli } from "./helpers/cli.ts";
import { sharedDatabase } from "./helpers/hosts.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession, type HookRun, type HookSession } from "./helpers/hook-session.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const SOURCE = Array.from({ length: 60 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";
const lineText = (n: number) => `export const line${n} = ${n};`;

/** Claude Code's PreToolUse input for an Edit replacing line `n` of `file`. */
const preEdit = (file: string, n: number) => ({ hook_event_name: "PreToolUse", tool_name: "Edit", tool_input: { file_path: file, old_string: lineText(n), new_string: `${lineText(n)} // changed` } });
/** Its PostToolUse, with the structuredPatch Claude Code reports (lines from..to changed). */
const postEdit = (file: string, from: number, to: number) => ({
  hook_event_name: "PostToolUse",
  tool_name: "Edit",
  tool_input: { file_path: file, old_string: lineText(from), new_string: "x" },
  tool_response: { filePath: file, structuredPatch: [{ oldStart: from, oldLines: to - from + 1, newStart: from, newLines: to - from + 1, lines: [] }] },
});

function output(run: HookRun): any {
  expect(run).toMatchObject({ code: 0, stderr: "" });
  return run.stdout === "" ? null : JSON.parse(run.stdout);
}
const quiet = (run: HookRun) => expect(output(run)).toBeNull();

describe("edit hooks across two worktrees of one repository", () => {
  const world = openWorld();
  let repo: string;
  let tree: string;
  let api: HookSession;
  let web: HookSession;
  let other: HookSession;
  const notices = (s: HookSession, text: string) => s.server.channel.filter((m) => m.meta.from_id === "claude-peers" && m.content.includes(text));

  beforeAll(async () => {
    repo = makeRepo(world.t.dir, "app", { "src/auth.ts": SOURCE, "src/db.ts": SOURCE, "src/api.ts": SOURCE, ".gitignore": "*.log\n" });
    tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
    const elsewhere = makeRepo(world.t.dir, "other", { "src/auth.ts": SOURCE });
    api = await openHookSession(world, "api", repo);
    [web, other] = await Promise.all([openHookSession(world, "web", tree), openHookSession(world, "other", elsewhere)]);
  });
  afterAll(() => world.close());

  test("the first session's edit of a file nobody else touched: nothing said", async () => {
    quiet(await api.hook(preEdit(join(repo, "src/auth.ts"), 10)));
    quiet(await api.hook(postEdit(join(repo, "src/auth.ts"), 10, 12)));
  });

  test("the second session (other worktree) is told who edited the file, when and which lines; the first gets one notice", async () => {
    const out = output(await web.hook(preEdit(join(tree, "src/auth.ts"), 30)));
    expect(Object.keys(out.hookSpecificOutput).sort()).toEqual(["additionalContext", "hookEventName"]);
    expect(out.hookSpecificOutput.hookEventName).toBe("PreToolUse");
    expect(out.hookSpecificOutput.additionalContext).toMatch(/^claude-peers: api \(claude-code, branch main, host [^)]+\) edited src\/auth\.ts just now \(lines 10–12\)\./);
    expect(out.hookSpecificOutput.additionalContext).toContain("send_message to=api");
    const notice = await api.server.waitForChannel((m) => m.content.includes("is about to edit src/auth.ts"), "api's notice");
    expect(notice.content).toMatch(/web \(claude-code, branch web, host [^)]+\) is about to edit src\/auth\.ts, which you edited just now \(lines 10–12\)/);
    expect(notice.meta.from_name).toBe("claude-peers");
  });

  test("told once: the same session's next edit of that file says nothing, and the first session gets no second notice", async () => {
    quiet(await web.hook(preEdit(join(tree, "src/auth.ts"), 40)));
    quiet(await web.hook(postEdit(join(tree, "src/auth.ts"), 40, 40)));
    // A later collision on another file: its notice arrives, and still only one about src/auth.ts.
    quiet(await api.hook(postEdit(join(repo, "src/api.ts"), 1, 1)));
    output(await web.hook(preEdit(join(tree, "src/api.ts"), 50)));
    await api.server.waitForChannel((m) => m.content.includes("is about to edit src/api.ts"), "the notice about src/api.ts");
    expect(notices(api, "src/auth.ts")).toHaveLength(1);
  });

  test("the editing side hears again once the other session edited the file since", async () => {
    quiet(await api.hook(postEdit(join(repo, "src/auth.ts"), 55, 56)));
    const out = output(await web.hook(preEdit(join(tree, "src/auth.ts"), 20)));
    expect(out.hookSpecificOutput.additionalContext).toContain("api (claude-code, branch main");
  });

  test("the same lines: refused once with the reason (never allow); the retry goes through", async () => {
    quiet(await api.hook(postEdit(join(repo, "src/db.ts"), 5, 8)));
    const out = output(await web.hook(preEdit(join(tree, "src/db.ts"), 6)));
    expect(Object.keys(out.hookSpecificOutput).sort()).toEqual(["hookEventName", "permissionDecision", "permissionDecisionReason"]);
    expect(out.hookSpecificOutput.permissionDecision).toBe("deny");
    expect(out.hookSpecificOutput.permissionDecisionReason).toMatch(/^claude-peers: edit refused once so you can coordinate\. api \(claude-code, branch main, host [^)]+\) edited src\/db\.ts just now \(lines 5–8\)\./);
    expect(out.hookSpecificOutput.permissionDecisionReason).toContain("tried again within 5 min goes through");
    quiet(await web.hook(preEdit(join(tree, "src/db.ts"), 6)));
    await api.server.waitForChannel((m) => m.content.includes("is about to edit src/db.ts"), "api's notice about src/db.ts");
  });

  test("never about a session's own edits, never across repositories", async () => {
    quiet(await api.hook(postEdit(join(repo, "src/solo.ts"), 1, 1)));
    quiet(await api.hook(preEdit(join(repo, "src/solo.ts"), 1)));
    quiet(await other.hook(preEdit(join(other.cwd, "src/auth.ts"), 10))); // the same path in another repository
  });

  test("a whole-file Write over lines another session edited is refused once", async () => {
    const out = output(await web.hook({ hook_event_name: "PreToolUse", tool_name: "Write", tool_input: { file_path: join(tree, "src/auth.ts"), content: "x" } }));
    expect(out.hookSpecificOutput.permissionDecision).toBe("deny");
  });

  test("Codex's apply_patch: every file the patch adds, updates, deletes or moves to; a move overwrites its target whole", async () => {
    quiet(await api.hook(postEdit(join(repo, "src/moved.ts"), 1, 1)));
    const patch = ["*** Begin Patch", "*** Update File: src/old.ts", "*** Move to: src/moved.ts", "@@", "-a", "+b", "*** Add File: src/new.ts", "+x", "*** End Patch"].join("\n");
    const out = output(await web.hook({ hook_event_name: "PreToolUse", tool_name: "apply_patch", tool_input: { command: patch } }));
    expect(out.hookSpecificOutput.permissionDecision).toBe("deny");
    expect(out.hookSpecificOutput.permissionDecisionReason).toContain("edited src/moved.ts");
  });

  test("Gemini CLI: BeforeTool can only refuse (decision deny); its warning comes with AfterTool", async () => {
    quiet(await api.hook(postEdit(join(repo, "src/gem.ts"), 1, 3)));
    const before = output(await web.hook({ hook_event_name: "BeforeTool", tool_name: "replace", tool_input: { file_path: "src/gem.ts", old_string: "nothing like it", new_string: "y" } }));
    expect(before).toBeNull(); // other lines: no refusal, and BeforeTool cannot warn
    const after = output(await web.hook({ hook_event_name: "AfterTool", tool_name: "replace", tool_input: { file_path: "src/gem.ts", old_string: "a", new_string: "b" }, tool_response: {} }));
    expect(after.hookSpecificOutput.hookEventName).toBe("AfterTool");
    expect(after.hookSpecificOutput.additionalContext).toContain("api (claude-code, branch main");
    quiet(await api.hook(postEdit(join(repo, "src/gem2.ts"), 1, 3)));
    const refused = output(await web.hook({ hook_event_name: "BeforeTool", tool_name: "write_file", tool_input: { file_path: "src/gem2.ts", content: "x" } }));
    expect(Object.keys(refused).sort()).toEqual(["decision", "reason"]);
    expect(refused.decision).toBe("deny");
  });

  test("bad input: the edit goes ahead with nothing said (exit 0, no output)", async () => {
    writeFileSync(join(world.t.dir, "outside.ts"), SOURCE);
    symlinkSync(join(world.t.dir, "outside.ts"), join(tree, "src", "link-out.ts"));
    mkdirSync(join(world.t.dir, "plain"), { recursive: true });
    quiet(await api.hook(postEdit(join(world.t.dir, "outside.ts"), 1, 1)));
    const runs = [
      preEdit(join(repo, "..", "outside.ts"), 1), // outside the repository
      preEdit(join(tree, "src", "link-out.ts"), 1), // a symlink out of it
      preEdit(join(world.t.dir, "plain", "x.ts"), 1), // a folder that is not a repository
      preEdit(join(tree, "debug.log"), 1), // ignored
      preEdit(join(tree, "bun.lock"), 1), // a lock file
      { hook_event_name: "PreToolUse", tool_name: "Edit", tool_input: { file_path: 42 } },
      { hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: "rm -rf /" } },
      { hook_event_name: "PostToolUse", tool_name: "Edit", tool_input: { file_path: join(tree, "src/auth.ts") }, tool_response: { structuredPatch: "nope" } },
    ];
    for (const input of runs) quiet(await web.hook(input));
    expect((await web.hook({}, `echo 'not json' | ${"\"" + process.execPath + "\""} "${join(import.meta.dir, "..", "cli.ts")}" hook --edits`)).stdout).toBe("");
  });

  test("a huge patch (100,000 hunks) is recorded as a few spans; the other side still hears the lines", async () => {
    const hunks = Array.from({ length: 100_000 }, (_, i) => ({ oldStart: i * 3 + 1, oldLines: 1, newStart: i * 3 + 1, newLines: 1, lines: [] }));
    const run = await api.hook({ hook_event_name: "PostToolUse", tool_name: "Edit", tool_input: { file_path: join(repo, "src/big.ts") }, tool_response: { structuredPatch: hunks } });
    quiet(run);
    const out = output(await web.hook({ hook_event_name: "PreToolUse", tool_name: "Write", tool_input: { file_path: join(tree, "src/big.ts"), content: "x" } }));
    expect(out.hookSpecificOutput.permissionDecisionReason).toMatch(/edited src\/big\.ts just now \(lines 1–\d+, \d+–\d+, \d+–\d+, \d+–\d+, …\)/);
  });

  test("claim_files: a claimed file's edit by another session is refused once; the claim shows in list_peers and whoami; release ends it", async () => {
    const claimed = await api.server.call("claim_files", { paths: ["src/payments/**"], ttl_s: 600 });
    expect(claimed).toMatchObject({ isError: false });
    expect(claimed.text).toMatch(/^Claimed\. Your claims: src\/payments\/\*\* \(until \S+\)\./);
    const out = output(await web.hook(preEdit(join(tree, "src/payments/card.ts"), 1)));
    expect(out.hookSpecificOutput.permissionDecision).toBe("deny");
    expect(out.hookSpecificOutput.permissionDecisionReason).toMatch(/api \(claude-code, branch main, host [^)]+\) claims src\/payments\/card\.ts \(src\/payments\/\*\*\) for 10 more min\./);
    await api.server.waitForChannel((m) => m.content.includes("is about to edit src/payments/card.ts, which you claim (src/payments/**)"), "api's notice of the claimed file");
    const peers = await web.server.call("list_peers", { scope: "repo" });
    expect(peers.text).toMatch(/- api \(id [^)]+\): [^\n]*\n[^\n]*\n  editing: src\/big\.ts, src\/gem2\.ts, src\/gem\.ts; claims: src\/payments\/\*\*(\n|$)/); // the newest three
    expect((await api.server.call("whoami")).text).toContain("claims: src/payments/**");
    // web claims a file api edited: told who is there.
    const overlap = await web.server.call("claim_files", { paths: ["src/db.ts"] });
    expect(overlap.text).toMatch(/Others there: api edited src\/db\.ts/);
    const released = await api.server.call("claim_files", { release: true });
    expect(released.text).toStartWith("Released 1 claim. You hold no claims.");
    quiet(await other.hook(preEdit(join(other.cwd, "src/payments/card.ts"), 1))); // another repository never saw it
  });

  test("claim_files refuses the whole tree, paths out of the repository and too many patterns, naming the field", async () => {
    for (const [paths, error] of [
      [["**"], /paths\.0: "\*\*" would claim the whole repository/],
      [["src/x.ts", "./"], /paths\.1: "\.\/" would claim the whole repository/],
      [["../../etc/passwd"], /paths\.0: "\.\.\/\.\.\/etc\/passwd" leaves the repository/],
      [["/etc/passwd"], /paths\.0: "\/etc\/passwd" must be relative/],
      [Array.from({ length: 33 }, (_, i) => `f${i}.ts`), /paths/],
    ] as const) {
      const r = await api.server.call("claim_files", { paths });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(error);
    }
    expect((await api.server.call("claim_files", {})).text).toMatch(/paths/);
  });

  test("bun cli.ts edits: who is editing what, collisions marked; --json for scripts", async () => {
    const json = await runCli(world.t, ["edits", "--json"]);
    expect(json.code).toBe(0);
    const result = EditsResultSchema.parse(JSON.parse(json.stdout));
    expect(result.window_s).toBe(1800);
    const auth = result.files.filter((f) => f.path === "src/auth.ts" && f.kind === "edit");
    expect(auth.map((f) => f.name).sort()).toEqual(["api", "other", "web"]);
    expect(auth.filter((f) => f.colliding).map((f) => f.name).sort()).toEqual(["api", "web"]); // other's is another repository's file
    expect(new Set(auth.map((f) => f.repo)).size).toBe(2);
    expect(result.files.find((f) => f.path === "src/solo.ts")).toMatchObject({ name: "api", colliding: false, lines: "1" });
    const table = await runCli(world.t, ["edits"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^! +src\/auth\.ts +\S+ +api@\S+ +claude-code +main /m);
    expect(table.stdout).toContain("! another live session edited or claims it too");
  });

  test("CLAUDE_PEERS_COLLISIONS=off in a session: its hook says nothing", async () => {
    const quietOne = await openHookSession(world, "calm", tree, { CLAUDE_PEERS_COLLISIONS: "off" });
    // The env reaches the stand-in and through it the hook.
    quiet(await quietOne.hook(preEdit(join(tree, "src/db.ts"), 6)));
  });
});

// One cluster for the file; without PostgreSQL installed (off CI) the two-host case is skipped.
const pg = await usePostgres();
afterAll(() => pg?.stop());

describe.skipIf(!pg)("edit hooks across two hosts on one PostgreSQL", () => {
  test("a clone of the same repository (by origin) on another host: warned with that host's session, which gets the notice", async () => {
    const db = await sharedDatabase(pg!);
    try {
      const [laptop, desktop] = [db.host("laptop"), db.host("desktop")];
      const clone = (world: typeof laptop, name: string) => {
        const dir = makeRepo(world.t.dir, name, { "src/auth.ts": SOURCE });
        Bun.spawnSync(["git", "remote", "add", "origin", "git@github.com:Acme/App.git"], { cwd: dir });
        return dir;
      };
      const [here, there] = [clone(laptop, "app"), clone(desktop, "checkout")];
      const alice = await openHookSession(laptop, "alice", here);
      const bob = await openHookSession(desktop, "bob", there);
      // No stake file where a session of another host works (its edits reach this broker only at a refresh: Bun decides);
      // a session here alone in another repository gets one. Its file written means a refresh that saw bob live ran.
      const stakes = (world: typeof laptop, name: string) => join(world.t.home, ".claude-peers-edits", `stakes-session-${name}`);
      await openHookSession(laptop, "carol", makeRepo(laptop.t.dir, "solo", { "src/s.ts": SOURCE }));
      await waitFor(() => existsSync(stakes(laptop, "carol")), "carol's stake file on laptop");
      expect(existsSync(stakes(laptop, "alice"))).toBe(false);
      await openHookSession(desktop, "dave", makeRepo(desktop.t.dir, "solo", { "src/s.ts": SOURCE }));
      await waitFor(() => existsSync(stakes(desktop, "dave")), "dave's stake file on desktop");
      expect(existsSync(stakes(desktop, "bob"))).toBe(false);
      quiet(await alice.hook(postEdit(join(here, "src/auth.ts"), 10, 12)));
      const out = output(await bob.hook(preEdit(join(there, "src/auth.ts"), 11)));
      expect(out.hookSpecificOutput.permissionDecision).toBe("deny");
      expect(out.hookSpecificOutput.permissionDecisionReason).toMatch(/alice \(claude-code, branch main, host laptop\) edited src\/auth\.ts just now \(lines 10–12\)/);
      const notice = await alice.server.waitForChannel((m) => m.content.includes("is about to edit src/auth.ts"), "alice's notice from the other host");
      expect(notice.content).toMatch(/^bob \(claude-code, branch main, host desktop\) is about to edit src\/auth\.ts/);
      quiet(await bob.hook(preEdit(join(there, "src/auth.ts"), 11))); // the retry goes through, and counts as bob's edit
      const edits = EditsResultSchema.parse(JSON.parse((await runCli(laptop.t, ["edits", "--json"])).stdout));
      expect(edits.files.filter((f) => f.path === "src/auth.ts").map((f) => `${f.name}@${f.host} ${f.repo}`).sort()).toEqual(["alice@laptop github.com/acme/app", "bob@desktop github.com/acme/app"]);
    } finally {
      await db.close();
    }
  });
});

describe("edit hooks with no broker", () => {
  const world = openWorld();
  afterAll(() => world.close());
  test("no token file, no broker: exit 0 and nothing printed, well under a second", async () => {
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "cli.ts"), "hook", "--edits"], {
      env: world.t.env,
      stdin: new TextEncoder().encode(JSON.stringify(preEdit(join(world.t.dir, "x.ts"), 1))),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ stdout, stderr, code }).toEqual({ stdout: "", stderr: "", code: 0 });
  });
});
