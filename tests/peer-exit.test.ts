/**
 * What a broker keeps per peer goes when the peer leaves (issue 25): its maps in memory and its
 * sessions' mail flag files. In process, with the real services over an in-memory SQLite store, an
 * injected clock and a real flag folder; 10,000 peers come and go in batches, each leaving one of
 * the four ways a peer leaves.
 */
import { describe, expect, test } from "bun:test";
import { hookAncestors } from "../shared/broker/hook-pairing.ts";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { PeerRow } from "../shared/store/store.ts";
import { inProcessServices, registration } from "./helpers/in-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";
import { waitFor } from "./helpers/wait.ts";

const PEERS = 10_000;
const BATCH = 250;
/** No pacing in the way: this test is about memory, not about the pace. */
const UNPACED = { perSecond: 1e9, burst: 1e9, maxWaitMs: 0 };

/** A push socket that records nothing. */
const quietSocket = () => ({ send: () => {}, close: () => {} });

const flagsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe("a peer that leaves takes its state along", () => {
  test(`${PEERS.toLocaleString("en")} peers register, send, get mail, run hooks and wait, then leave: every per-peer map and the flag folder are back where they started`, async () => {
    using tmp = tempDir();
    const flagDir = join(tmp.dir, ".claude-peers-mail");
    const dead = new Set<number>();
    await using s = inProcessServices({ mailFlagDir: flagDir, sendRate: UNPACED, pidAlive: (pid) => !dead.has(pid) });

    // A peer that stays, with a session of its own and mail waiting, and the operator: their state is not the leavers'.
    await s.registry.register(registration("stays", { pid: 10, parent_pid: 11, session_id: "stays-session" }));
    await s.mail.send({ kind: "operator" }, { to: "stays", text: "warm-up" });
    const start = s.sizes();
    const startFlags = flagsIn(flagDir);
    expect(startFlags).toEqual(["stays-session"]);

    for (let first = 0; first < PEERS; first += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, k) => first + k);
      const regs = await Promise.all(
        batch.map((i) => s.registry.register(registration(`peer-${i}`, { pid: 100_000 + i, parent_pid: 200_000 + i, session_id: `session-${i}` }))),
      );
      const rows = (await Promise.all(regs.map((r) => s.registry.authenticate(r.secret)))) as PeerRow[];
      // Each sends to its neighbour (its pace, duplicate and pair memory; the neighbour's mailbox
      // allowance and mail flag), a hook's Stop shows the mail (an idle mark, a lease), and some
      // wait: a hook's waiter and a check_messages.
      const sent = await Promise.all(rows.map((row, k) => s.mail.send({ kind: "peer", row }, { to: rows[k ^ 1]!.id, text: `hello from ${row.name}` })));
      const leased = await Promise.all(batch.map((i) => s.hookMail.lease(hookAncestors([200_000 + i]), 10_000, `session-${i}`, "Stop")));
      expect(leased.every((r) => r.messages.length === 1)).toBe(true);
      const waits = rows.slice(0, 5).flatMap((row, k) => [
        s.hookMail.wait(hookAncestors([200_000 + batch[k]!]), 10_000, `session-${batch[k]}`),
        s.mail.inbox(row, { markRead: false, waitMs: 600_000, replyTo: sent[k]!.message.id }),
      ]);
      if (first === 0) {
        const during = await waitFor(() => {
          const now = s.sizes();
          return now.hookWaiters === start.hookWaiters! + 5 && now.arrivals === start.arrivals! + 5 && now;
        }, "five waiters and five check_messages waiting");
        const grew = Object.keys(start).filter((key) => during[key]! > start[key]!);
        expect(grew.sort()).toEqual(["arrivals", "dampingPairs", "dampingSenders", "hookLeases", "hookWaiters", "idleMarks", "live", "mailFlags", "paceBuckets", "quotaRoom"]);
        expect(flagsIn(flagDir)).toHaveLength(1 + BATCH);
      }

      // Every way a peer leaves: it unregisters, its process dies (the sweep), its push socket
      // closes, or another host took its name.
      const sockets = new Map<string, ReturnType<typeof quietSocket>>();
      for (const [k, row] of rows.entries()) {
        if (k % 4 === 2 || k % 4 === 3) sockets.set(row.id, quietSocket());
      }
      for (const [id, socket] of sockets) await s.registry.attach(id, socket);
      for (const [k, row] of rows.entries()) {
        if (k % 4 === 0) await s.registry.unregister(row);
        else if (k % 4 === 1) dead.add(row.pid);
        else if (k % 4 === 2) s.registry.detach(row.id, sockets.get(row.id)!);
      }
      s.presence.sweep();
      s.registry.namesLost(rows.filter((_, k) => k % 4 === 3).map((row) => row.id));
      expect((await Promise.all(waits)).filter((w) => Array.isArray(w) || w.ended === "gone")).toHaveLength(waits.length);
    }

    expect(s.sizes()).toEqual(start);
    expect(flagsIn(flagDir)).toEqual(startFlags);
  });

  test("a check_messages waiting when its peer leaves ends at once, leaving no waiter behind", async () => {
    await using s = inProcessServices();
    const reg = await s.registry.register(registration("leaver"));
    const row = (await s.registry.authenticate(reg.secret))!;
    const waiting = s.mail.inbox(row, { markRead: true, waitMs: 600_000 });
    await s.registry.unregister(row); // before the wait has even started listening
    expect(await waiting).toEqual([]);
    expect(s.sizes().arrivals).toBe(0);
  });

  test("a session two live peers share keeps its flag until the last of them leaves", async () => {
    using tmp = tempDir();
    const flagDir = join(tmp.dir, ".claude-peers-mail");
    await using s = inProcessServices({ mailFlagDir: flagDir });
    // Claude Code with the plugin and `claude mcp add`: two servers, one session.
    const [a, b] = await Promise.all(["a", "b"].map((name) => s.registry.register(registration(name, { session_id: "shared-session" }))));
    await s.mail.send({ kind: "operator" }, { to: "a", text: "for a" });
    expect(flagsIn(flagDir)).toEqual(["shared-session"]);
    await s.registry.unregister((await s.registry.authenticate(a!.secret))!);
    expect(flagsIn(flagDir)).toEqual(["shared-session"]);
    await s.registry.unregister((await s.registry.authenticate(b!.secret))!);
    expect(flagsIn(flagDir)).toEqual([]);
    expect(s.sizes().mailFlags).toBe(0);
  });
});
