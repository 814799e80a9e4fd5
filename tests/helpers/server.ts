/** Spawns real server.ts processes and drives them as Claude Code does: MCP Client over stdio. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type TestEnv } from "./env.ts";
import { killAndConfirm, pidAlive, waitFor } from "./wait.ts";

export interface ChannelMessage {
  content: string;
  meta: Record<string, string>;
}

export interface TestServer {
  client: Client;
  pid: number;
  /** Every notifications/claude/channel received, in order. */
  channel: ChannelMessage[];
  stderr: () => string;
  /** Calls a tool and returns its text; isError results are returned, not thrown. */
  call(tool: string, args?: Record<string, unknown>): Promise<{ text: string; isError: boolean }>;
  waitForChannel(predicate: (m: ChannelMessage) => boolean, what: string, timeoutMs?: number): Promise<ChannelMessage>;
  /** Closes stdin as Claude Code does on exit, and waits for the process to be gone. */
  stop(): Promise<void>;
  /** Sends MCP initialize; startServer does it unless told to defer (a Claude Code still starting up). */
  initialize(): Promise<void>;
}

export interface ServerOptions {
  name?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Spawn the process but leave initialize to a later initialize() call. */
  deferInitialize?: boolean;
  /**
   * Spawn `bun <script> <server.ts> ...args` instead: a stand-in parent process that starts the
   * server itself (helpers/fake-claude-code.ts). pid is then the stand-in's.
   */
  via?: { script: string; args?: string[] };
  /** A command that runs the server in its place (`setpriv --reuid=… `): it must exec, keeping the pid. */
  runAs?: string[];
  /**
   * Whether the session's Claude Code shows channel push (default true): the server runs under a
   * stand-in parent named like Claude Code and started with the channel flag for
   * server:claude-peers (helpers/claude-stand-in.sh), with a claude.ai login in its environment, as
   * a real one passes it on. false: no flag and no login, so the server takes no pushes and its
   * mail waits for check_messages (or hooks). With `via`, the stand-in's args say it instead.
   */
  channels?: boolean;
  /** The MCP client's name in initialize: Claude Code's ("claude-code") unless a test plays another client. */
  clientName?: string;
}

/** The channel flag README's alias gives Claude Code for the `claude mcp add` registration. */
export const CHANNEL_FLAG = ["--dangerously-load-development-channels", "server:claude-peers"];
/** A claude.ai login as Claude Code passes it to its servers (a token in the environment): channels work with it. */
export const CLAUDE_AI_LOGIN = { CLAUDE_CODE_OAUTH_TOKEN: "sk-ant-oat01-claude-peers-test" };
const STAND_IN = join(ROOT, "tests", "helpers", "claude-stand-in.sh");

export async function startServer(t: TestEnv, opts: ServerOptions = {}): Promise<TestServer> {
  const standIn = (opts.channels ?? true) && !opts.via;
  const env = { ...t.env, ...(opts.name ? { CLAUDE_PEERS_NAME: opts.name } : {}), ...(standIn ? CLAUDE_AI_LOGIN : {}), ...opts.env };
  const bunArgs = opts.via ? [opts.via.script, join(ROOT, "server.ts"), ...(opts.via.args ?? [])] : [join(ROOT, "server.ts")];
  const [command, ...args] = [...(standIn ? ["/bin/sh", STAND_IN, ...CHANNEL_FLAG, "--"] : []), ...(opts.runAs ?? []), process.execPath, ...bunArgs];
  const transport = new StdioClientTransport({
    command: command!,
    args,
    env,
    cwd: opts.cwd ?? t.home,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk) => (stderr += String(chunk)));
  // Named as Claude Code names its MCP client (it declares no channel capability; the server knows it by this name).
  const client = new Client({ name: opts.clientName ?? "claude-code", version: "0.0.0-test" });
  const channel: ChannelMessage[] = [];
  client.fallbackNotificationHandler = async (n) => {
    if (n.method === "notifications/claude/channel") channel.push(n.params as unknown as ChannelMessage);
  };
  // Fires once the process has exited and been reaped: from then on its pid may belong to another.
  let exited = false;
  client.onclose = () => (exited = true);
  await transport.start(); // spawn now, so the pid is known even before initialize
  transport.start = async () => {}; // Client.connect starts its transport again; this one already runs
  const spawned = transport.pid!;
  // Under the stand-in, the server is its child: pid is the server's, as without it.
  const pid = standIn ? await waitFor(() => childOf(spawned), "server.ts to start under the stand-in") : spawned;
  let connected: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;

  const server: TestServer = {
    client,
    pid,
    channel,
    stderr: () => stderr,
    async call(tool, args = {}) {
      const result = await client.callTool({ name: tool, arguments: args });
      const content = result.content as Array<{ type: string; text?: string }>;
      return { text: content.map((c) => c.text ?? "").join("\n"), isError: result.isError === true };
    },
    waitForChannel: (predicate, what, timeoutMs) => waitFor(() => channel.find(predicate), what, timeoutMs),
    stop() {
      stopped ??= (async () => {
        await client.close().catch(() => {});
        if (!exited) await killAndConfirm(spawned, "SIGTERM");
        // The stand-in is gone; the server leaves once its parent has (it checks twice a second).
        if (pid !== spawned) await waitFor(() => !pidAlive(pid), `server pid ${pid} to exit after its stand-in parent`, 5000).catch(() => killAndConfirm(pid, "SIGKILL"));
      })();
      return stopped;
    },
    initialize: () => (connected ??= client.connect(transport)),
  };
  if (!opts.deferInitialize) await server.initialize();
  return server;
}

/** The one child of `pid` (a stand-in's server), once it has one. */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** The peers a session's list_peers shows in `scope`, sorted: "name", or "name@host" with `withHost`. */
export async function listedPeers(server: TestServer, scope = "machine", opts: { withHost?: boolean } = {}): Promise<string[]> {
  const result = await server.call("list_peers", { scope });
  if (result.isError) throw new Error(`list_peers failed: ${result.text}`);
  const lines = [...result.text.matchAll(/^- (\S+) \(id [^,)]+(?:, host ([^)]+))?\)/gm)];
  return lines.map((m) => (opts.withHost ? `${m[1]}@${m[2] ?? ""}` : m[1]!)).sort();
}

/** Waits until the server is registered (whoami answers) and returns its id and name. */
export async function whoami(s: TestServer): Promise<{ id: string; name: string }> {
  const { text } = await waitFor(async () => {
    const r = await s.call("whoami");
    return r.isError ? null : r;
  }, "whoami to succeed");
  const id = /^id: (\S+)/m.exec(text)?.[1];
  const name = /^name: (\S+)/m.exec(text)?.[1];
  if (!id || !name) throw new Error(`unexpected whoami text: ${text}`);
  return { id, name };
}

/** The message id named by a send_message result ("Message m-… delivered to …"). */
export function sentMessageId(text: string): string {
  const id = /Message (m-[a-z0-9]+)/.exec(text)?.[1];
  if (!id) throw new Error(`no message id in send_message result: ${text}`);
  return id;
}

/** The trailing line every tool result carries while unread messages wait. */
export const UNREAD_LINE = /\n\n\((\d+) unread peer messages? waiting: call check_messages\.\)$/;

/** How list_peers says a session of this host gets its mail. */
export type Reach = "push by channel" | "push by monitor" | "at the next tool call";

/** Whether `viewer`'s list_peers shows `name` reachable as `reach` (by default: by channel push, its Claude Code shows it). */
export async function listsAs(viewer: TestServer, name: string, reach: Reach = "push by channel"): Promise<boolean> {
  return new RegExp(`^- ${name} \\(id .*\\n.*; reachable by ${reach}$`, "m").test((await viewer.call("list_peers")).text);
}
