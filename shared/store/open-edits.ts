/** The edits store (store/edits.ts) beside the broker's Store, on the same database and connections. */
import type { EditsStore } from "./edits.ts";
import { PostgresEditsStore } from "./postgres-edits.ts";
import { PostgresStore } from "./postgres.ts";
import { SqliteEditsStore } from "./sqlite-edits.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

export function editsStoreFor(store: Store): EditsStore {
  if (store instanceof SqliteStore) return new SqliteEditsStore(store.db);
  if (store instanceof PostgresStore) return new PostgresEditsStore(store.sql, store.location);
  throw new Error("edit collisions need the SQLite or the PostgreSQL store");
}
