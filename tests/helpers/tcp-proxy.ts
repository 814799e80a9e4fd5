/** A TCP proxy on loopback that a test can cut and restore: a network partition between a host and its database. */
import type { Socket, TCPSocketListener } from "bun";
import { freePort } from "./env.ts";

export interface TcpProxy {
  port: number;
  /** Closes every connection and refuses new ones, like a cable pulled out. */
  cut(): void;
  /** Accepts connections again, on the same port. */
  restore(): void;
  stop(): void;
}

interface Pair {
  peer?: Socket<Pair>;
  /** Bytes from the client that arrived before the upstream connection opened. */
  pending: Uint8Array[];
}

export function startTcpProxy(targetPort: number): TcpProxy {
  const port = freePort();
  const open = new Set<Socket<Pair>>();
  let listener: TCPSocketListener<Pair> | undefined;

  const listen = () => {
    listener = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          client.data = { pending: [] };
          open.add(client);
          void Bun.connect<Pair>({
            hostname: "127.0.0.1",
            port: targetPort,
            socket: {
              open(upstream) {
                upstream.data = { peer: client, pending: [] };
                open.add(upstream);
                client.data.peer = upstream;
                for (const chunk of client.data.pending.splice(0)) upstream.write(chunk);
              },
              data: (upstream, chunk) => void upstream.data.peer?.write(chunk),
              close(upstream) {
                open.delete(upstream);
                upstream.data.peer?.end();
              },
              error(upstream) {
                upstream.data.peer?.end();
              },
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          if (client.data.peer) client.data.peer.write(chunk);
          else client.data.pending.push(new Uint8Array(chunk));
        },
        close(client) {
          open.delete(client);
          client.data.peer?.end();
        },
        error(client) {
          client.data.peer?.end();
        },
      },
    });
  };

  listen();
  return {
    port,
    cut() {
      listener?.stop(true);
      listener = undefined;
      for (const socket of open) socket.terminate();
      open.clear();
    },
    restore() {
      if (!listener) listen();
    },
    stop() {
      this.cut();
    },
  };
}
