/** ConnectionGate: one unit of work at a time on the broker's one query connection, urgent work (the heartbeat) first. */
import { expect, test } from "bun:test";
import { ConnectionGate } from "../../shared/store/connection-gate.ts";

/** A unit of work that runs until its release() is called, recording when it started. */
function held(order: string[], name: string) {
  const { promise, resolve } = Promise.withResolvers<void>();
  return { work: () => (order.push(name), promise), release: () => resolve() };
}

test("work runs one at a time, in order; an urgent unit goes ahead of every normal one waiting, never ahead of the one in flight", async () => {
  const gate = new ConnectionGate();
  const order: string[] = [];
  const first = held(order, "send-1");
  const running = gate.run(first.work);
  const queued = ["send-2", "send-3", "send-4"].map((name) => gate.run(async () => void order.push(name)));
  const beat = gate.run(async () => void order.push("heartbeat"), true);
  expect(order).toEqual(["send-1"]);
  expect(gate.waiting).toBe(4);
  first.release();
  await Promise.all([running, beat, ...queued]);
  expect(order).toEqual(["send-1", "heartbeat", "send-2", "send-3", "send-4"]);
  expect(gate.waiting).toBe(0);
});

test("a failing unit hands the connection on and its caller gets the error", async () => {
  const gate = new ConnectionGate();
  const failing = gate.run(async () => {
    throw new Error("connection lost");
  });
  const after = gate.run(async () => "ran");
  expect(failing).rejects.toThrow("connection lost");
  expect(await after).toBe("ran");
});

test("a newcomer never slips in between a finished unit and the one it hands over to", async () => {
  const gate = new ConnectionGate();
  const order: string[] = [];
  const first = held(order, "a");
  const a = gate.run(first.work);
  const b = gate.run(async () => void order.push("b"));
  first.release();
  const c = gate.run(async () => void order.push("c")); // arrives as a finishes
  await Promise.all([a, b, c]);
  expect(order).toEqual(["a", "b", "c"]);
});
