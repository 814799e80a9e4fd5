/** `bun cli.ts edits [--json]`: who is editing what: live sessions' recent edits and claims, collisions marked. */
import { ago } from "../ago.ts";
import type { EditsResult } from "../protocol.ts";
import { connect, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { renderTable } from "./table.ts";
import type { CliOptions } from "./usage.ts";

export async function edits(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  if (positionals.length) throw new CliError("usage", `edits takes no arguments, got "${positionals.join(" ")}"`);
  const { client } = await connect(ctx);
  const result = await client.call("/edits", {});
  if (values.json) {
    ctx.out(JSON.stringify(result, null, 2));
    return 0;
  }
  if (result.files.length === 0) {
    ctx.out(`no session edited a file in the last ${Math.round(result.window_s / 60)} min, and none claims any`);
    return 0;
  }
  const rows = [...result.files].sort(byRepoAndPath).map((f) => [
    f.colliding ? ctx.paint("red", "!") : " ",
    f.path,
    f.kind === "claim" ? `claim until ${new Date(f.expires_at!).toISOString().slice(11, 16)}` : (f.lines ?? "-"),
    `${f.name}${f.host ? `@${f.host}` : ""}`,
    f.agent,
    f.branch ?? "-",
    ago(f.at),
    f.repo,
  ]);
  const columns = [{ header: "" }, { header: "FILE", max: 60 }, { header: "LINES" , max: 24 }, { header: "SESSION" }, { header: "AGENT" }, { header: "BRANCH" }, { header: "WHEN" }, { header: "REPO", max: 40 }];
  for (const line of renderTable(columns, rows, { width: ctx.columns, styleHeader: (t) => ctx.paint("bold", t) })) ctx.out(line);
  if (result.files.some((f) => f.colliding)) ctx.out("\n! another live session edited or claims it too");
  return 0;
}

function byRepoAndPath(a: EditsResult["files"][number], b: EditsResult["files"][number]): number {
  return a.repo.localeCompare(b.repo) || a.path.localeCompare(b.path) || a.name.localeCompare(b.name);
}
