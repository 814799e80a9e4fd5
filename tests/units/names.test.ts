/** Peer names: sanitizing what a folder or branch is called, and deriving a session's name. */
import { describe, expect, test } from "bun:test";
import { type GitInfo } from "../../shared/git.ts";
import { deriveName } from "../../shared/server/identity.ts";
import { sanitizeName } from "../../shared/peer-names.ts";
import { PeerNameSchema } from "../../shared/protocol.ts";
import { loadConfig } from "../../shared/config.ts";

describe("sanitizeName", () => {
  test.each([
    ["alice", "alice"],
    ["Alice", "alice"],
    ["UPPER_CASE", "upper_case"],
    ["My Project", "my-project"],
    ["my   project\tfolder", "my-project-folder"],
    ["  padded  ", "padded"],
    ["feature/login", "feature-login"],
    ["my.repo_v2", "my.repo_v2"],
    [".hidden", "hidden"],
    ["--leading-dashes", "leading-dashes"],
    ["trailing...", "trailing"],
    ["café", "cafe"],
    ["Ünïcödé Tëst", "unicode-test"],
    ["ﬁle", "file"],
    ["日本語-app", "app"],
    ["emoji 😀 name", "emoji-name"],
    ["日本語", "peer"],
    ["😀", "peer"],
    ["", "peer"],
    ["---", "peer"],
    ["a".repeat(100), "a".repeat(48)],
    [`${"a".repeat(47)}-b`, "a".repeat(47)],
  ])("%p → %p", (raw, expected) => {
    const name = sanitizeName(raw);
    expect(name).toBe(expected);
    expect(PeerNameSchema.safeParse(name).success).toBe(true);
  });
});

describe("deriveName", () => {
  const git = (over: Partial<GitInfo>): GitInfo => ({ root: "/src/backend", commonDir: "/src/backend/.git", branch: "main", isWorktree: false, repoKey: null, ...over });

  test.each<[string, Parameters<typeof deriveName>[0], string]>([
    ["an explicit name", { explicit: "reviewer", cwd: "/src/backend", git: git({}) }, "reviewer"],
    ["an explicit name is sanitized", { explicit: "Reviewer Bot", cwd: "/x", git: null }, "reviewer-bot"],
    ["a plain folder", { cwd: "/home/u/notes", git: null }, "notes"],
    ["a folder with spaces and capitals", { cwd: "/home/u/My Project", git: null }, "my-project"],
    ["a unicode folder", { cwd: "/home/u/Résumé Builder", git: null }, "resume-builder"],
    ["a folder of only non-Latin letters", { cwd: "/home/u/日本語", git: null }, "peer"],
    ["the filesystem root", { cwd: "/", git: null }, "root"],
    ["a repository checkout (no branch)", { cwd: "/src/backend", git: git({}) }, "backend"],
    ["a subfolder of a checkout", { cwd: "/src/backend/api/v2", git: git({}) }, "backend"],
    ["a checkout on a feature branch", { cwd: "/src/backend", git: git({ branch: "feature/x" }) }, "backend"],
    [
      "a worktree: <repo>-<branch>",
      { cwd: "/src/backend-login", git: git({ root: "/src/backend-login", branch: "feature/login", isWorktree: true }) },
      "backend-feature-login",
    ],
    [
      "a worktree of a capitalized repo",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: "/src/My Repo/.git", branch: "Fix-Bug", isWorktree: true }) },
      "my-repo-fix-bug",
    ],
    [
      "a worktree on a detached HEAD",
      { cwd: "/w/wt", git: git({ root: "/w/wt", branch: null, isWorktree: true }) },
      "backend",
    ],
    [
      "a worktree of a bare repository",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: "/srv/project.git", branch: "main", isWorktree: true }) },
      "project-main",
    ],
    [
      "a long worktree name is cut at 48",
      { cwd: "/w/wt", git: git({ root: "/w/wt", commonDir: `/src/${"r".repeat(40)}/.git`, branch: "b".repeat(40), isWorktree: true }) },
      `${"r".repeat(40)}-${"b".repeat(7)}`,
    ],
    ["a folder called user takes the suffix a taken name would", { cwd: "/home/u/user", git: null }, "user-2"],
    ["a repository called Operator", { cwd: "/src/Operator", git: git({ root: "/src/Operator" }) }, "operator-2"],
    ["a repository called claude-peers", { cwd: "/src/claude-peers", git: git({ root: "/src/claude-peers" }) }, "claude-peers-2"],
    ["a folder called cli", { cwd: "/opt/cli", git: null }, "cli-2"],
    ["a folder called system.d is not reserved", { cwd: "/etc/system.d", git: null }, "system.d"],
  ])("%s", (_, input, expected) => {
    expect(deriveName(input)).toBe(expected);
    expect(PeerNameSchema.safeParse(deriveName(input)).success).toBe(true);
  });
});

describe("reserved names", () => {
  test.each(["cli", "claude-peers", "user", "system", "operator"])("the broker refuses %p as a name, saying why", (name) => {
    const parsed = PeerNameSchema.safeParse(name);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/reserved/);
  });

  test.each(["cli", "CLI", " Operator ", "claude peers", "User!"])("CLAUDE_PEERS_NAME=%p stops the start with the variable named", (name) => {
    expect(() => loadConfig({ CLAUDE_PEERS_NAME: name }, "/home/u")).toThrow(/CLAUDE_PEERS_NAME: .* is reserved/);
  });

  test.each(["clip", "users", "operator-2", "my-cli"])("%p is an ordinary name", (name) => {
    expect(PeerNameSchema.safeParse(name).success).toBe(true);
    expect(loadConfig({ CLAUDE_PEERS_NAME: name }, "/home/u").peerName).toBe(name);
  });
});
