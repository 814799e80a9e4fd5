/**
 * The broker's mail as pure state, in process: services over an in-memory SQLite store with an
 * injected clock (tests/helpers/in-process.ts). No processes, no HTTP, no waiting on wall time.
 */
import { describe, expect, test } from "bun:test";
import { openSqliteStore } from "../shared/store/sqlite.ts";
import type { Store } from "../shared/store/store.ts";
import { inProcessServices, registration } from "./helpers/in-process.ts";

/** A store whose next insertMessage waits at a gate the test opens: one interleaving, on purpose. */
function gatedInserts(real: Store) {
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const store = new Proxy(real, {
    get(target, key) {
      if (key === "insertMessage") {
        return async (...args: Parameters<Store["insertMessage"]>) => {
          reached.resolve();
          await gate.promise;
          return target.insertMessage(...args);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store, reached: reached.promise, open: () => gate.resolve() };
}

describe("mail to a name", () => {
  test("a send that found the name offline, stored after a new session took the name, goes to that session", async () => {
    const gated = gatedInserts(openSqliteStore(":memory:"));
    const s = inProcessServices({ store: gated.store });
    try {
      const first = await s.registry.register(registration("b"));
      await s.registry.unregister((await s.registry.authenticate(first.secret))!);
      // The send resolves "b" to its mailbox while no session holds the name...
      const sending = s.mail.send({ kind: "operator" }, { to: "b", text: "in the gap" });
      await gated.reached;
      // ...a new session takes the name and claims the mailbox before the message is stored.
      const next = await s.registry.register(registration("b"));
      gated.open();
      await sending;
      const peer = (await s.registry.authenticate(next.secret))!;
      expect((await s.mail.inbox(peer, false)).map((m) => m.text)).toEqual(["in the gap"]);
    } finally {
      await s.close();
    }
  });
});
