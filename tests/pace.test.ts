/**
 * Bursts carried, not refused: the broker's pace (borrowed tokens, waits in order, a bounded wait)
 * and the client's patience (BrokerClient waits the time the broker names and goes again). In
 * process: createBroker on an in-memory store, on a temp socket, with small limits so a test takes a second.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Broker } from "../shared/broker/app.ts";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { dialBroker } from "../shared/broker-address.ts";
import { BrokerClient } from "../shared/broker-client.ts";
import { WireError } from "../shared/errors.ts";
import type { PaceLimits } from "../shared/broker/send-pace.ts";
import { peerRegistration } from "./helpers/broker.ts";
import { inProcessBroker, tempSocketPath } from "./helpers/in-process.ts";
import { thrown } from "./helpers/wait.ts";

const TOKEN = "pace-test-token-0123456789abcdef";
let broker: Broker | undefined;

afterEach(async () => {
  await broker?.stop();
  broker = undefined;
});

async function start(sendRate: PaceLimits, now?: () => number): Promise<{ socketPath: string }> {
  broker = await inProcessBroker({ token: TOKEN, sendRate, now });
  return { socketPath: broker.socketPath };
}

/** A peer registered over HTTP (no socket: its mail stays queued, so a send never waits for an ack). */
async function peer(socketPath: string, name: string, opts: { fetch?: typeof fetch; pacedWithinMs?: number } = {}) {
  const { secret, peer_id } = await new BrokerClient({ socketPath, token: TOKEN }).call("/register", peerRegistration(name));
  return { id: peer_id, client: new BrokerClient({ socketPath, token: TOKEN, secret, ...opts }) };
}

/** A fetch that records the status of every answer. */
function recordingFetch(statuses: number[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init);
    statuses.push(res.status);
    return res;
  }) as typeof fetch;
}

describe("the broker paces a sender instead of refusing it", () => {
  test("past its burst a sender's calls wait their turn; only one a whole wait ahead is turned away, with the time to come back", async () => {
    // A frozen clock: no token comes back, so the figures are exact. 5 at once, then one every
    // 20 ms, and a call may wait up to 100 ms: 5 go at once, 5 wait, the rest are turned away.
    const { socketPath } = await start({ perSecond: 50, burst: 5, maxWaitMs: 100 }, () => 1_700_000_000_000);
    const sink = await peer(socketPath, "sink");
    const sender = await peer(socketPath, "sender");
    const { secret } = sender.client;
    const answers = await Promise.all(
      Array.from({ length: 14 }, (_, i) =>
        dialBroker(sender.client.socketPath, "/send", {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "x-claude-peers-secret": secret!, "content-type": "application/json" },
          body: JSON.stringify({ to: sink.id, text: `burst ${i}` }),
        }).then(async (res) => ({ status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any })),
      ),
    );
    // Which calls are turned away depends on the order they reach the broker, not on the order sent.
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(4);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.body.error).toMatchObject({ code: "rate_limited", retry_after_ms: 20 });
      expect(r.body.error.message).toMatch(/over 50 messages a second.*nothing was sent, retry in 0\.1 s/);
      expect(r.retryAfter).toBe("1");
    }
    const status = await new BrokerClient({ socketPath, token: TOKEN }).call("/status", {});
    expect(status.messages.queued).toBe(10);
  });

  test("another sender is not held behind a sender that waits its turn", async () => {
    const { socketPath } = await start({ perSecond: 20, burst: 2, maxWaitMs: 1000 });
    const sink = await peer(socketPath, "sink");
    const flooder = await peer(socketPath, "flooder");
    const calm = await peer(socketPath, "calm");
    const order: string[] = [];
    const flood = Array.from({ length: 10 }, (_, i) => flooder.client.call("/send", { to: sink.id, text: `flood ${i}` }).then(() => order.push(`flood ${i}`)));
    await calm.client.call("/send", { to: sink.id, text: "calm" });
    order.push("calm");
    await Promise.all(flood);
    // The flooder's last calls wait up to ~400 ms for tokens; the calm sender's answer comes first.
    expect(order.indexOf("calm")).toBeLessThan(order.indexOf("flood 9"));
    expect(order).toHaveLength(11);
  });
});

describe("BrokerClient waits for the broker's pace", () => {
  test("a burst far over the pace is carried whole: turned-away calls wait and go again, each stored once", async () => {
    // 10 a second, a burst of 2, at most 100 ms of waiting in the broker: 20 calls at once cannot fit.
    const { socketPath } = await start({ perSecond: 10, burst: 2, maxWaitMs: 100 });
    const reader = await peer(socketPath, "reader");
    const statuses: number[] = [];
    const sender = await peer(socketPath, "sender", { fetch: recordingFetch(statuses) });
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => sender.client.call("/send", { to: reader.id, text: `job ${i}` })));
    expect(new Set(sent.map((r) => r.message.id)).size).toBe(20);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0); // the broker did turn calls away
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const { messages } = await reader.client.call("/inbox", { mark_read: false });
    expect(messages.map((m) => m.text).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `job ${i}`).sort());
  });

  test("past its patience a call fails with a retryable rate_limited error, and nothing was sent", async () => {
    const { socketPath } = await start({ perSecond: 1, burst: 1, maxWaitMs: 0 });
    const reader = await peer(socketPath, "reader");
    const sender = await peer(socketPath, "sender", { pacedWithinMs: 300 });
    await sender.client.call("/send", { to: reader.id, text: "first" });
    const err = await thrown(sender.client.call("/send", { to: reader.id, text: "second" }));
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).code).toBe("rate_limited");
    expect((err as WireError).message).toMatch(/still pacing this sender after 0\.3 s.*nothing was sent, try again/);
    const { messages } = await reader.client.call("/inbox", { mark_read: false });
    expect(messages.map((m) => m.text)).toEqual(["first"]);
  });

  test("the operator (no peer secret) has one bucket of its own: peers are not held by it", async () => {
    const { socketPath } = await start({ perSecond: 50, burst: 1, maxWaitMs: 0 }, () => 1_700_000_000_000);
    const reader = await peer(socketPath, "reader");
    const first = new BrokerClient({ socketPath, token: TOKEN, pacedWithinMs: 0 });
    const second = new BrokerClient({ socketPath, token: TOKEN, pacedWithinMs: 0 }); // another terminal
    await first.call("/send", { to: reader.id, text: "from the cli" });
    expect(((await thrown(second.call("/send", { to: reader.id, text: "again" }))) as WireError).code).toBe("rate_limited");
    const other = await peer(socketPath, "other");
    await other.client.call("/send", { to: reader.id, text: "a peer goes at once" });
  });
});

describe("BrokerClient reads the broker's errors by their parts", () => {
  test("code, field and retry time come from the error body; a code it does not know reads as internal", async () => {
    const bodies = [
      { status: 404, error: { code: "not_found", message: "to: no peer", field: "to" } },
      { status: 418, error: { code: "teapot", message: "from a newer broker" } },
    ];
    let next = 0;
    using temp = tempSocketPath();
    mkdirSync(dirname(temp.socketPath), { mode: 0o700 });
    using other = Bun.serve({
      unix: temp.socketPath,
      fetch: () => {
        const b = bodies[next++]!;
        return Response.json({ error: b.error }, { status: b.status });
      },
    });
    const client = new BrokerClient({ socketPath: temp.socketPath, token: TOKEN });
    const notFound = (await thrown(client.call("/send", { to: "x", text: "y" }))) as WireError;
    expect([notFound.code, notFound.field, notFound.message]).toEqual(["not_found", "to", "to: no peer"]);
    const unknown = (await thrown(client.call("/status", {}))) as WireError;
    expect([unknown.code, unknown.message]).toEqual(["internal", "from a newer broker"]);
  });
});

describe("a waiting check_messages over HTTP", () => {
  test("outlives the server's 10 s idle timeout, and returns the message that arrives after it", async () => {
    const { socketPath } = await start({ perSecond: 100, burst: 100, maxWaitMs: 0 });
    const asker = await peer(socketPath, "asker");
    // A session holds its push socket while it waits (without one, or polls, it would be swept as gone).
    const socket = asker.client.openSocket();
    await new Promise((resolve, reject) => ((socket.onopen = resolve), (socket.onerror = reject)));
    // The wait must pass Bun's idle timeout (10 s, checked every few seconds) before anything arrives: time has to go by here.
    const later = setTimeout(() => void new BrokerClient({ socketPath, token: TOKEN }).call("/send", { to: "asker", text: "after 15 s" }), 15_000);
    try {
      const { messages } = await asker.client.call("/inbox", { mark_read: true, wait_s: 30 }, { waitMs: 30_000 });
      expect(messages.map((m) => m.text)).toEqual(["after 15 s"]);
    } finally {
      clearTimeout(later);
      socket.close();
    }
  }, 40_000);
});
