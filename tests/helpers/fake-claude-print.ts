/**
 * Stands in for an agent run from another session's shell (`claude -p`, Codex, Gemini CLI started
 * by a Bash tool call) before its own MCP server has registered: an agent process by its command
 * line, with no server of its own. It runs one command (its hook) as its child through `sh -c`,
 * with this process's stdio, and exits with that command's code.
 *
 * usage: bun fake-claude-print.ts <command>
 */
const command = process.argv[2];
if (!command) {
  process.stderr.write("usage: bun fake-claude-print.ts <command>\n");
  process.exit(2);
}
const child = Bun.spawn(["/bin/sh", "-c", command], { stdio: ["inherit", "inherit", "inherit"], env: process.env });
process.exit(await child.exited);
export {};
