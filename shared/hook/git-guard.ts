/**
 * `bun cli.ts hook --git-guard`: the git pre-commit hook `bun cli.ts install git-guard` writes. It
 * warns (on stderr) when the commit stages files another live session edited within the collision
 * window and the committing session did not: the `git add -A` that sweeps up another session's
 * half-done edits. CLAUDE_PEERS_GIT_GUARD=block refuses the commit instead (exit 1). It fails open:
 * no git, no broker, no token, a slow answer: the commit goes ahead with nothing said.
 */
import { join } from "node:path";
import { ancestorsOf, readOr, type Ancestor } from "../ancestry.ts";
import { CLAUDE_SESSION_ID, loadBrokerLocation } from "../config.ts";
import { nearestAgentPid } from "../agent-process.ts";
import { postJson } from "./post.ts";

const TIMEOUT_MS = 1500;
const MAX_PATHS = 1000;

export interface GitGuardDeps {
  env: Record<string, string | undefined>;
  cwd: string;
  err: (line: string) => void;
  ancestors?: () => Promise<Ancestor[]>;
}

async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const proc = Bun.spawn(["git", ...args], { cwd, stdout: "pipe", stderr: "ignore", stdin: "ignore", timeout: 3000 });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return code === 0 ? out : null;
  } catch {
    return null;
  }
}

/** Returns the hook's exit code: 1 only when blocking and another session's files are staged. */
export async function runGitGuard(deps: GitGuardDeps): Promise<number> {
  const config = loadBrokerLocation(deps.env);
  const token = (await readOr(config.tokenPath))?.trim();
  if (!token || !/^[\w-]+$/.test(token)) return 0;
  const [top, staged] = await Promise.all([git(deps.cwd, ["rev-parse", "--show-toplevel"]), git(deps.cwd, ["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMRD"])]);
  if (!top || !staged) return 0;
  const paths = staged.split("\0").filter(Boolean).slice(0, MAX_PATHS).map((p) => join(top.trim(), p));
  if (paths.length === 0) return 0;
  const chain = await (deps.ancestors ?? ancestorsOf)();
  if (chain.length === 0) return 0;
  const sessionId = deps.env.CLAUDE_CODE_SESSION_ID?.trim();
  const agentPid = await nearestAgentPid(chain);
  const body = { ancestors: chain.map((a) => a.pid), ...(agentPid !== undefined ? { agent_pid: agentPid } : {}), ...(sessionId && CLAUDE_SESSION_ID.test(sessionId) ? { session_id: sessionId } : {}), paths };
  const answer = (await postJson(config.socketPath, "/edits/guard", token, body, TIMEOUT_MS)) as { files?: Array<{ path: string; others: string[] }> } | undefined;
  const files = Array.isArray(answer?.files) ? answer.files.filter((f) => typeof f?.path === "string" && Array.isArray(f.others)) : [];
  if (files.length === 0) return 0;
  const block = deps.env.CLAUDE_PEERS_GIT_GUARD?.trim().toLowerCase() === "block";
  deps.err(`claude-peers: this commit stages ${files.length === 1 ? "a file" : `${files.length} files`} another live session edited and this one did not:`);
  for (const f of files.slice(0, 20)) deps.err(`  ${f.path}: ${f.others.join("; ")}`);
  if (files.length > 20) deps.err(`  … and ${files.length - 20} more`);
  deps.err(
    block
      ? "Commit refused (CLAUDE_PEERS_GIT_GUARD=block): unstage what is not yours (git restore --staged <file>), or coordinate first."
      : "If they are not yours, unstage them (git restore --staged <file>) and coordinate with that session. (CLAUDE_PEERS_GIT_GUARD=block refuses such commits.)",
  );
  return block ? 1 : 0;
}

/** The pre-commit hook itself: this process's environment, folder and stderr; any failure lets the commit through. */
export async function runGitGuardFromProcess(): Promise<number> {
  try {
    return await runGitGuard({ env: process.env, cwd: process.cwd(), err: (line) => process.stderr.write(`${line}\n`) });
  } catch (err) {
    process.stderr.write(`claude-peers git guard: ${(err as Error).message} (the commit goes ahead)\n`);
    return 0;
  }
}
