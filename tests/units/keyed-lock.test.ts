/** KeyedLock: holders of a common key run one after another, in order; others do not wait. */
import { describe, expect, test } from "bun:test";
import { KeyedLock } from "../../shared/broker/keyed-lock.ts";

describe("KeyedLock", () => {
  test("callers sharing a key run in the order they asked, each after the last released", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const run = async (name: string, keys: string[]) => {
      const release = await lock.lock(keys);
      log.push(`${name} in`);
      await Promise.resolve(); // an await inside the held section, as a store call is
      log.push(`${name} out`);
      release();
    };
    await Promise.all([run("first", ["p"]), run("second", ["p", "q"]), run("third", ["q"])]);
    expect(log).toEqual(["first in", "first out", "second in", "second out", "third in", "third out"]);
    expect(lock.size).toBe(0); // nothing left behind
  });

  test("callers with no key in common do not wait for each other", async () => {
    const lock = new KeyedLock();
    const held = await lock.lock(["p"]);
    const other = await lock.lock(["q"]); // resolves while p is held
    other();
    held();
    expect(lock.size).toBe(0);
  });

  test("keys asked for in opposite orders never deadlock; a release called twice frees once", async () => {
    const lock = new KeyedLock();
    const first = await lock.lock(["a", "b"]);
    const order: string[] = [];
    const second = lock.lock(["b", "a"]).then((r) => (order.push("second"), r));
    const third = lock.lock(["a"]).then((r) => (order.push("third"), r));
    first();
    first();
    (await second)();
    (await third)();
    expect(order).toEqual(["second", "third"]);
    expect(lock.size).toBe(0);
  });
});
