/** The EditsStore contract on SQLite (a temp file and :memory:) and on PostgreSQL (a fresh database per test). */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPostgresStore } from "../shared/store/postgres.ts";
import { openSqliteStore } from "../shared/store/sqlite.ts";
import { runEditsStoreContract } from "./helpers/edits-store-contract.ts";
import { usePostgres } from "./helpers/postgres.ts";

const dir = mkdtempSync(join(tmpdir(), "claude-peers-edits-store-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runEditsStoreContract("sqlite file", () => openSqliteStore(join(dir, `store-${++files}.db`)));
runEditsStoreContract("sqlite :memory:", () => openSqliteStore(":memory:"));

const pg = await usePostgres();
afterAll(() => pg?.stop());
if (pg) runEditsStoreContract("postgres", async () => openPostgresStore(await pg.createDatabase()));
else console.log("EditsStore contract: postgres skipped (PostgreSQL server binaries not found)");
