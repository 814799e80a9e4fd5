/** `bun cli.ts …` as a person runs it: a subprocess with the test's environment, run to completion. */
import { join } from "node:path";
import { ROOT, type TestEnv } from "./env.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const CLI = join(ROOT, "cli.ts");

export function runCli(t: TestEnv, args: string[], cwd = ROOT): Promise<CliResult> {
  return runCliWith(t, args, {}, cwd);
}

/** runCli with more environment (a PATH with a stand-in program, say). */
export async function runCliWith(t: TestEnv, args: string[], env: Record<string, string>, cwd = ROOT): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, CLI, ...args], { env: { ...t.env, ...env }, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
