/**
 * Edit collisions in the real Claude Code CLI (2.1.332, offline against a local fake model API),
 * installed by `bun cli.ts install claude`: two `claude -p` sessions in two worktrees of one
 * repository, live at once. Session one's model edits src/auth.ts; session two's model then edits
 * it too: session two's next model request carries the warning (the pre-edit hook's
 * additionalContext), and session one gets the notice (its hooks bring it into its next request).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { EditsResultSchema, type EditsResult } from "../shared/protocol.ts";
import { runCli } from "./helpers/cli.ts";
import { CLAUDE, claudeCli } from "./helpers/claude-cli.ts";
import { startFakeAnthropic, type FakeTurn } from "./helpers/fake-anthropic.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { runToEnd } from "./helpers/run-to-end.ts";
import { waitFor } from "./helpers/wait.ts";
import { openWorld } from "./helpers/world.ts";

const SOURCE = Array.from({ length: 60 }, (_, i) => `export const line${i + 1} = ${i + 1};`).join("\n") + "\n";
const line = (n: number) => `export const line${n} = ${n};`;

describe("Claude Code sessions in two worktrees editing one file", () => {
  test("session two's model is warned before its edit; session one gets the notice", async () => {
    const world = openWorld();
    const cli = claudeCli(world.t);
    try {
      const repo = makeRepo(world.t.dir, "app", { "src/auth.ts": SOURCE });
      const tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
      const install = await runCli({ ...world.t, env: cli.env }, ["install", "claude"]);
      expect(install.code).toBe(0);

      const { promise: oneEdited, resolve: markOneEdited } = Promise.withResolvers<void>();
      const { promise: twoEdited, resolve: markTwoEdited } = Promise.withResolvers<void>();
      const edit = (file: string, n: number): FakeTurn => ({ tool: "Edit", input: { file_path: file, old_string: line(n), new_string: `${line(n)} // changed` } });
      // Session one: read, edit line 10, then (once two has tried its edit) one more tool call, whose hooks bring the notice.
      const one = startFakeAnthropic(async (n): Promise<FakeTurn> => {
        if (n === 1) return { tool: "Read", input: { file_path: join(repo, "src/auth.ts") } };
        if (n === 2) return edit(join(repo, "src/auth.ts"), 10);
        if (n === 3) {
          markOneEdited();
          await twoEdited;
          return { tool: "mcp__claude-peers__whoami" };
        }
        return { text: "Done." };
      });
      // Session two: waits until one has edited, then reads and edits line 30 of the same file in its worktree.
      const two = startFakeAnthropic(async (n): Promise<FakeTurn> => {
        if (n === 1) {
          await oneEdited;
          return { tool: "Read", input: { file_path: join(tree, "src/auth.ts") } };
        }
        if (n === 2) return edit(join(tree, "src/auth.ts"), 30);
        if (n === 3) markTwoEdited();
        return { text: "Done." };
      });
      try {
        const run = (name: string, cwd: string, baseUrl: string) =>
          runToEnd(
            [CLAUDE, "-p", "change the auth module", "--allowedTools", "Read,Edit,mcp__claude-peers__whoami"],
            { ...cli.env, ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: baseUrl, CLAUDE_PEERS_NAME: name, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
            cwd,
          );
        const [r1, r2] = await Promise.all([run("one", repo, one.baseUrl), run("two", tree, two.baseUrl)]);
        expect(r1.stdout + r1.stderr).not.toContain("fake model:");
        expect(r2.stdout + r2.stderr).not.toContain("fake model:");
        expect([r1.code, r2.code]).toEqual([0, 0]);

        // Two's request after its edit: the edit went through (a warning, not a refusal) and the warning came with it.
        const after = two.requests[2]!;
        expect(after).toMatch(/claude-peers: one \(claude-code, branch main, host [^)]+\) edited src\/auth\.ts just now \(line 10\)\./);
        expect(after).toContain("send_message to=one");
        expect(after).not.toContain("edit refused once");
        // One's request after its next tool call carries claude-peers' notice about two.
        const notice = one.requests[3]!;
        expect(notice).toMatch(/two \(claude-code, branch web, host [^)]+\) is about to edit src\/auth\.ts, which you edited just now \(line 10\)/);
        // Both edits are in their files: nothing was refused.
        expect(await Bun.file(join(repo, "src/auth.ts")).text()).toContain(`${line(10)} // changed`);
        expect(await Bun.file(join(tree, "src/auth.ts")).text()).toContain(`${line(30)} // changed`);
      } finally {
        one.stop();
        two.stop();
      }
    } finally {
      await world.close();
    }
  });

  test("a session alone in its repository: after its shell command the hook's shell finds its empty stake file and starts no Bun (nothing recorded)", async () => {
    const world = openWorld();
    const cli = claudeCli(world.t);
    try {
      const repo = makeRepo(world.t.dir, "solo", { "src/auth.ts": SOURCE });
      expect((await runCli({ ...world.t, env: cli.env }, ["install", "claude"])).code).toBe(0);
      const flagDir = join(world.t.home, ".claude-peers-edits");
      const model = startFakeAnthropic(async (n): Promise<FakeTurn> => {
        if (n === 1) {
          // The broker wrote the session's stake file, empty: nobody else has a stake in the repository.
          await waitFor(() => existsSync(flagDir) && readdirSync(flagDir).some((f) => f.startsWith("stakes-") && Bun.file(join(flagDir, f)).size === 0), "the session's empty stake file", 20_000);
          return { tool: "Bash", input: { command: "sed -i 's/line30 = 30;/line30 = 300;/' src/auth.ts", description: "change line 30" } };
        }
        // After the command, while the session is live (the list shows live sessions' edits only).
        if (n === 2) edits = EditsResultSchema.parse(JSON.parse((await runCli(world.t, ["edits", "--json"])).stdout));
        return { text: "Done." };
      });
      let edits: EditsResult | undefined;
      try {
        const env = { ...cli.env, ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: model.baseUrl, CLAUDE_PEERS_NAME: "solo", PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
        const r = await runToEnd([CLAUDE, "-p", "change the auth module", "--allowedTools", "Bash"], env, repo);
        expect(r.code).toBe(0);
      } finally {
        model.stop();
      }
      expect(await Bun.file(join(repo, "src/auth.ts")).text()).toContain("line30 = 300;");
      // Had the post-shell hook started Bun, the broker (whose first look at the worktree came before the stake file) would have recorded src/auth.ts.
      expect(edits?.files).toEqual([]);
    } finally {
      await world.close();
    }
  });

  test("session two changes the file with a shell command (sed -i): its model hears of session one's edit after it, and session one gets the notice", async () => {
    const world = openWorld();
    const cli = claudeCli(world.t);
    try {
      const repo = makeRepo(world.t.dir, "app", { "src/auth.ts": SOURCE });
      const tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
      expect((await runCli({ ...world.t, env: cli.env }, ["install", "claude"])).code).toBe(0);
      const stakeFiles = () => (existsSync(join(world.t.home, ".claude-peers-edits")) ? readdirSync(join(world.t.home, ".claude-peers-edits")).filter((f) => f.startsWith("stakes-")) : []);

      const { promise: oneEdited, resolve: markOneEdited } = Promise.withResolvers<void>();
      const { promise: twoRan, resolve: markTwoRan } = Promise.withResolvers<void>();
      const one = startFakeAnthropic(async (n): Promise<FakeTurn> => {
        if (n === 1) return { tool: "Read", input: { file_path: join(repo, "src/auth.ts") } };
        if (n === 2) return { tool: "Edit", input: { file_path: join(repo, "src/auth.ts"), old_string: line(10), new_string: `${line(10)} // changed` } };
        if (n === 3) {
          markOneEdited();
          await twoRan;
          return { tool: "mcp__claude-peers__whoami" };
        }
        return { text: "Done." };
      });
      const two = startFakeAnthropic(async (n): Promise<FakeTurn> => {
        if (n === 1) {
          await oneEdited;
          // Both sessions have their stake files: the broker took two's first look at its worktree before writing its file.
          await waitFor(() => stakeFiles().length >= 2, "both sessions' stake files", 20_000);
          return { tool: "Bash", input: { command: "sed -i 's/line30 = 30;/line30 = 300;/' src/auth.ts", description: "change line 30" } };
        }
        if (n === 2) markTwoRan();
        return { text: "Done." };
      });
      try {
        const run = (name: string, cwd: string, baseUrl: string, tools: string) =>
          runToEnd(
            [CLAUDE, "-p", "change the auth module", "--allowedTools", tools],
            { ...cli.env, ANTHROPIC_API_KEY: "sk-ant-fake", ANTHROPIC_BASE_URL: baseUrl, CLAUDE_PEERS_NAME: name, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
            cwd,
          );
        const [r1, r2] = await Promise.all([run("one", repo, one.baseUrl, "Read,Edit,mcp__claude-peers__whoami"), run("two", tree, two.baseUrl, "Bash")]);
        expect(r1.stdout + r1.stderr).not.toContain("fake model:");
        expect(r2.stdout + r2.stderr).not.toContain("fake model:");
        expect([r1.code, r2.code]).toEqual([0, 0]);
        expect(await Bun.file(join(tree, "src/auth.ts")).text()).toContain("line30 = 300;");
        // Two's request after its shell command: what the command changed, and who else has a stake in it.
        expect(two.requests[1]!).toMatch(/claude-peers: your shell command changed \\*"src\/auth\.ts\\*"\. one \(claude-code, branch main, host [^)]+\) edited \\*"src\/auth\.ts\\*" just now \(line 10\)\./);
        // One's request after its next tool call carries the notice.
        expect(one.requests[3]!).toMatch(/two \(claude-code, branch web, host [^)]+\) changed \\*"src\/auth\.ts\\*" with a shell command, which you edited just now \(line 10\)/);
      } finally {
        one.stop();
        two.stop();
      }
    } finally {
      await world.close();
    }
  });
});
