/**
 * The operator console's "Who edits what" tab in a real Chromium: two sessions in two worktrees edit
 * one file (their edit hooks run as Claude Code runs them); the tab shows both rows, marked as a
 * collision, live (it reads the broker's /edits again while open); a third file only one session
 * edited is not marked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CHROMIUM, launchBrowser } from "./helpers/browser.ts";
import { runCli } from "./helpers/cli.ts";
import { addWorktree, makeRepo } from "./helpers/git.ts";
import { openHookSession } from "./helpers/hook-session.ts";
import { openWorld } from "./helpers/world.ts";

const describeBrowser = CHROMIUM || process.env.CI ? describe : describe.skip;
const postEdit = (file: string, line: number) => ({
  hook_event_name: "PostToolUse",
  tool_name: "Edit",
  tool_input: { file_path: file },
  tool_response: { structuredPatch: [{ oldStart: line, oldLines: 1, newStart: line, newLines: 1, lines: ["-a", "+b"] }] },
});

describeBrowser("the console's edit collisions tab (real Chromium)", () => {
  const world = openWorld();
  afterAll(() => world.close());

  test("both sessions' edits of one file are shown as a collision, live; a file only one session edited is not", async () => {
    const repo = makeRepo(world.t.dir, "app", { "src/auth.ts": "a\n", "src/solo.ts": "a\n" });
    const tree = addWorktree(repo, join(world.t.dir, "app-web"), "web");
    const [api, web] = await Promise.all([openHookSession(world, "api", repo), openHookSession(world, "web", tree)]);
    await api.hook(postEdit(join(repo, "src/auth.ts"), 3));
    await api.hook(postEdit(join(repo, "src/solo.ts"), 1));
    const browser = await launchBrowser();
    try {
      const page = await (await browser.browser.newContext()).newPage();
      const login = (await runCli(world.t, ["dashboard", "--no-open"])).stdout.trim().split("\n").at(-1)!;
      await page.goto(login);
      await page.waitForSelector("html[data-ready=true]");
      await page.click('button[data-tab="edits"]');
      await page.waitForSelector('tr[data-edit="src/solo.ts"][data-session="api"][data-colliding="false"]');
      // web edits the same file now: the open tab shows it within its refresh, both rows marked.
      await web.hook(postEdit(join(tree, "src/auth.ts"), 9));
      await page.waitForSelector('tr[data-edit="src/auth.ts"][data-session="web"][data-colliding="true"]', { timeout: 10_000 });
      expect(await page.getAttribute('tr[data-edit="src/auth.ts"][data-session="api"]', "data-colliding")).toBe("true");
      const row = await page.textContent('tr[data-edit="src/auth.ts"][data-session="web"]');
      expect(row).toContain("collision");
      expect(row).toContain("9");
      expect(row).toContain("web");
    } finally {
      await browser.close();
    }
  });
});
