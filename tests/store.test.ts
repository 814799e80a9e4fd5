/**
 * The Store contract run against SQLite (a temp file and :memory:) and PostgreSQL (a fresh database
 * per test), plus what only a file or only a server can show.
 */
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PgConnection } from "../shared/store/pg-connection.ts";
import { PG_SCHEMA_VERSION, openPostgresStore, redactUrl, type PostgresStore } from "../shared/store/postgres.ts";
import { SCHEMA_VERSION, openSqliteStore } from "../shared/store/sqlite.ts";
import { StoreOpenError, StoreUnavailableError } from "../shared/store/store.ts";
import { freePort } from "./helpers/env.ts";
import { inProcessServices, registration } from "./helpers/in-process.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { newMessage, peerRow, runStoreContract } from "./helpers/store-contract.ts";
import { thrown, waitFor } from "./helpers/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "claude-peers-store-"));
let files = 0;
const freshPath = () => join(dir, `store-${++files}.db`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

runStoreContract("sqlite file", () => openSqliteStore(freshPath()));
runStoreContract("sqlite :memory:", () => openSqliteStore(":memory:"));

describe("SQLite file", () => {
  const userVersion = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
    } finally {
      db.close();
    }
  };

  test("a new database is created 0600 and migrated to the schema version", async () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    await store.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(userVersion(path)).toBe(SCHEMA_VERSION);
  });

  test("reopening an existing database keeps its data and does not migrate again", async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.savePeer(peerRow("p-alice"));
    const m = await first.insertMessage(newMessage({ text: "survives a restart" }));
    await first.markDelivered("p-bob", [m.id], m.created_at + 1);
    await first.close();

    const second = openSqliteStore(path);
    try {
      expect(await second.getPeer("p-alice")).toEqual(peerRow("p-alice"));
      expect(await second.getMessage(m.id)).toMatchObject({ text: "survives a restart", state: "delivered" });
      expect(userVersion(path)).toBe(SCHEMA_VERSION);
    } finally {
      await second.close();
    }
  });

  test("a database from before parent_pid (schema 2) is migrated; its peers read parent_pid null", async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.savePeer(peerRow("p-alice"));
    await first.close();
    // Turn it back into what schema 2 left on disk: the same tables without the later columns.
    const db = new Database(path);
    db.exec(`ALTER TABLE peers DROP COLUMN parent_pid; ALTER TABLE peers DROP COLUMN repo_key;
             ALTER TABLE peers DROP COLUMN host; ALTER TABLE peers DROP COLUMN agent; DROP INDEX messages_awaiting;
             ALTER TABLE messages DROP COLUMN reply_by; ALTER TABLE messages DROP COLUMN reply_status; DROP TABLE group_members;
             DROP TABLE paused_names; DROP TABLE edit_touches; DROP TABLE edit_claims;
             PRAGMA user_version = 2;`);
    db.close();

    const second = openSqliteStore(path);
    try {
      expect(userVersion(path)).toBe(SCHEMA_VERSION);
      expect(await second.getPeer("p-alice")).toEqual(peerRow("p-alice", { parent_pid: null, repo_key: null, host: "" }));
    } finally {
      await second.close();
    }
  });

  test("an existing empty file is adopted as a new database", async () => {
    const path = freshPath();
    writeFileSync(path, "");
    const store = openSqliteStore(path);
    await store.savePeer(peerRow("p-alice"));
    await store.close();
    expect(userVersion(path)).toBe(SCHEMA_VERSION);
  });

  const garbage: Array<[string, Buffer]> = [
    ["one byte", Buffer.from([0x41])],
    ["a few bytes", Buffer.from("hello\n")],
    ["a text file", Buffer.from("# my notes\n".repeat(200))],
    ["4 KiB of random bytes", Buffer.from(crypto.getRandomValues(new Uint8Array(4096)))],
    ["a SQLite header on garbage", Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4080, 0xee)])],
  ];

  test.each(garbage)("a file of %s is refused with StoreOpenError and left byte-for-byte unchanged", (_, bytes) => {
    const sub = mkdtempSync(join(dir, "garbage-"));
    const path = join(sub, "peers.db");
    writeFileSync(path, bytes, { mode: 0o644 });
    let error: unknown;
    try {
      openSqliteStore(path);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/move it aside|CLAUDE_PEERS_DB/);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(readdirSync(sub)).toEqual(["peers.db"]); // no -wal/-shm left beside it either
  });

  test("a database from a newer claude-peers is refused, not downgraded", async () => {
    const path = freshPath();
    const db = new Database(path, { create: true });
    db.exec("CREATE TABLE future (x); PRAGMA user_version = 999;");
    db.close();
    const before = readFileSync(path);
    expect(() => openSqliteStore(path)).toThrow(StoreOpenError);
    expect(() => openSqliteStore(path)).toThrow(/newer/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(userVersion(path)).toBe(999);
  });

  test("a path in a missing folder is a StoreOpenError naming the path", () => {
    const path = join(dir, "no-such-folder", "peers.db");
    expect(() => openSqliteStore(path)).toThrow(StoreOpenError);
    expect(() => openSqliteStore(path)).toThrow(path);
    expect(existsSync(path)).toBe(false);
  });
});

// One cluster for the file; null (the Postgres tests skip) when PostgreSQL is not installed, off CI.
const pg = await usePostgres();
afterAll(() => pg?.stop());
const NO_POSTGRES = "skipped: PostgreSQL server binaries not found (install postgresql to run the Postgres tests)";

if (pg) runStoreContract("postgres", async () => openPostgresStore(await pg.createDatabase()));
else console.log(`Store contract: postgres ${NO_POSTGRES}`);

/** A call's outcome while the server may be away: its value, or "unavailable"; any other error fails the test. */
const unlessUnavailable = <T>(promise: Promise<T>): Promise<T | "unavailable"> =>
  promise.catch((err) => {
    if (err instanceof StoreUnavailableError) return "unavailable" as const;
    throw err;
  });

describe("PostgreSQL without a server", () => {
  test.each([
    ["postgres://claude:s3cret@db.example.com:5432/peers", "postgres://claude:***@db.example.com:5432/peers"],
    ["postgresql://claude:p%40ss@10.0.0.5/peers?sslmode=require", "postgresql://claude:***@10.0.0.5/peers?sslmode=require"],
    ["postgres://claude@db.example.com/peers", "postgres://claude@db.example.com/peers"],
    ["postgres://db.example.com/peers?password=s3cret", "postgres://db.example.com/peers?password=***"],
    ["not a url //claude:s3cret@db", "not a url //claude:***@db"],
  ])("redactUrl(%p) is %p", (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });

  test("a port nobody listens on is a StoreOpenError naming CLAUDE_PEERS_DB and saying what to check", async () => {
    const url = `postgres://claude:s3cret-refused@127.0.0.1:${freePort()}/peers`;
    const error = await thrown(openPostgresStore(url));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error.message).toContain(`CLAUDE_PEERS_DB=${redactUrl(url)}`);
    expect(error.message).toMatch(/running/);
    expect(error.message).not.toContain("s3cret-refused");
  });
});

describe.skipIf(!pg)("PostgreSQL", () => {
  const schemaVersions = async (store: PostgresStore) =>
    (await store.sql<Array<{ version: number }>>`SELECT version FROM claude_peers_schema`).map((r) => r.version);

  test("a unit's afterCommit work runs once it committed and outside it, never after a rollback; detached work never joins a unit", async () => {
    const store = await openPostgresStore(await pg!.createDatabase());
    try {
      // The transaction a query runs in: its id once it wrote, else null (an autocommit read).
      const xact = () => store.connection.run((sql) => sql<Array<{ x: string | null }>>`SELECT pg_current_xact_id_if_assigned()::text AS x`).then((r) => r[0]!.x);
      let unitXact: string | null = null;
      const after = Promise.withResolvers<{ inUnit: boolean; x: string | null }>();
      const timer = Promise.withResolvers<string | null>();
      const started = Promise.withResolvers<void>();
      await store.atomically(async () => {
        await store.insertMessage(newMessage({ text: "in the unit" }));
        unitXact = await xact();
        store.afterCommit(() => void xact().then((x) => after.resolve({ inUnit: store.connection.inUnit, x }), after.reject));
        // As the network relay schedules its flush: a callback that runs while the unit is still open.
        store.detached(() =>
          setImmediate(() => {
            started.resolve();
            void xact().then(timer.resolve, timer.reject);
          }),
        );
        await started.promise;
        expect(await xact()).toBe(unitXact); // the unit's own queries are in it
      });
      expect(unitXact).not.toBeNull();
      expect(await after.promise).toEqual({ inUnit: false, x: null });
      // Bun carries the unit into the callback; detached, its query waited for the commit and ran alone.
      expect(await timer.promise).toBeNull();

      let ran = false;
      const failed = await thrown(
        store.atomically(async () => {
          store.afterCommit(() => (ran = true));
          await store.connection.run((sql) => sql`SELECT 1/0`);
        }),
      );
      expect(failed).toBeDefined();
      expect(ran).toBe(false);
      // Outside a unit, at once.
      store.afterCommit(() => (ran = true));
      expect(ran).toBe(true);
    } finally {
      await store.close();
    }
  });

  test("an ack in a unit that rolls back tells neither the waiting sender nor the watchers (they hear only what committed)", async () => {
    await using s = inProcessServices({ store: await openPostgresStore(await pg!.createDatabase()) });
    // A session whose Claude Code shows channel push: only its server is pushed its mail, and acks it.
    const reg = await s.registry.register(registration("api", { channel: true }));
    const peer = (await s.registry.authenticate(reg.secret))!;
    const failed: unknown[] = [];
    // The ack joins a unit that fails after it (as a failed notice, or a failed COMMIT, would).
    const ackThenFail = (id: string) =>
      s.store.atomically(async () => {
        await s.mail.acknowledge(peer, [id]);
        throw new Error("the unit fails after the ack");
      });
    const socket = { send: (data: string) => void ackThenFail(JSON.parse(data).message.id).catch((err) => failed.push(err)), close: () => {} };
    await s.registry.attach(reg.peer_id, socket);
    const frames: any[] = [];
    s.watchers.add({ send: (data: string) => void frames.push(JSON.parse(data)), close: () => {} });
    const sent = (await s.mail.send({ kind: "operator" }, { to: "api", text: "hello" })).message;
    await waitFor(() => failed.length === 1, "the unit with the ack to fail");
    // The sender waited out its ack and found the message as the store has it.
    expect(sent.state).toBe("queued");
    expect((await s.store.getMessage(sent.id))?.state).toBe("queued");
    expect(frames.map((f) => [f.event, f.message.state])).toEqual([["sent", "queued"]]);
  });

  test("a unit that hangs is rolled back after its time and the connection serves the rest; what the unit does later does not run", async () => {
    const store = await openPostgresStore(await pg!.createDatabase());
    try {
      const connection = new PgConnection(store.sql, 200);
      const members = async () => ((await connection.run((sql) => sql`SELECT count(*)::int AS n FROM group_members`)) as Array<{ n: number }>)[0]!.n;
      const hang = Promise.withResolvers<void>();
      const later = Promise.withResolvers<unknown>();
      const err = await thrown(
        connection.atomically(async () => {
          await connection.run((sql) => sql`INSERT INTO group_members (group_name, peer_name, joined_at) VALUES ('rolled-back', 'x', 1)`);
          await hang.promise; // a wait that should have come before the unit
          await connection.run((sql) => sql`INSERT INTO group_members (group_name, peer_name, joined_at) VALUES ('after-the-end', 'x', 1)`).then(later.resolve, later.resolve);
        }),
      );
      expect(err.message).toContain("rolled back");
      // The heartbeat's turn: the connection is free again.
      expect(await members()).toBe(0);
      hang.resolve();
      expect(String(await later.promise)).toContain("was rolled back");
      expect(await members()).toBe(0);
    } finally {
      await store.close();
    }
  });

  test("a fresh database is migrated to PG_SCHEMA_VERSION; reopening keeps the data and does not migrate again", async () => {
    const url = await pg!.createDatabase();
    const first = await openPostgresStore(url);
    expect(await schemaVersions(first)).toEqual([PG_SCHEMA_VERSION]);
    await first.savePeer(peerRow("p-alice"));
    const m = await first.insertMessage(newMessage({ text: "survives a reopen" }));
    await first.close();

    // Migration 1 creates its tables without IF NOT EXISTS: running it again would fail the open.
    const second = await openPostgresStore(url);
    try {
      expect(await schemaVersions(second)).toEqual([PG_SCHEMA_VERSION]);
      expect(await second.getPeer("p-alice")).toEqual(peerRow("p-alice"));
      expect(await second.getMessage(m.id)).toEqual(m);
    } finally {
      await second.close();
    }
  });

  test("brokers opening a fresh database at once all succeed, and it is migrated once", async () => {
    const url = await pg!.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore(url)));
    try {
      expect(await schemaVersions(stores[0]!)).toEqual([PG_SCHEMA_VERSION]);
      await stores[0]!.savePeer(peerRow("p-alice"));
      expect((await stores[3]!.getPeer("p-alice"))?.id).toBe("p-alice");
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test("a database from a newer claude-peers is refused with a StoreOpenError saying to update", async () => {
    const url = await pg!.createDatabase();
    const store = await openPostgresStore(url);
    await store.sql`UPDATE claude_peers_schema SET version = 999`;
    await store.close();
    const error = await thrown(openPostgresStore(url));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error.message).toContain("CLAUDE_PEERS_DB");
    expect(error.message).toMatch(/newer.*update claude-peers/);
  });

  test("a wrong password is a StoreOpenError naming CLAUDE_PEERS_DB, without the password", async () => {
    const url = new URL(await pg!.createDatabase());
    url.password = "wrong-password-0123";
    const error = await thrown(openPostgresStore(url.toString()));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error.message).toContain(`CLAUDE_PEERS_DB=${redactUrl(url.toString())}`);
    expect(error.message).toMatch(/password/);
    expect(error.message).not.toContain("wrong-password-0123");
    expect(error.message).not.toContain(new URL(pg!.adminUrl).password);
  });

  test("a database that does not exist is a StoreOpenError saying to create it", async () => {
    const url = new URL(pg!.adminUrl);
    url.pathname = "/t_no_such_database";
    const error = await thrown(openPostgresStore(url.toString()));
    expect(error).toBeInstanceOf(StoreOpenError);
    expect(error.message).toContain("CLAUDE_PEERS_DB");
    expect(error.message).toMatch(/does not exist.*createdb/);
    expect(error.message).not.toContain(url.password);
  });

  test("NUL and U+0001 round-trip through every text field and lookup; other text is stored as it is", async () => {
    const store = await openPostgresStore(await pg!.createDatabase());
    try {
      const odd = "a\u0000b\u0001c\u00010d\u0001\u0001";
      const peer = peerRow("p-odd", { name: odd, cwd: `/tmp/${odd}`, summary: odd, git_branch: odd, host: odd });
      await store.savePeer(peer);
      expect(await store.getPeer("p-odd")).toEqual(peer);
      expect(await store.lastPeerNamed(odd)).toEqual(peer);
      expect(await store.lastPeerNamed("a")).toBeNull();
      const m = await store.insertMessage(newMessage({ to_id: null, to_name: odd, text: odd }));
      expect((await store.history({ limit: 10, peer: odd })).map((x) => x.text)).toEqual([odd]);
      expect(await store.countWaitingNamed(odd)).toBe(1);
      const plain = await store.insertMessage(newMessage({ text: "plain ünïcode 😀" }));
      const raw = await store.sql<Array<{ text: string }>>`SELECT text FROM messages WHERE id = ${plain.id}`;
      expect(raw[0]?.text).toBe("plain ünïcode 😀");
      expect((await store.getMessage(m.id))?.text).toBe(odd);
    } finally {
      await store.close();
    }
  });

  test("a constraint violation rejects as itself, not as StoreUnavailableError", async () => {
    const store = await openPostgresStore(await pg!.createDatabase());
    try {
      const m = newMessage();
      await store.insertMessage(m);
      const error = await thrown(store.insertMessage(m));
      expect(error).not.toBeInstanceOf(StoreUnavailableError);
      expect(error.message).toMatch(/duplicate key/);
    } finally {
      await store.close();
    }
  });

  test("a call whose connection the server ends mid-query rejects with StoreUnavailableError; the next works", async () => {
    const url = await pg!.createDatabase();
    const store = await openPostgresStore(url);
    const m = await store.insertMessage(newMessage());
    // Another session holds the message's row lock, so the store's markRead waits on it; then the server ends that wait's backend.
    const other = new SQL({ url, max: 2 });
    try {
      const blocker = await other.reserve();
      await blocker`BEGIN`;
      await blocker`SELECT 1 FROM messages WHERE id = ${m.id} FOR UPDATE`;
      const read = thrown(store.markRead(m.to_id!, [m.id], m.created_at + 1));
      const waiting = await waitFor(async () => {
        const rows = await other<Array<{ pid: number }>>`
          SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
        return rows[0]?.pid;
      }, "the store's markRead to wait on the row lock");
      await other`SELECT pg_terminate_backend(${waiting})`;
      const error = await read;
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error.message).toMatch(/unreachable.*retry in a few seconds/);
      await blocker`ROLLBACK`;
      blocker.release();
      expect(await store.markRead(m.to_id!, [m.id], m.created_at + 2)).toEqual([m.id]);
    } finally {
      await other.close();
      await store.close();
    }
  });

  test("while the server restarts, calls reject with StoreUnavailableError (or succeed); then the same store works, data intact", async () => {
    const store = await openPostgresStore(await pg!.createDatabase());
    try {
      const before = await store.insertMessage(newMessage({ text: "inserted before the restart" }));
      let restarting = true;
      const restart = pg!.restart().finally(() => (restarting = false));
      // Calls all through the restart: each must succeed or be StoreUnavailableError (any other error fails the test).
      await waitFor(async () => {
        await unlessUnavailable(store.countByState());
        return !restarting;
      }, "the restart to finish", 60_000);
      await restart;
      await unlessUnavailable(store.countUnread("p-bob")); // right after
      const after = await waitFor(async () => {
        const found = await unlessUnavailable(store.getMessage(before.id));
        return found === "unavailable" ? null : found;
      }, "the store to answer again after the restart");
      expect(after).toEqual(before);
      await store.insertMessage(newMessage({ text: "inserted after the restart" }));
      expect(await store.countUnread("p-bob")).toBe(2);
    } finally {
      await store.close();
    }
  });
});
