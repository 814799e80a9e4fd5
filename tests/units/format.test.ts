/** The CLI's terminal text (shared/cli/format.ts, table.ts): every field a peer gave is one safe line. */
import { describe, expect, test } from "bun:test";
import { eventLine, makePaint } from "../../shared/cli/format.ts";
import { renderTable } from "../../shared/cli/table.ts";
import type { BrokerFrame, PeerInfo } from "../../shared/protocol.ts";

/** What a terminal acts on: C0 but line feed, DEL, C1, and the bidi overrides and isolates. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = "x\u001b]52;c;ZXZpbA==\u0007\u001b[2J\n- fake line\u009b31m\u202e";

const peer = (over: Partial<PeerInfo>): PeerInfo => ({
  id: "p-0123456789",
  name: "web",
  summary: "",
  pid: 1,
  cwd: "/w",
  git_root: null,
  git_branch: null,
  host: "h",
  registered_at: "2026-01-01T00:00:00.000Z",
  last_seen: "2026-01-01T00:00:00.000Z",
  push: true,
  groups: [],
  agent: "claude-code",
  ...over,
});

describe("eventLine", () => {
  test.each<[string, BrokerFrame]>([
    ["a peer joining from a hostile folder", { type: "event", event: "joined", peer: peer({ cwd: `/tmp/${HOSTILE}` }) }],
    ["a hostile summary", { type: "event", event: "summary", peer: peer({ summary: HOSTILE }) }],
    ["a hostile name (from an older broker)", { type: "event", event: "left", peer: peer({ name: HOSTILE }) }],
    ["a paused hostile name", { type: "event", event: "paused", name: HOSTILE }],
  ])("%s: one line, the escapes written visibly", (_, frame) => {
    const line = eventLine(frame, Date.parse("2026-01-01T00:00:00.000Z"), "/home/u", makePaint(false))!;
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line).not.toContain("\n");
    expect(line).toContain("\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J - fake line\\x9b31m\\u202e");
  });
});

describe("renderTable", () => {
  test("every cell is one safe line, so a hostile cell adds no row and moves no cursor", () => {
    const lines = renderTable([{ header: "NAME" }, { header: "CWD" }, { header: "SUMMARY" }], [["web", `/tmp/${HOSTILE}`, HOSTILE]]);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
    expect(lines[1]).toContain("\\x1b]52;c;");
  });
});
