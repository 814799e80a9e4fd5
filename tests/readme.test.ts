/**
 * README.md and docs/ cannot drift from the code: every relative link and anchor resolves, and every
 * `bun cli.ts …` line in README's shell blocks names a real command with options it takes (the
 * commands themselves run in cli.test.ts, the demo and the install tests).
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { COMMANDS } from "../shared/cli/commands.ts";
import { OPTIONS } from "../shared/cli/usage.ts";
import { ROOT } from "./helpers/env.ts";

const DOCS = ["README.md", "SKILL.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => join("docs", f))];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, "")
    .replace(/[^a-z0-9 -]/g, "")
    .replaceAll(" ", "-");
}

function anchorsIn(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

/** Lines of the ```sh blocks, comments and leading prompts taken off. */
function shellLines(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split("\n").map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean));
}

describe("README.md and docs/", () => {
  test.each(DOCS)("every relative link and anchor in %s resolves", (doc) => {
    const file = join(ROOT, doc);
    const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // http(s), mailto
      const [path, anchor] = target!.split("#") as [string, string | undefined];
      const to = path ? resolve(dirname(file), path) : file;
      if (!existsSync(to)) broken.push(`${target}: no file ${to}`);
      else if (anchor && to.endsWith(".md") && !anchorsIn(to).has(anchor)) broken.push(`${target}: no heading #${anchor}`);
    }
    expect(broken).toEqual([]);
  });

  test("every `bun cli.ts` line in README names a command and options it takes", () => {
    const lines = shellLines(readFileSync(join(ROOT, "README.md"), "utf8")).filter((l) => l.startsWith("bun cli.ts "));
    expect(lines.length).toBeGreaterThan(10);
    const wrong: string[] = [];
    for (const line of lines) {
      // Placeholders (<peer>, [--scope S], a|b) stand for a value: take the first choice of each.
      const words = line
        .slice("bun cli.ts ".length)
        .replace(/\[(--[a-z-]+)[^\]]*\]/g, "$1 x")
        .replace(/[[\]]/g, "")
        .split(/\s+/)
        .map((w) => w.split("|")[0]!);
      const [name, ...rest] = words;
      if (name === "hook") continue; // the agents' entry, which cli.ts runs before the CLI (hook.test.ts)
      const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : undefined;
      if (!command) {
        wrong.push(`${line}: no command "${name}"`);
        continue;
      }
      try {
        const { values } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
        const extra = Object.keys(values).filter((k) => k !== "help" && !command.options.includes(k as keyof typeof OPTIONS));
        if (extra.length) wrong.push(`${line}: ${name} does not take --${extra.join(", --")}`);
      } catch (err) {
        wrong.push(`${line}: ${(err as Error).message}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
