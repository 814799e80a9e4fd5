/** The Store contract run against SQLite (a temp file and :memory:), plus what only a file can show. */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHEMA_VERSION, StoreOpenError, openSqliteStore } from "../shared/store-sqlite.ts";
import { newMessage, peerRow, runStoreContract } from "./helpers/store-contract.ts";

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
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
    expect(userVersion(path)).toBe(SCHEMA_VERSION);
  });

  test("reopening an existing database keeps its data and does not migrate again", async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.savePeer(peerRow("p-alice"));
    const m = await first.insertMessage(newMessage({ text: "survives a restart" }));
    await first.markDelivered("p-bob", [m.id], m.createdAt + 1);
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

  test("a database from before parent_pid (schema 2) is migrated; its peers read parentPid null", async () => {
    const path = freshPath();
    const first = openSqliteStore(path);
    await first.savePeer(peerRow("p-alice"));
    await first.close();
    // Turn it back into what schema 2 left on disk: the same tables without the column.
    const db = new Database(path);
    db.exec("ALTER TABLE peers DROP COLUMN parent_pid; PRAGMA user_version = 2;");
    db.close();

    const second = openSqliteStore(path);
    try {
      expect(userVersion(path)).toBe(SCHEMA_VERSION);
      expect(await second.getPeer("p-alice")).toEqual(peerRow("p-alice", { parentPid: null }));
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
