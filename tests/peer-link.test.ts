/**
 * PeerLink's reconnect logic in process: a real broker (createBroker on an in-memory store), a
 * broker starter the test scripts, a fetch that cuts chosen requests, and a sleep that records
 * the waits it is asked for and ends them at once, so no test waits on the clock.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Broker } from "../shared/broker/app.ts";
import { BrokerClient, type BrokerClientOptions } from "../shared/broker-client.ts";
import { loadConfig, type Config } from "../shared/config.ts";
import { PeersError, WireError, type PeersErrorCode } from "../shared/errors.ts";
import { BROKER_SERVICE, PROTOCOL_VERSION, type RoutePath } from "../shared/protocol.ts";
import type { RunningBroker } from "../shared/server/launch-broker.ts";
import { MAX_BACKOFF_MS, PeerLink, POLL_INTERVAL_MS, START_FAILURE_RETRY_MS } from "../shared/server/peer-link.ts";
import { VERSION } from "../shared/version.ts";
import { inProcessBroker, registration, tempSocketPath } from "./helpers/in-process.ts";
import { thrown } from "./helpers/wait.ts";

const TOKEN = "peer-link-test-token-0123456789ab";

/** A promise that resolves once `ready()` holds, checked each time `poke` is called. */
class Condition {
  private waiters: Array<{ ready: () => boolean; resolve: () => void }> = [];
  until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.waiters.push({ ready, resolve });
    return promise;
  }
  poke(): void {
    this.waiters = this.waiters.filter((w) => (w.ready() ? (w.resolve(), false) : true));
  }
}

/**
 * The link's sleep: records every wait. A wait the policy holds lasts until the link cuts it
 * short (reconnect(), stop()); any other ends at once. Holding is what keeps a polling link, or a
 * loop that keeps failing, from spinning.
 */
class FakeSleep {
  readonly asked: number[] = [];
  private readonly asks = new Condition();
  constructor(private readonly holds: (ms: number, index: number) => boolean) {}

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    const index = this.asked.push(ms) - 1;
    this.asks.poke();
    if (!this.holds(ms, index)) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    signal?.addEventListener("abort", () => resolve(), { once: true });
    return promise;
  };

  untilAsked(count: number): Promise<void> {
    return this.asks.until(() => this.asked.length >= count);
  }
}

/**
 * Stands in for ensureBroker: each attempt runs the next scripted step, or, past the script,
 * hands out the in-process broker on the link's socket, starting a new one there if it is gone.
 */
class BrokerStarter {
  attempts = 0;
  private broker: Broker | undefined;
  /** A broker still letting go of the socket: the next one waits for it. */
  private dying: Promise<void> = Promise.resolve();
  private readonly attempted = new Condition();
  constructor(
    private readonly socketPath: string,
    private readonly script: Array<() => Promise<void>>,
  ) {}

  readonly ensureBroker = async (): Promise<RunningBroker> => {
    const step = this.script[this.attempts++];
    this.attempted.poke();
    await step?.();
    await this.dying;
    this.broker ??= await inProcessBroker({ token: TOKEN, socketPath: this.socketPath });
    return { token: TOKEN, health: { service: BROKER_SERVICE, version: VERSION, protocol: PROTOCOL_VERSION, pid: 1000 + this.attempts, started_at: new Date().toISOString() } };
  };

  untilAttempt(count: number): Promise<void> {
    return this.attempted.until(() => this.attempts >= count);
  }

  /** The broker dies: nothing listens on its socket until the next attempt starts a new one. */
  async crash(): Promise<void> {
    const dead = this.broker;
    this.broker = undefined;
    this.dying = dead?.stop() ?? Promise.resolve();
    await this.dying;
  }

  /** Someone else starts a new broker on the socket (an empty store: it never heard of the link's peer). */
  async replace(): Promise<void> {
    await this.crash();
    this.broker = await inProcessBroker({ token: TOKEN, socketPath: this.socketPath });
  }
}

type Fault = "refused" | "answer_lost" | "unavailable";

/** Builds the link's clients with a fetch that fails chosen requests, and records what reached the broker. */
class Wire {
  readonly reached: string[] = [];
  private readonly faults = new Map<string, Fault[]>();

  /** The next requests to `path` fail, one fault each, in order. */
  fail(path: RoutePath, ...faults: Fault[]): void {
    this.faults.set(path, [...(this.faults.get(path) ?? []), ...faults]);
  }

  count(path: RoutePath): number {
    return this.reached.filter((p) => p === path).length;
  }

  readonly createClient = (opts: BrokerClientOptions): BrokerClient => new BrokerClient({ ...opts, fetch: this.fetch });

  private readonly fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(input)).pathname;
    const fault = this.faults.get(path)?.shift();
    // What Bun's fetch throws when nothing listens: BrokerClient reads it as "nothing was sent".
    if (fault === "refused") throw Object.assign(new Error("Unable to connect. Is the computer able to access the url?"), { code: "ConnectionRefused" });
    if (fault === "unavailable") return new WireError("unavailable", "the shared database is restarting").toResponse();
    const res = await fetch(input, init);
    this.reached.push(path);
    // The broker did the work, but its answer never came back.
    if (fault === "answer_lost") throw Object.assign(new Error("The socket connection was closed unexpectedly"), { code: "ECONNRESET" });
    return res;
  }) as typeof fetch;
}

let link: PeerLink | undefined;
let starter: BrokerStarter | undefined;
let socketFolder: { remove(): void } | undefined;

afterEach(async () => {
  await link?.stop();
  await starter?.crash();
  socketFolder?.remove();
  link = undefined;
  starter = undefined;
  socketFolder = undefined;
});

interface LinkSetup {
  push?: boolean;
  script?: Array<() => Promise<void>>;
  holds?: (ms: number, index: number) => boolean;
}

/** A started link on a socket in a temp folder, with its starter, wire, sleep and log lines. */
async function startLink({ push = true, script = [], holds = () => false }: LinkSetup = {}) {
  // The starter brings its brokers up on this socket when asked.
  const folder = tempSocketPath();
  socketFolder = folder;
  const { socketPath } = folder;
  starter = new BrokerStarter(socketPath, script);
  const wire = new Wire();
  const sleep = new FakeSleep(holds);
  const logs: string[] = [];
  const config: Config = { ...loadConfig({}, "/nonexistent-home"), socketPath, push };
  link = new PeerLink({
    config,
    registration: registration("alice", { pid: process.pid, parent_pid: process.ppid }),
    deliver: async () => {},
    log: (line) => logs.push(line),
    ensureBroker: starter.ensureBroker,
    createClient: wire.createClient,
    sleep: sleep.sleep,
  });
  link.start();
  return { link, starter, wire, sleep, logs, socketPath };
}

/** A second peer, registered over plain HTTP, to receive what the link sends. */
async function recipient(socketPath: string) {
  const { peer_id, secret } = await new BrokerClient({ socketPath, token: TOKEN }).call("/register", registration("bob", { pid: process.pid }));
  const client = new BrokerClient({ socketPath, token: TOKEN, secret });
  return { id: peer_id, inbox: async () => (await client.call("/inbox", { mark_read: false })).messages };
}

/** Runs `promise` to its end in the background (a rejection is kept, never unhandled); `settled` says whether it got there. */
function track<T>(promise: Promise<T>) {
  let settled = false;
  const outcome: Promise<{ value?: T; error?: unknown }> = promise.then((value) => ({ value }), (error: unknown) => ({ error })).finally(() => (settled = true));
  return { outcome, get settled() { return settled; } };
}

/** Lets every pending callback of this turn (and timers due now) run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const transient = () => Promise.reject(new PeersError("broker_unreachable", "nothing answers on the port yet"));

describe("a call while the link is (re)connecting", () => {
  test("waits through a failed attempt for the registration, then goes through", async () => {
    const { promise: started, resolve: letStart } = Promise.withResolvers<void>();
    const { link, starter, sleep } = await startLink({ script: [transient, () => started] });
    const call = track(link.call("/whoami", {}));
    await starter.untilAttempt(2);
    await nextTurn();
    // A transient failure (nothing listens yet) does not fail the waiting call.
    expect(call.settled).toBe(false);
    letStart();
    const outcome = await call.outcome;
    expect(outcome).toEqual({ value: expect.objectContaining({ peer: expect.objectContaining({ id: link.peerId, name: "alice" }) }) });
    expect(link.state).toBe("push");
    expect(sleep.asked).toEqual([50]);
  });
});

describe("a broker that forgot the peer", () => {
  test("answers unauthorized: that call fails; the new broker never issued the link's id, so it registers as a new peer under its name, and the next call goes through", async () => {
    // Polling: no socket to close when the broker changes, so the first sign is the 401.
    const { link, starter, sleep, logs } = await startLink({ push: false, holds: (ms) => ms === POLL_INTERVAL_MS });
    const before = (await link.call("/whoami", {})).peer;
    await sleep.untilAsked(1); // the first poll round is done; the link idles until the next
    await starter.replace();
    const attempts = starter.attempts;

    // Real behaviour: the rejected call is not sent again, though the broker did nothing with it.
    const err = await thrown(link.call("/whoami", {}, { idempotent: true }));
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).code).toBe("unauthorized");

    const after = (await link.call("/whoami", {})).peer;
    expect(after.id).not.toBe(before.id);
    expect(after.name).toBe(before.name);
    expect(starter.attempts).toBe(attempts + 1);
    expect(link.state).toBe("poll");
    expect(logs.some((line) => line.includes(`broker refused peer id ${before.id}`) && line.includes("not issued by this broker"))).toBe(true);
  });
});

describe("a call cut by a broker that went away", () => {
  test("is sent once more after the reconnect when it provably never left (nothingSent)", async () => {
    const { link, starter, wire, socketPath } = await startLink();
    await link.call("/whoami", {});
    const bob = await recipient(socketPath);
    const id = link.peerId;
    wire.fail("/send", "refused");

    const { message } = await link.call("/send", { to: bob.id, text: "hello once" });
    expect(message.text).toBe("hello once");
    expect(wire.count("/send")).toBe(1);
    expect(starter.attempts).toBe(2); // registered again before the resend
    expect(wire.reached.slice(-2)).toEqual(["/register", "/send"]);
    expect(link.peerId).toBe(id);
    expect((await bob.inbox()).map((m) => m.text)).toEqual(["hello once"]);
  });

  test("is not sent again when it may have reached the broker and is not idempotent", async () => {
    const { link, starter, wire, socketPath } = await startLink();
    await link.call("/whoami", {});
    const bob = await recipient(socketPath);
    wire.fail("/send", "answer_lost");

    const err = await thrown(link.call("/send", { to: bob.id, text: "maybe delivered" }));
    expect(err).toBeInstanceOf(PeersError);
    expect(err).toMatchObject({ code: "broker_unreachable", nothingSent: false });
    expect(wire.count("/send")).toBe(1);
    expect((await bob.inbox()).map((m) => m.text)).toEqual(["maybe delivered"]);
    // The link still reconnected: the next call goes through on a fresh registration.
    await link.call("/whoami", {});
    expect(starter.attempts).toBe(2);
  });

  test("is sent again when it may have reached the broker but is idempotent (its key stores it once)", async () => {
    const { link, wire, socketPath } = await startLink();
    await link.call("/whoami", {});
    const bob = await recipient(socketPath);
    wire.fail("/send", "answer_lost");

    const { message } = await link.call("/send", { to: bob.id, text: "keyed", idempotency_key: "key-0123456789" }, { idempotent: true });
    expect(wire.count("/send")).toBe(2);
    expect((await bob.inbox()).map((m) => m.id)).toEqual([message.id]);
  });
});

describe("a broker answering unavailable (503)", () => {
  test("an idempotent call is asked again with a doubling backoff capped at MAX_BACKOFF_MS, on the injected sleep", async () => {
    const { link, wire, sleep } = await startLink();
    await link.call("/whoami", {});
    wire.fail("/whoami", ...Array<Fault>(7).fill("unavailable"));
    const before = wire.count("/whoami");

    await link.call("/whoami", {}, { idempotent: true });
    expect(sleep.asked).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(Math.max(...sleep.asked)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(wire.count("/whoami")).toBe(before + 1);
  });

  test("a call that is not idempotent fails at once", async () => {
    const { link, wire, sleep } = await startLink();
    await link.call("/whoami", {});
    wire.fail("/whoami", "unavailable");

    const err = await thrown(link.call("/whoami", {}));
    expect(err).toMatchObject({ code: "unavailable" });
    expect(sleep.asked).toEqual([]);
  });
});

describe("the connect loop's backoff", () => {
  test("doubles from 50 ms up to MAX_BACKOFF_MS while the broker is missing, logging the failure once", async () => {
    const fails = Array(20).fill(transient);
    // Nine waits end at once; the tenth holds, so the loop stops there.
    const { sleep, logs } = await startLink({ script: fails, holds: (_ms, index) => index >= 9 });
    await sleep.untilAsked(10);
    expect(sleep.asked).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000]);
    expect(Math.max(...sleep.asked)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(logs.filter((l) => l.includes("nothing answers on the port yet"))).toHaveLength(1);
  });

  test("starts again from 50 ms after a registration", async () => {
    const { link, starter, sleep } = await startLink({ script: [transient, transient, transient, async () => {}, transient] });
    await link.call("/whoami", {});
    expect(sleep.asked).toEqual([50, 100, 200]);
    await starter.crash(); // the push socket closes; the link goes straight back to the starter
    await starter.untilAttempt(6);
    await link.call("/whoami", {});
    expect(sleep.asked).toEqual([50, 100, 200, 50]);
  });
});

describe("lasting failures", () => {
  // The loop's waits: a broker that failed to start is tried again only every 15 s; the others back off as usual.
  const lasting: Array<[PeersErrorCode, number[]]> = [
    ["broker_start_failed", [START_FAILURE_RETRY_MS, START_FAILURE_RETRY_MS, START_FAILURE_RETRY_MS]],
    ["broker_foreign", [50, 100, 200]],
    ["token_missing", [50, 100, 200]],
  ];

  // The timeout is under READY_WAIT_MS (5 s): a call that waited for the link instead fails the test.
  test.each(lasting)("%s fails a waiting call at once, and every later call without waiting", async (code, waits) => {
    const { promise: attempted, resolve: letFail } = Promise.withResolvers<void>();
    const failure = () => Promise.reject(new PeersError(code, `cannot start: ${code}`));
    const { link, starter, sleep } = await startLink({ script: [() => attempted.then(failure), ...Array(9).fill(failure)], holds: () => true });
    const waiting = track(link.call("/whoami", {}));
    letFail();
    const first = await waiting.outcome;
    expect(first.error).toBeInstanceOf(PeersError);
    expect(first.error).toMatchObject({ code: "broker_unreachable" });
    expect((first.error as Error).message).toBe(`not connected to the claude-peers broker yet (cannot start: ${code}); try again in a few seconds`);

    const later = await thrown(link.call("/whoami", {}));
    expect(later).toMatchObject({ code: "broker_unreachable" });
    expect(later.message).toBe(`cannot use the claude-peers broker: cannot start: ${code}`);
    // Real behaviour: each failed call cuts the loop's wait short, so the link tries once more per call.
    await starter.untilAttempt(3);
    await sleep.untilAsked(3);
    expect(sleep.asked).toEqual(waits);
  }, 4000);
});
