/**
 * watch: holds a watcher WebSocket to the broker and prints one line (or one JSON line) per event.
 * When the broker goes away (a restart, kill-broker), it says so and waits for the next one, as the
 * sessions do, instead of ending.
 */
import { BrokerFrameSchema } from "../protocol.ts";
import { terminalJson } from "../safe-text.ts";
import { connect, type CliContext, type Connected } from "./context.ts";
import { eventLine } from "./format.ts";

/** How often watch asks for the broker while it is away. */
const RECONNECT_MS = 500;

export interface WatchOptions {
  /** NDJSON: each frame exactly as the broker sent it, one per line. */
  json: boolean;
}

type Ended = { kind: "stopped" } | { kind: "refused"; why: string } | { kind: "gone"; why: string };

/** Resolves 0 when ctx.signal stops it, 1 when the broker refuses the socket. */
export async function watch(ctx: CliContext, opts: WatchOptions): Promise<number> {
  let broker = await connect(ctx);
  // The WebSocket upgrade cannot carry the broker's error body, so check the token on a plain call first.
  await broker.client.call("/status", {});
  const where = ctx.config.socketPath;
  for (let again = false; ; again = true) {
    const opened = () =>
      ctx.err(
        again
          ? `watching again: the broker is back (pid ${broker.health.pid}); what happened while it was away is in bun cli.ts history`
          : `watching the claude-peers broker on ${where} (pid ${broker.health.pid}); Ctrl-C to stop`,
      );
    const ended = await watchOnce(ctx, opts, broker, opened);
    if (ended.kind === "stopped") return 0;
    if (ended.kind === "refused") {
      ctx.err(`the broker on ${where} refused the watch connection (${ended.why}); check the token file ${ctx.config.tokenPath}`);
      return 1;
    }
    ctx.err(`the claude-peers broker on ${where} went away (${ended.why}); waiting for it to come back (the next session starts one, or bun broker.ts); Ctrl-C to stop`);
    const next = await brokerBack(ctx);
    if (!next) return 0;
    broker = next;
  }
}

/** One watcher connection, until it closes or ctx.signal stops it. */
function watchOnce(ctx: CliContext, opts: WatchOptions, { client }: Connected, onOpen: () => void): Promise<Ended> {
  const socket = client.openSocket();
  const { promise, resolve } = Promise.withResolvers<Ended>();
  let opened = false;
  socket.onopen = () => {
    opened = true;
    onOpen();
  };
  socket.onmessage = (event) => {
    let frame: unknown;
    try {
      frame = JSON.parse(String(event.data));
    } catch {
      return; // the broker only sends JSON; anything else has nothing to show
    }
    if (opts.json) return ctx.out(terminalJson(frame));
    const parsed = BrokerFrameSchema.safeParse(frame);
    const line = parsed.success ? eventLine(parsed.data, ctx.now(), ctx.home, ctx.paint) : null;
    if (line) ctx.out(line);
  };
  const stop = () => {
    socket.close(1000, "watch stopped");
    resolve({ kind: "stopped" });
  };
  socket.onclose = (event) => {
    ctx.signal.removeEventListener("abort", stop);
    if (ctx.signal.aborted) return resolve({ kind: "stopped" });
    const why = event.reason || `code ${event.code}`;
    resolve(opened ? { kind: "gone", why } : { kind: "refused", why });
  };
  if (ctx.signal.aborted) stop();
  else ctx.signal.addEventListener("abort", stop, { once: true });
  return promise;
}

/** The broker once it answers again (connect and /status), or null when ctx.signal stops the wait. */
async function brokerBack(ctx: CliContext): Promise<Connected | null> {
  while (!ctx.signal.aborted) {
    try {
      const broker = await connect(ctx);
      await broker.client.call("/status", {});
      return broker;
    } catch {
      // not back yet (no socket, or a broker still starting): ask again shortly
    }
    await new Promise<void>((done) => {
      const timer = setTimeout(done, RECONNECT_MS);
      ctx.signal.addEventListener("abort", () => (clearTimeout(timer), done()), { once: true });
    });
  }
  return null;
}
