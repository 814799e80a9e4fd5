/**
 * A proxy in front of PostgreSQL that reads the wire protocol both ways and records every
 * transaction its clients run, with the statements in it: exact and at once, where
 * pg_stat_database's counters are flushed by each backend lazily (PostgreSQL 15: at most once a
 * second, an idle backend up to 10 s later). A transaction ends where the server reports itself
 * idle again (ReadyForQuery 'I'); each Sync or simple Query gets one ReadyForQuery, in order, so
 * pipelined requests are matched too. What it counts is what pg_stat_database counts as
 * xact_commit + xact_rollback: a unit of work between two idle points, read-only or not.
 */
import type { Socket, TCPSocketListener } from "bun";
import { freePort } from "./env.ts";

export interface CountedTransaction {
  /** The statements' SQL, in order (a prepared statement by the text it was parsed with). */
  statements: string[];
  /** 'I' committed or never opened a block, 'E' a block that failed (rolled back). */
  end: "I" | "E";
}

export interface PgCounter {
  port: number;
  /** Every transaction finished so far, in the order they ended. */
  readonly transactions: readonly CountedTransaction[];
  stop(): void;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

interface Conn {
  upstream?: Socket<Conn>;
  client?: Socket<Conn>;
  pending: Uint8Array[];
  front: Uint8Array;
  back: Uint8Array;
  /** The client's first message(s) have no type byte: the startup (after an SSL or GSS request). */
  startup: boolean;
  /** The server's one-byte answer to an SSL or GSS request is due. */
  sslAnswer: boolean;
  /** Prepared statement name → its SQL. */
  prepared: Map<string, string>;
  /** Statements sent since the last Sync or Query, then one batch per ReadyForQuery to come. */
  current: string[];
  batches: string[][];
  /** Statements of the transaction the server has not finished yet. */
  open: string[];
  /** Whether any work (Parse, Bind, Execute, Query) came since the last idle point. */
  worked: boolean;
  workQueue: boolean[];
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};
const cstrings = (body: Uint8Array): string[] => new TextDecoder().decode(body).split("\0");

export function startPgCounter(targetPort: number): PgCounter {
  const port = freePort();
  const transactions: CountedTransaction[] = [];
  const sockets = new Set<Socket<Conn>>();

  /** The client's messages: what is about to run. */
  const fromClient = (c: Conn, chunk: Uint8Array) => {
    c.front = concat(c.front, chunk);
    for (;;) {
      if (c.startup) {
        if (c.front.length < 8) return;
        const view = new DataView(c.front.buffer, c.front.byteOffset);
        const len = view.getInt32(0);
        if (c.front.length < len) return;
        const code = view.getInt32(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) c.sslAnswer = true;
        else c.startup = false;
        c.front = c.front.slice(len);
        continue;
      }
      if (c.front.length < 5) return;
      const type = String.fromCharCode(c.front[0]!);
      const len = new DataView(c.front.buffer, c.front.byteOffset).getInt32(1);
      if (c.front.length < len + 1) return;
      const body = c.front.slice(5, len + 1);
      c.front = c.front.slice(len + 1);
      if (type === "P") {
        const [name, sql] = cstrings(body);
        c.prepared.set(name!, sql!);
        c.worked = true;
        if (name === "") c.current.push(sql!);
      } else if (type === "B") {
        const [, statement] = cstrings(body);
        if (statement !== "") c.current.push(c.prepared.get(statement!) ?? `<prepared ${statement}>`);
        c.worked = true;
      } else if (type === "E") c.worked = true;
      else if (type === "Q") {
        c.current.push(cstrings(body)[0]!);
        c.batches.push(c.current);
        c.workQueue.push(true);
        c.current = [];
        c.worked = false;
      } else if (type === "S") {
        c.batches.push(c.current);
        c.workQueue.push(c.worked);
        c.current = [];
        c.worked = false;
      }
    }
  };

  /** The server's messages: ReadyForQuery closes a batch, and a transaction when it says idle. */
  const fromServer = (c: Conn, chunk: Uint8Array) => {
    c.back = concat(c.back, chunk);
    if (c.sslAnswer && c.back.length > 0) {
      c.sslAnswer = false;
      c.back = c.back.slice(1);
    }
    for (;;) {
      if (c.back.length < 5) return;
      const type = String.fromCharCode(c.back[0]!);
      const len = new DataView(c.back.buffer, c.back.byteOffset).getInt32(1);
      if (c.back.length < len + 1) return;
      const status = String.fromCharCode(c.back[5]!);
      c.back = c.back.slice(len + 1);
      if (type !== "Z") continue;
      const batch = c.batches.shift() ?? [];
      const worked = c.workQueue.shift() ?? false;
      c.open.push(...batch);
      if (status === "T") continue;
      if (worked || c.open.length > 0) transactions.push({ statements: c.open, end: status === "E" ? "E" : "I" });
      c.open = [];
    }
  };

  const listener: TCPSocketListener<Conn> = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(client) {
        const conn: Conn = {
          client, pending: [], front: new Uint8Array(), back: new Uint8Array(), startup: true, sslAnswer: false,
          prepared: new Map(), current: [], batches: [], open: [], worked: false, workQueue: [],
        };
        client.data = conn;
        sockets.add(client);
        void Bun.connect<Conn>({
          hostname: "127.0.0.1",
          port: targetPort,
          socket: {
            open(upstream) {
              upstream.data = conn;
              conn.upstream = upstream;
              sockets.add(upstream);
              for (const chunk of conn.pending.splice(0)) upstream.write(chunk);
            },
            data(upstream, chunk) {
              fromServer(conn, new Uint8Array(chunk));
              conn.client?.write(chunk);
            },
            close(upstream) {
              sockets.delete(upstream);
              conn.client?.end();
            },
            error() {
              conn.client?.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        const conn = client.data;
        fromClient(conn, new Uint8Array(chunk));
        if (conn.upstream) conn.upstream.write(chunk);
        else conn.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        sockets.delete(client);
        client.data.upstream?.end();
      },
      error(client) {
        client.data.upstream?.end();
      },
    },
  });

  return {
    port,
    transactions,
    stop() {
      listener.stop(true);
      for (const s of sockets) s.terminate();
      sockets.clear();
    },
  };
}
