/**
 * bench/scale.ts's hosts: a real broker per host (its own HOME, port and CLAUDE_PEERS_HOST) on the
 * shared database, with two raw peers, a sender and a receiver that acks every push and marks it
 * read; and the notices each broker says it received.
 */
import { StatusResultSchema, type Message } from "../shared/protocol.ts";
import { startBroker, type TestBroker } from "../tests/helpers/broker.ts";
import { makeTestEnv, type TestEnv } from "../tests/helpers/env.ts";
import { connectRawPeer, type RawPeer } from "./raw-peer.ts";

export interface Host {
  name: string;
  t: TestEnv;
  broker: TestBroker;
  sender: RawPeer;
  receiver: RawPeer;
}

/** Resolves when a receiver is pushed the message with this text (with the moment, performance.now()). */
export const arrivals = new Map<string, (at: number) => void>();
/** The receivers' "mark read" calls in flight. */
export const reading = new Set<Promise<unknown>>();

/** Starts `count` hosts into `hosts` (each as it comes up, so the caller stops every one that started, even when another failed). */
export async function startHosts(url: string, count: number, hosts: Host[] = []): Promise<Host[]> {
  const start = async (i: number): Promise<Host> => {
    const name = `h${i}`;
    const t = makeTestEnv({ CLAUDE_PEERS_DB: url, CLAUDE_PEERS_HOST: name });
    const broker = await startBroker(t);
    const sender = await connectRawPeer({ socketPath: t.socketPath, token: broker.token, name: `sender-${i}` });
    // Delivered (the raw peer acks the push), then read, as a session's check_messages marks it.
    const receiver: RawPeer = await connectRawPeer({
      socketPath: t.socketPath,
      token: broker.token,
      name: `receiver-${i}`,
      onMessage: (m: Message) => {
        arrivals.get(m.text)?.(performance.now());
        const read = receiver.client.call("/ack", { ids: [m.id], state: "read" }).catch((err) => console.log(`marking ${m.id} read failed: ${err}`));
        reading.add(read);
        void read.finally(() => reading.delete(read));
      },
    });
    const host = { name, t, broker, sender, receiver };
    hosts.push(host);
    return host;
  };
  // Two at a time: Bun start-ups on a small, shared machine must each come up within startBroker's patience.
  for (let i = 0; i < count; i += 2) {
    const started = await Promise.allSettled(Array.from({ length: Math.min(2, count - i) }, (_, k) => start(i + k)));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }
  return hosts;
}

export async function stopHosts(hosts: Host[]): Promise<void> {
  await Promise.all(hosts.map(async (h) => {
    h.sender.close();
    h.receiver.close();
    await h.broker.stop();
    h.t.cleanup();
  }));
}

/** Notices every broker received so far, from each one's /status. */
export async function noticesReceived(hosts: Host[]): Promise<number> {
  const counts = await Promise.all(hosts.map(async (h) => StatusResultSchema.parse(await (await h.broker.post("/status", {})).json()).broker.notices_received ?? 0));
  return counts.reduce((a, b) => a + b, 0);
}
