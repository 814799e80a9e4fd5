/**
 * A session under a stand-in Claude Code (helpers/fake-claude-code.ts) whose hooks run as that
 * process's children, as Claude Code runs them: `session.hook(input, command)` runs one hook command
 * with `input` (plus session_id and cwd) on its stdin and answers its exit code, stdout and stderr.
 */
import { join } from "node:path";
import { ROOT } from "./env.ts";
import { CHANNEL_FLAG, CLAUDE_AI_LOGIN, whoami, type TestServer } from "./server.ts";
import type { World } from "./world.ts";

const STAND_IN = join(ROOT, "tests", "helpers", "fake-claude-code.ts");
const CLI = join(ROOT, "cli.ts");
/** The plugin's edit hook command, with this bun and this checkout. */
export const EDIT_HOOK_COMMAND = `"${process.execPath}" "${CLI}" hook --edits`;

export interface HookRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface HookSession {
  server: TestServer;
  id: string;
  cwd: string;
  hook(input: Record<string, unknown>, command?: string): Promise<HookRun>;
}

export async function openHookSession(world: World, name: string, cwd: string, env: Record<string, string> = {}): Promise<HookSession> {
  const control = join(world.t.dir, `${name}.sock`);
  const sessionId = `session-${name}`;
  // Started as README's alias starts Claude Code, with a claude.ai login: notices arrive by channel push.
  const server = await world.start({
    name,
    cwd,
    env: { FAKE_CLAUDE_CONTROL: control, CLAUDE_CODE_SESSION_ID: sessionId, ...CLAUDE_AI_LOGIN, ...env },
    via: { script: STAND_IN, args: CHANNEL_FLAG },
  });
  const { id } = await whoami(server);
  return {
    server,
    id,
    cwd,
    hook: async (input, command = EDIT_HOOK_COMMAND) => {
      const body = { input: JSON.stringify({ session_id: sessionId, cwd, permission_mode: "default", ...input }), command };
      const res = await fetch("http://localhost/hook", { unix: control, method: "POST", body: JSON.stringify(body) });
      return (await res.json()) as HookRun;
    },
  };
}
