/** The MCP face of a session: tool definitions, the channel push, and one place that shapes errors. */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { ListToolsRequestSchema, type ListToolsResult, type ServerNotification, type ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { CLAUDE_SESSION_ID } from "../config.ts";
import { WireError, errorMessage } from "../errors.ts";
import { INSTRUCTIONS, SERVER_NAME } from "../instructions.ts";
import { GroupNameSchema, MAX_REPLY_WITHIN_S, MAX_WAIT_S, type Message, type Scope } from "../protocol.ts";
import type { PeerLink } from "./peer-link.ts";
import { oneLine } from "../safe-text.ts";
import { describeEdits, describeInbox, describePeers, describeSendResult, unreadFooter } from "../tool-text.ts";
import { registerClaimFiles } from "./tools/claim-files.ts";
import { VERSION } from "../version.ts";

export const CHANNEL_METHOD = "notifications/claude/channel";
const PROGRESS_EVERY_MS = 10_000;

export interface ToolContext {
  link: () => Promise<PeerLink>;
  /** Publishes Claude's own summary; from then on the auto-summary never overwrites it. */
  setSummary: (summary: string) => Promise<MailCounts>;
  /**
   * Whether channel push is trusted to deliver: Claude Code shows it (the flag for this server, a
   * login channels work with) and the link to the broker is up. Then mail already written to
   * Claude is not counted as waiting in the tool results; elsewhere everything unread is.
   */
  pushTrusted: () => boolean;
  /**
   * The client named its session in a tool call (Codex CLI: `_meta.sessionId`, the id its hooks
   * send too): tell the broker before the tool answers, so the hook that runs after it finds this peer.
   */
  sessionSeen: (sessionId: string) => Promise<void>;
}

/** What a broker result says of the session's mail: unread, and of that not yet written to Claude. */
interface MailCounts {
  unread?: number;
  queued?: number;
}

interface ToolOutcome extends MailCounts {
  text: string;
}

/** What the SDK hands a tool body about its request: its progress token, and a way to notify. */
type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Picks the counts out of a broker result. */
const counts = ({ unread, queued }: MailCounts): MailCounts => ({ unread, queued });

export function createMcpServer(ctx: ToolContext): McpServer {
  /** Runs a tool body; any throw becomes an isError result prefixed with the tool name. */
  function tool<A>(name: string, run: (args: A, extra: ToolExtra) => Promise<ToolOutcome>) {
    return async (args: A, extra: ToolExtra) => {
      try {
        const sessionId = clientSessionId(extra);
        if (sessionId) await ctx.sessionSeen(sessionId);
        const { text, unread, queued } = await run(args, extra);
        const waiting = ctx.pushTrusted() && queued !== undefined ? queued : unread;
        return { content: [{ type: "text" as const, text: text + unreadFooter(waiting) }] };
      } catch (err) {
        return { content: [{ type: "text" as const, text: `${name} failed: ${errorMessage(err)}` }], isError: true };
      }
    };
  }

  const server = new McpServer(
    { name: SERVER_NAME, version: VERSION },
    // No `tools` here: the SDK declares it when the first tool registers, after omitToolDefaults.
    { capabilities: { experimental: { "claude/channel": {} } }, instructions: INSTRUCTIONS },
  );
  omitToolDefaults(server);

  server.registerTool(
    "list_peers",
    {
      title: "List peers",
      description: "List other live coding-agent sessions: id, name, agent, host, summary, folder, branch, last seen.",
      inputSchema: {
        scope: z
          .enum(["machine", "network", "directory", "repo"])
          .optional()
          .describe(
            "machine (default); network: every machine sharing the database; directory: your folder; repo: your repository, any worktree or machine",
          ),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    tool("list_peers", async ({ scope = "machine" }: { scope?: Scope }) => {
      const result = await (await ctx.link()).call("/peers", { scope }, { idempotent: true });
      return { text: describePeers(result.peers, scope), ...counts(result) };
    }),
  );

  server.registerTool(
    "send_message",
    {
      title: "Send a message to a peer",
      description: "Send a message to another session. It is stored until the peer reads it, even if the peer is offline.",
      inputSchema: {
        to: z.string().min(1).describe("a peer's id or name (or name@host); #group for its members; * for every session here"),
        message: z.string().min(1).describe("the text to send; at most 64 KiB"),
        in_reply_to: z.string().optional().describe("the message_id you are answering"),
        reply_within_s: z
          .number()
          .int()
          .min(1)
          .max(MAX_REPLY_WITHIN_S)
          .optional()
          .describe("expect a reply within this many seconds; claude-peers tells you if none comes"),
        replaces: z.string().optional().describe("a message_id of yours not yet read: it is retracted and this one sent instead"),
      },
      annotations: { destructiveHint: false, openWorldHint: false },
    },
    tool("send_message", async ({ to, message, in_reply_to, reply_within_s, replaces }: { to: string; message: string; in_reply_to?: string; reply_within_s?: number; replaces?: string }) => {
      // The key makes a resend after a broker crash safe: the broker stores the message once.
      // Web Crypto's global randomUUID: importing node:crypto would add ~8 ms to every server's start.
      const body = { to, text: message, idempotency_key: crypto.randomUUID(), ...(in_reply_to ? { in_reply_to } : {}), ...(reply_within_s ? { reply_within_s } : {}), ...(replaces ? { replaces } : {}) };
      const result = await (await ctx.link()).call("/send", body, { idempotent: true }).catch((err: unknown) => {
        // The broker names the problem; the next step depends on who asks (the CLI says `peers`).
        if (err instanceof WireError && err.code === "not_found" && err.field === "to") {
          throw new Error(`${err.message} Call list_peers for ids and names.`);
        }
        throw err;
      });
      return { text: describeSendResult(result), ...counts(result) };
    }),
  );

  server.registerTool(
    "set_summary",
    {
      title: "Set your summary",
      description: "Tell peers in one line what you are working on. Shown in their list_peers.",
      inputSchema: { summary: z.string().max(500).describe("one line, e.g. 'refactoring the auth middleware in api/'") },
      annotations: { idempotentHint: true, openWorldHint: false },
    },
    tool("set_summary", async ({ summary }: { summary: string }) => {
      // One line, as peers see it: a line break would read as another entry in their list_peers.
      const line = oneLine(summary);
      const result = await ctx.setSummary(line);
      return { text: `Summary set: ${line || "(empty)"}`, ...counts(result) };
    }),
  );

  server.registerTool(
    "check_messages",
    {
      title: "Check messages",
      description: "Return your unread peer messages, oldest first, and mark them read. Can wait for mail.",
      inputSchema: {
        wait_s: z
          .number()
          .min(0)
          .max(MAX_WAIT_S)
          .optional()
          .describe(`if nothing is unread, wait up to this many seconds (max ${MAX_WAIT_S}) and return as soon as a message arrives`),
        reply_to: z.string().optional().describe("only replies to this message_id (one you sent); other mail stays unread"),
      },
      annotations: { openWorldHint: false },
    },
    tool("check_messages", async ({ wait_s = 0, reply_to }: { wait_s?: number; reply_to?: string }, extra) => {
      const link = await ctx.link();
      const stopProgress = wait_s > 0 ? reportProgress(extra, wait_s) : () => {};
      try {
        const result = await link.call("/inbox", { mark_read: true, wait_s, ...(reply_to ? { reply_to } : {}) }, { waitMs: wait_s * 1000 });
        link.markSeen(result.messages.map((m) => m.id));
        const text = result.messages.length || !wait_s ? describeInbox(result.messages) : `No ${reply_to ? `reply to ${reply_to}` : "message"} within ${wait_s} s.`;
        return { text, ...counts(result) };
      } finally {
        stopProgress();
      }
    }),
  );

  server.registerTool(
    "retract_message",
    {
      title: "Retract a message",
      description: "Take back a message you sent that its recipient has not read yet.",
      inputSchema: { message_id: z.string().describe("the message_id send_message returned") },
      annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    tool("retract_message", async ({ message_id }: { message_id: string }) => {
      const result = await (await ctx.link()).call("/retract", { message_id });
      return { text: describeSendResult(result), ...counts(result) };
    }),
  );

  for (const [name, path, verb] of [
    ["join_group", "/groups/join", "Join"],
    ["leave_group", "/groups/leave", "Leave"],
  ] as const) {
    server.registerTool(
      name,
      {
        title: `${verb} a group`,
        description: verb === "Join" ? 'Join a group: send_message(to="#group") reaches its members.' : "Leave a group.",
        inputSchema: { group: GroupNameSchema.describe("e.g. ui") },
        annotations: { idempotentHint: true, openWorldHint: false },
      },
      tool(name, async ({ group }: { group: string }) => {
        const result = await (await ctx.link()).call(path, { group }, { idempotent: true });
        const now = result.groups.length ? result.groups.map((g) => `#${g}`).join(" ") : "none";
        return { text: `${result.changed ? `${verb === "Join" ? "Joined" : "Left"} #${group}.` : `Already ${verb === "Join" ? "in" : "out of"} #${group}.`} Your groups: ${now}.`, ...counts(result) };
      }),
    );
  }

  server.registerTool(
    "whoami",
    {
      title: "Who am I",
      description: "Your own peer id, name, summary, folder, repository and the broker's address.",
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    tool("whoami", async () => {
      const link = await ctx.link();
      const result = await link.call("/whoami", {}, { idempotent: true });
      const { peer } = result;
      const lines = [
        `id: ${peer.id}`,
        `name: ${peer.name}`,
        `agent: ${peer.agent}`,
        `summary: ${peer.summary || "(none; call set_summary)"}`,
        `cwd: ${peer.cwd}`,
        `repo: ${peer.git_root ?? "(not a git repository)"}${peer.git_branch ? ` on branch ${peer.git_branch}` : ""}`,
        `groups: ${peer.groups.length ? peer.groups.map((g) => `#${g}`).join(" ") : "(none)"}`,
        ...describeEdits(peer),
        `broker: ${link.brokerUrl} (${link.state === "push" ? "push connected" : "polling"})`,
      ];
      return { text: lines.join("\n"), ...counts(result) };
    }),
  );

  registerClaimFiles(server, tool, ctx.link);
  return server;
}

/**
 * tools/list without what the SDK repeats on every tool at its default value: "$schema" (MCP input
 * schemas are JSON Schema draft-07 unless they say otherwise) and execution.taskSupport "forbidden"
 * (the spec's default when absent). 92 bytes a tool of the 5,000 the model-facing surface may take.
 */
function omitToolDefaults(server: McpServer): void {
  const inner = server.server;
  const setRequestHandler = inner.setRequestHandler.bind(inner);
  // The SDK sets its tools/list handler when the first tool registers: wrap that one as it is set.
  inner.setRequestHandler = ((schema: unknown, handler: (...args: never[]) => unknown) =>
    setRequestHandler(
      schema as typeof ListToolsRequestSchema,
      (schema === ListToolsRequestSchema
        ? async (...args: never[]) => compactToolList((await handler(...args)) as ListToolsResult)
        : handler) as Parameters<typeof setRequestHandler>[1],
    )) as typeof inner.setRequestHandler;
}

function compactToolList(list: ListToolsResult): ListToolsResult {
  const tools = list.tools.map(({ execution, inputSchema, ...tool }) => {
    const { $schema: _, ...schema } = inputSchema as typeof inputSchema & { $schema?: string };
    return { ...tool, inputSchema: schema, ...(execution && execution.taskSupport !== "forbidden" ? { execution } : {}) };
  });
  return { ...list, tools };
}

/**
 * While check_messages waits, tells Claude Code every 10 s that it is still working (when the call
 * carries a progress token): Claude Code aborts a tool call that is silent past its idle timeout
 * (CLAUDE_CODE_MCP_TOOL_IDLE_TIMEOUT), and a progress notification restarts that timer.
 */
function reportProgress(extra: ToolExtra, waitS: number): () => void {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => {};
  const started = Date.now();
  const timer = setInterval(() => {
    const waited = Math.round((Date.now() - started) / 1000);
    extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: waited, total: waitS, message: "waiting for peer mail" } }).catch(() => {});
  }, PROGRESS_EVERY_MS);
  return () => clearInterval(timer);
}

/** The session a client names in a tool call's `_meta` (Codex CLI 0.171 sends sessionId and threadId, both its session's id). */
function clientSessionId(extra: ToolExtra): string | undefined {
  const id = (extra._meta as { sessionId?: unknown } | undefined)?.sessionId;
  return typeof id === "string" && CLAUDE_SESSION_ID.test(id) ? id : undefined;
}

/** The `meta` of a channel notification: identifier keys, string values (Claude Code drops others). */
export function channelMeta(m: Message): Record<string, string> {
  return {
    message_id: m.id,
    from_id: m.from_id,
    from_name: m.from_name,
    from_summary: oneLine(m.from_summary),
    from_cwd: oneLine(m.from_cwd),
    sent_at: m.sent_at,
    ...(m.in_reply_to ? { in_reply_to: m.in_reply_to } : {}),
    ...(m.reply_by ? { reply_by: m.reply_by } : {}),
    ...(m.replaces ? { replaces: m.replaces } : {}),
    ...(m.group ? { group: m.group } : {}),
  };
}

/** Writes a peer message into Claude's context; resolves once it has been written to stdout. */
export function pushToClaude(server: McpServer, m: Message): Promise<void> {
  return server.server.notification({ method: CHANNEL_METHOD, params: { content: m.text, meta: channelMeta(m) } });
}
