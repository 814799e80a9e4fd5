/** Wire shapes: answers from an older broker still parse; request targets and addresses are read safely. */
import { describe, expect, test } from "bun:test";
import { requestPath } from "../../shared/broker/app.ts";
import { PeerInfoSchema, SendBodySchema, StatusResultSchema } from "../../shared/protocol.ts";
import { describePeers } from "../../shared/tool-text.ts";

describe("answers from a 0.1 broker (still running after an upgrade) still parse", () => {
  const peer = { id: "p-abcdefghij", name: "api", summary: "", pid: 1, cwd: "/w", git_root: null, git_branch: null, registered_at: "2026-01-01T00:00:00.000Z", last_seen: "2026-01-01T00:00:00.000Z", push: true };

  test("a peer without a host has host \"\", and list_peers text leaves it out", () => {
    const parsed = PeerInfoSchema.parse(peer);
    expect(parsed.host).toBe("");
    expect(describePeers([parsed], "machine")).toContain("- api (id p-abcdefghij): ");
    expect(describePeers([{ ...parsed, host: "devbox" }], "network")).toContain("- api (id p-abcdefghij, host devbox): ");
  });

  test("a peer from a broker before agents were known runs in Claude Code; list_peers names the agent of each", () => {
    const parsed = PeerInfoSchema.parse(peer);
    expect(parsed.agent).toBe("claude-code");
    expect(describePeers([parsed], "machine")).toContain("; runs in claude-code; seen ");
    expect(describePeers([{ ...parsed, agent: "codex" }], "machine")).toContain("; runs in codex; seen ");
  });

  test("a status without host and other_hosts", () => {
    const health = { service: "claude-peers-broker", version: "0.1.0", protocol: 1, pid: 1, started_at: "2026-01-01T00:00:00.000Z" };
    const status = StatusResultSchema.parse({ broker: { ...health, url: "http://127.0.0.1:7899", db: "/x.db", uptime_s: 1 }, peers: { live: 1, push: 1, poll: 0 }, messages: { queued: 0, delivered: 0, read: 0, expired: 0 } });
    expect(status.broker.host).toBe("");
    expect(status.peers.other_hosts).toBe(0);
  });
});

describe("request targets and addresses", () => {
  test.each([
    ["http://127.0.0.1/send", "/send"], // origin form, as Bun hands it over
    ["http://127.0.0.1:7899/peers?x=1", "/peers"], // absolute form
    ["127.0.0.1:1", null], // authority form (CONNECT): no path
    ["localhost:80", null], // parses as a URL of scheme "localhost:", still no path
    ["*", null],
    ["ftp://127.0.0.1/status", null],
  ])("requestPath(%p) is %p", (target, path) => {
    expect(requestPath(target)).toBe(path);
  });

  test.each(["a\u0000b", "bo\nb", "\u001b[2J"])("send_message's `to` refuses control characters (%j), naming the field", (to) => {
    const parsed = SendBodySchema.safeParse({ to, text: "hi" });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual(["to"]);
  });
});
