/** watch: holds a watcher WebSocket to the broker and prints one line (or one JSON line) per event. */
import { BrokerFrameSchema } from "../protocol.ts";
import { terminalJson } from "../safe-text.ts";
import { connect, type CliContext } from "./context.ts";
import { eventLine } from "./format.ts";

export interface WatchOptions {
  /** NDJSON: each frame exactly as the broker sent it, one per line. */
  json: boolean;
}

/** Resolves 0 when ctx.signal stops it, 1 when the broker goes away or refuses the socket. */
export async function watch(ctx: CliContext, opts: WatchOptions): Promise<number> {
  const { client, health } = await connect(ctx);
  // The WebSocket upgrade cannot carry the broker's error body, so check the token on a plain call first.
  await client.call("/status", {});
  const where = ctx.config.socketPath;
  const socket = client.openSocket();
  const { promise, resolve } = Promise.withResolvers<number>();
  let opened = false;

  socket.onopen = () => {
    opened = true;
    ctx.err(`watching the claude-peers broker on ${where} (pid ${health.pid}); Ctrl-C to stop`);
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
  socket.onclose = (event) => {
    if (ctx.signal.aborted) return resolve(0);
    const why = event.reason || `code ${event.code}`;
    ctx.err(
      opened
        ? `the claude-peers broker on ${where} went away (${why}); it starts again with the next Claude Code session, or run \`bun broker.ts\``
        : `the broker on ${where} refused the watch connection (${why}); check the token file ${ctx.config.tokenPath}`,
    );
    resolve(1);
  };
  const stop = () => {
    socket.close(1000, "watch stopped");
    resolve(0);
  };
  if (ctx.signal.aborted) stop();
  else ctx.signal.addEventListener("abort", stop, { once: true });
  return promise;
}
