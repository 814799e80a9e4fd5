/** broker-address.ts: which sockets a client trusts with the token, and the paths it can dial. */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_SOCKET_PATH_BYTES, checkBrokerSocket, prepareSocketFolder, socketPathProblem } from "../../shared/broker-address.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { thrown } from "../helpers/wait.ts";

const me = process.getuid!();

/** Lays out `<dir>/.claude-peers/b.sock` as `arrange` says, with a real listening socket unless told otherwise. */
function layout(dir: string, arrange: "own" | "loose" | "symlinked-folder" | "symlinked-socket" | "plain-file" | "no-socket" | "no-folder"): { socketPath: string; stop(): void } {
  const folder = join(dir, ".claude-peers");
  const socketPath = join(folder, "b.sock");
  let server: { stop(force?: boolean): unknown } | undefined;
  if (arrange === "no-folder") return { socketPath, stop() {} };
  if (arrange === "symlinked-folder") {
    mkdirSync(join(dir, "elsewhere"), { mode: 0o700 });
    server = Bun.serve({ unix: join(dir, "elsewhere", "b.sock"), fetch: () => new Response("") });
    symlinkSync(join(dir, "elsewhere"), folder);
    return { socketPath, stop: () => server?.stop(true) };
  }
  mkdirSync(folder, { mode: 0o700 });
  if (arrange === "loose") chmodSync(folder, 0o755);
  if (arrange === "plain-file") writeFileSync(socketPath, "");
  if (arrange === "symlinked-socket") {
    server = Bun.serve({ unix: join(folder, "real.sock"), fetch: () => new Response("") });
    symlinkSync(join(folder, "real.sock"), socketPath);
  }
  if (arrange === "own" || arrange === "loose") server = Bun.serve({ unix: socketPath, fetch: () => new Response("") });
  return { socketPath, stop: () => server?.stop(true) };
}

describe("checkBrokerSocket: the token goes only to a socket of this user's, in a closed folder of this user's", () => {
  test.each([
    ["own", me, { kind: "ok" }],
    ["no-folder", me, { kind: "none" }],
    ["no-socket", me, { kind: "none" }],
    ["own", me + 1, { kind: "unsafe", detail: expect.stringMatching(/socket folder .* belongs to uid \d+|belongs to user .* not to you/) }],
    ["loose", me, { kind: "unsafe", detail: expect.stringContaining("open to other users (mode 755, should be 700)") }],
    ["symlinked-folder", me, { kind: "unsafe", detail: expect.stringContaining("is a symlink") }],
    ["symlinked-socket", me, { kind: "unsafe", detail: expect.stringContaining("is a symlink, not the broker's socket") }],
    ["plain-file", me, { kind: "unsafe", detail: expect.stringContaining("is not a socket") }],
  ] as const)("%s, as uid %p: %o", (arrange, uid, expected) => {
    using tmp = tempDir();
    const { socketPath, stop } = layout(tmp.dir, arrange);
    try {
      expect(checkBrokerSocket(socketPath, uid)).toEqual(expected);
    } finally {
      stop();
    }
  });
});

describe("prepareSocketFolder (the broker's side)", () => {
  test("makes the folder 0700, tightens a loose one of this user's, refuses one of another user's or a symlink", async () => {
    using tmp = tempDir();
    const socketPath = join(tmp.dir, ".claude-peers", "b.sock");
    prepareSocketFolder(socketPath);
    expect(checkBrokerSocket(socketPath)).toEqual({ kind: "none" });
    chmodSync(join(tmp.dir, ".claude-peers"), 0o777);
    prepareSocketFolder(socketPath);
    expect(checkBrokerSocket(socketPath)).toEqual({ kind: "none" }); // tightened, so not "unsafe"
    expect((await thrown(() => prepareSocketFolder(socketPath, me + 1))).message).toMatch(/belongs to .* not to you; remove it, or set CLAUDE_PEERS_DB/);
    const linked = join(tmp.dir, "linked", ".claude-peers");
    mkdirSync(join(tmp.dir, "linked"));
    symlinkSync(join(tmp.dir, ".claude-peers"), linked);
    expect((await thrown(() => prepareSocketFolder(join(linked, "b.sock")))).message).toContain("is a symlink");
  });
});

describe("socketPathProblem", () => {
  test.each([
    ["/home/ann/.claude-peers/claude-peers.db.sock", null],
    [`/${"a".repeat(MAX_SOCKET_PATH_BYTES - 1)}`, null],
    [`/${"a".repeat(MAX_SOCKET_PATH_BYTES)}`, expect.stringContaining(`over the ${MAX_SOCKET_PATH_BYTES} a Unix socket may have; set CLAUDE_PEERS_DB`)],
    [`/${"é".repeat(60)}`, expect.stringContaining("121 bytes")],
    ["/srv/a:b/.claude-peers/x.sock", expect.stringContaining("holds a ':'")],
  ])("%s → %p", (path, expected) => {
    expect(socketPathProblem(path)).toEqual(expected);
  });
});
