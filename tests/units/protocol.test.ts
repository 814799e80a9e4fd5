/** Wire shapes: answers from an older broker still parse. */
import { describe, expect, test } from "bun:test";
import { PeerInfoSchema, StatusResultSchema } from "../../shared/protocol.ts";
import { describePeers } from "../../shared/tool-text.ts";

describe("answers from a 0.1 broker (still running after an upgrade) still parse", () => {
  const peer = { id: "p-abcdefghij", name: "api", summary: "", pid: 1, cwd: "/w", git_root: null, git_branch: null, registered_at: "2026-01-01T00:00:00.000Z", last_seen: "2026-01-01T00:00:00.000Z", push: true };

  test("a peer without a host has host \"\", and list_peers text leaves it out", () => {
    const parsed = PeerInfoSchema.parse(peer);
    expect(parsed.host).toBe("");
    expect(describePeers([parsed], "machine")).toContain("- api (id p-abcdefghij): ");
    expect(describePeers([{ ...parsed, host: "devbox" }], "network")).toContain("- api (id p-abcdefghij, host devbox): ");
  });

  test("a status without host and other_hosts", () => {
    const health = { service: "claude-peers-broker", version: "0.1.0", protocol: 1, pid: 1, started_at: "2026-01-01T00:00:00.000Z" };
    const status = StatusResultSchema.parse({ broker: { ...health, url: "http://127.0.0.1:7899", db: "/x.db", uptime_s: 1 }, peers: { live: 1, push: 1, poll: 0 }, messages: { queued: 0, delivered: 0, read: 0, expired: 0 } });
    expect(status.broker.host).toBe("");
    expect(status.peers.other_hosts).toBe(0);
  });
});
