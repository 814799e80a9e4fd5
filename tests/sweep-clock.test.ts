/**
 * The leader's sweeps on a shared PostgreSQL compare against the database's clock, not the leader's
 * own: in process, housekeeping (shared/broker/housekeeping.ts) with a deliberately skewed injected
 * clock, on a real private PostgreSQL. Rows are written at times on the database's clock; a leader
 * two hours ahead must not expire fresh mail, overdue a reply not yet due or drop a recent edit, and
 * one two hours behind must not keep what is due.
 */
import { SQL } from "bun";
import { afterAll, describe, expect, test } from "bun:test";
import { composeServices } from "../shared/broker/app.ts";
import { startHousekeeping, type Housekeeping } from "../shared/broker/housekeeping.ts";
import { PostgresEditsStore } from "../shared/store/postgres-edits.ts";
import { PostgresNetworkStore } from "../shared/store/postgres-network.ts";
import { openPostgresStore } from "../shared/store/postgres.ts";
import type { NewMessage, SweepTime } from "../shared/store/store.ts";
import { registration } from "./helpers/in-process.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

const cluster = await usePostgres();
afterAll(() => cluster?.stop());
if (!cluster) console.warn("sweep-clock.test.ts: skipped, PostgreSQL is not installed (.ci/run installs it)");
const describePg = cluster ? describe : describe.skip;

const HOUR = 3_600_000;
const WINDOW_MS = 30 * 60_000;

/** Mail from the person at the terminal (no notice goes back to it), stored at `at` on the database's clock. */
function mail(id: string, at: number, over: Partial<NewMessage>): NewMessage {
  return {
    id, from_id: "cli", from_name: "cli", from_summary: "", from_cwd: "", to_id: "p-bbbbbbbbbb", to_name: "b", text: id, in_reply_to: null,
    state: "queued", created_at: at, expires_at: at + HOUR, send_key: null, reply_by: null, replaces: null, to_group: null, fanout_id: null, ...over,
  };
}

describePg("the leader's sweeps on a shared database", () => {
  test.each([
    ["two hours ahead", 2 * HOUR],
    ["two hours behind", -2 * HOUR],
  ])("run on the database's clock when the leader's clock is %s", async (_, skew) => {
    const url = await cluster!.createDatabase();
    const store = await openPostgresStore(url, "leader");
    const admin = new SQL({ url, max: 1 });
    const edits = new PostgresEditsStore(store.sql, store.location);
    let housekeeping: Housekeeping | undefined;
    try {
      const [clock] = await admin<Array<{ ms: bigint }>>`SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms`;
      const dbNow = Number(clock!.ms);
      // Due now on the database's clock, and due an hour from now.
      await store.insertMessage(mail("m-due", dbNow - 2 * HOUR, { expires_at: dbNow - 1000 }));
      await store.insertMessage(mail("m-fresh", dbNow - 1000, { expires_at: dbNow + HOUR }));
      // Awaited replies, one due and one due in an hour; their mailbox time outlasts any skew here.
      await store.insertMessage(mail("m-late", dbNow - 2000, { reply_by: dbNow - 1000, expires_at: dbNow + 3 * HOUR }));
      await store.insertMessage(mail("m-waiting", dbNow - 2000, { reply_by: dbNow + HOUR, expires_at: dbNow + 3 * HOUR }));
      await edits.touch({ repo_key: "origin:x", path: "old.ts", peer_id: "p-aaaaaaaaaa", lines: null, at: dbNow - WINDOW_MS - 60_000 });
      await edits.touch({ repo_key: "origin:x", path: "recent.ts", peer_id: "p-aaaaaaaaaa", lines: null, at: dbNow - 60_000 });

      const leaderNow = () => Date.now() + skew;
      const services = composeServices({ store, mailboxTtlMs: HOUR, host: "leader", now: leaderNow, pidAlive: () => true });
      const pruned = Promise.withResolvers<void>();
      housekeeping = startHousekeeping({
        store,
        presence: services.presence,
        mail: services.mail,
        now: leaderNow,
        log: () => {},
        leads: () => true,
        onDatabaseClock: true,
        onSweep: () => {},
        afterPrune: async (at: SweepTime) => {
          await edits.prune(WINDOW_MS, at);
          pruned.resolve();
        },
        editFlags: async () => {},
      });
      await pruned.promise; // the first prune, at once
      // The heartbeat says when the earliest awaited reply falls due, on the database's clock whatever
      // the leader's: now (m-late). The sweep runs when told: the reply due is taken; the one an hour off is not.
      const network = new PostgresNetworkStore(store.connection, store.location);
      const self = { id: "b-leader", host: "leader", pid: process.pid, offlineAfterS: 15 };
      const beat = await network.heartbeat(self, []);
      expect(beat.replyDueInMs).toBeLessThanOrEqual(-1000);
      housekeeping.replyDue(beat.replyDueInMs!);
      const state = async (id: string) => (await admin<Array<{ state: string; reply_status: string | null }>>`SELECT state, reply_status FROM messages WHERE id = ${id}`)[0];
      await waitFor(async () => (await state("m-late"))?.reply_status === "overdue", "the overdue sweep to take the reply that is due");
      expect({
        due: (await state("m-due"))?.state,
        fresh: (await state("m-fresh"))?.state,
        waiting: (await state("m-waiting"))?.reply_status,
        touches: (await admin<Array<{ path: string }>>`SELECT path FROM edit_touches ORDER BY path`).map((r) => r.path),
      }).toEqual({ due: "expired", fresh: "queued", waiting: "awaiting", touches: ["recent.ts"] });
      // What is still awaited falls due in an hour (the database's clock): the next heartbeat says so.
      const next = (await network.heartbeat(self, [])).replyDueInMs!;
      expect(next > HOUR - 60_000 && next <= HOUR).toBe(true);
    } finally {
      housekeeping?.stop();
      await admin.close();
      await store.close();
      await cluster!.dropDatabase(url);
    }
  });

  test("a reply awaited on the leader's own host is noticed when it falls due, with no heartbeat to say so", async () => {
    const url = await cluster!.createDatabase();
    const store = await openPostgresStore(url, "leader");
    let housekeeping: Housekeeping | undefined;
    try {
      const services = composeServices({ store, mailboxTtlMs: HOUR, host: "leader", now: Date.now, pidAlive: () => true });
      const logged: string[] = [];
      housekeeping = startHousekeeping({
        store, presence: services.presence, mail: services.mail, now: Date.now, log: (l) => void logged.push(l), leads: () => true, onDatabaseClock: true,
        onSweep: () => {}, afterPrune: async () => {}, editFlags: async () => {},
      });
      const [asker, api] = await Promise.all([services.registry.register(registration("asker")), services.registry.register(registration("api", { parent_pid: 9 }))]);
      const askerRow = (await services.registry.authenticate(asker.secret))!;
      const question = (await services.mail.send({ kind: "peer", row: askerRow }, { to: api.name, text: "which port?", reply_within_s: 1 })).message;
      // The send armed the sweep (Mail.replyAwaited): no heartbeat runs here, and no timer sweeps every second.
      const notice = await waitFor(async () => (await services.mail.inbox(askerRow, { markRead: false })).find((m) => m.in_reply_to === question.id), "the overdue notice");
      expect([notice.from_id, (await store.getMessage(question.id))?.reply_status, logged]).toEqual(["claude-peers", "overdue", []]);
    } finally {
      housekeeping?.stop();
      await store.close();
      await cluster!.dropDatabase(url);
    }
  });
});
