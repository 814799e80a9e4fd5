/** The startup summary: one line from an OpenAI-compatible model, or a plain one from repo and branch. */
import { readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { GitInfo } from "../git.ts";
import { recentGitFiles } from "../git.ts";
import { repoName } from "./identity.ts";
import { MAX_SUMMARY_CHARS } from "../protocol.ts";
import { oneLine } from "../safe-text.ts";

export const SUMMARY_TIMEOUT_MS = 10_000;
const RECENT_FILES = 15;

export interface SummaryInput {
  cwd: string;
  git: GitInfo | null;
}

/** "api on branch main", or "in folder notes" outside git. */
export function plainSummary({ cwd, git }: SummaryInput): string {
  if (!git) return `in folder ${basename(cwd) || cwd}`;
  return git.branch ? `${repoName(git)} on branch ${git.branch}` : `${repoName(git)} (detached HEAD)`;
}

/** Names of recently changed files: from git, else the newest entries of the folder. */
export async function recentFiles({ cwd, git }: SummaryInput): Promise<string[]> {
  if (git) return recentGitFiles(cwd, RECENT_FILES);
  try {
    const names = (await readdir(cwd)).filter((n) => !n.startsWith("."));
    const withTimes = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(cwd, n)).catch(() => null))?.mtimeMs ?? 0 })));
    return withTimes.sort((a, b) => b.t - a.t).slice(0, RECENT_FILES).map((x) => x.n);
  } catch {
    return [];
  }
}

export interface ModelSummaryOptions {
  apiKey: string;
  baseURL?: string;
  model: string;
  timeoutMs?: number;
}

/**
 * Asks the model for a one-line summary; throws on any failure (the caller falls back). What it
 * sends leaves the machine: the folder's path, the repository's name and branch, and the names of
 * up to 15 recently changed files (never their contents).
 */
export async function modelSummary(input: SummaryInput, opts: ModelSummaryOptions): Promise<string> {
  // Loaded only when a key is set: the client adds noticeable start-up time to every session.
  const { default: OpenAI } = await import("openai");
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseURL, timeout: opts.timeoutMs ?? SUMMARY_TIMEOUT_MS, maxRetries: 0 });
  const files = await recentFiles(input);
  const facts = [
    `Folder: ${input.cwd}`,
    input.git ? `Repository: ${repoName(input.git)}, branch: ${input.git.branch ?? "detached HEAD"}` : "Not a git repository",
    `Recently changed files: ${files.length ? files.join(", ") : "none"}`,
  ].join("\n");
  const completion = await client.chat.completions.create({
    model: opts.model,
    max_tokens: 60,
    temperature: 0.2,
    messages: [
      {
        role: "system",
        content:
          "You label a coding session for other AI sessions on the same machine. Reply with one line of at most 15 words saying what this session is probably working on. No quotes, no preamble.",
      },
      { role: "user", content: facts },
    ],
  });
  const line = completion.choices[0]?.message?.content?.split("\n").find((l) => l.trim())?.trim();
  if (!line) throw new Error("the model returned an empty summary");
  return oneLine(line.replace(/^["']|["']$/g, "")).slice(0, MAX_SUMMARY_CHARS);
}
