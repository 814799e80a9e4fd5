/**
 * A peer without MCP: registers over HTTP and holds the push WebSocket with the product's own
 * BrokerClient, acking every pushed message as server.ts does. One bench process can hold
 * hundreds of these where a real server.ts costs ~40 MB each.
 */
import { BrokerClient } from "../shared/broker-client.ts";
import { BrokerFrameSchema, type Message, type PeerFrame } from "../shared/protocol.ts";

const OPEN_TIMEOUT_MS = 5000;

export interface RawPeer {
  id: string;
  name: string;
  /** Calls the broker as this peer (token and peer secret set). */
  client: BrokerClient;
  close(): void;
}

export interface RawPeerOptions {
  /** The broker's API socket. */
  socketPath: string;
  token: string;
  name: string;
  /** Called for every pushed message, after its ack frame was sent. */
  onMessage?: (message: Message) => void;
}

/** Registers `name` and resolves once its push socket is open. */
export async function connectRawPeer(opts: RawPeerOptions): Promise<RawPeer> {
  const anonymous = new BrokerClient({ socketPath: opts.socketPath, token: opts.token });
  const registration = {
    name: opts.name,
    pid: process.pid,
    cwd: `/bench/${opts.name}`,
    git_root: null,
    git_common_dir: null,
    git_branch: null,
    summary: "benchmark peer",
    // It acks what it is pushed, as server.ts does where its Claude Code shows channel push: only such a session is pushed to.
    channel: true,
  };
  const { peer_id, secret, name } = await anonymous.call("/register", registration);
  const client = new BrokerClient({ socketPath: opts.socketPath, token: opts.token, secret });
  const socket = client.openSocket();
  socket.onmessage = (event) => {
    const frame = BrokerFrameSchema.safeParse(JSON.parse(String(event.data)));
    if (!frame.success || frame.data.type !== "message") return;
    socket.send(JSON.stringify({ type: "ack", ids: [frame.data.message.id] } satisfies PeerFrame));
    opts.onMessage?.(frame.data.message);
  };
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(() => reject(new Error(`push socket for ${name} did not open within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
  socket.onopen = () => resolve();
  socket.onclose = (e) => reject(new Error(`push socket for ${name} closed: ${e.code} ${e.reason}`));
  await promise.finally(() => clearTimeout(timer));
  socket.onclose = null;
  return { id: peer_id, name, client, close: () => socket.close(1000, "benchmark done") };
}
