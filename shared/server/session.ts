/** One Claude Code session's peer: the MCP server, its broker link, and the background start-up. */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ancestorsOf } from "../ancestry.ts";
import { channelsShownAbove } from "../channel-login.ts";
import type { Config } from "../config.ts";
import { errorMessage } from "../errors.ts";
import { readGitInfo } from "../git.ts";
import { deriveName } from "./identity.ts";
import type { Log } from "../log.ts";
import { createMcpServer, pushToClaude } from "./mcp-server.ts";
import type { PeerLink } from "./peer-link.ts";
import type { OkResult } from "../protocol.ts";
import { modelSummary, plainSummary } from "./summary.ts";

/**
 * Whether this server's Claude Code (its parent, or just above a wrapper) was started with channel
 * push for claude-peers and shows it (a claude.ai login: with an API key, Bedrock or Vertex it
 * drops every push), read from its command line and its environment, which servers inherit.
 */
async function channelFlagAbove(): Promise<boolean> {
  try {
    return await channelsShownAbove(await ancestorsOf());
  } catch {
    return false; // no /proc and no ps: leave the mail to the hooks and check_messages
  }
}

/**
 * The client that shows `notifications/claude/channel`: Claude Code names itself so in initialize
 * (clientInfo, 2.1.332). It declares no channel capability of its own (its capabilities are roots,
 * elicitation and extensions); it only checks ours. Codex CLI and Gemini CLI run this server too
 * and drop channel notifications silently.
 */
export const CHANNEL_CLIENT = "claude-code";

export function showsChannels(client: { name: string } | undefined): boolean {
  return client?.name === CHANNEL_CLIENT;
}

/** The longest the background start-up waits for the client to finish initializing. */
const START_AFTER_MS = 100;

export interface SessionOptions {
  config: Config;
  cwd: string;
  log: Log;
}

export interface Session {
  server: McpServer;
  /** Starts git lookups, registration and the auto-summary; call after stdio is connected. */
  start(): void;
  close(): Promise<void>;
}

export function createSession({ config, cwd, log }: SessionOptions): Session {
  let summarySetByClaude = false;
  const { promise: initialized, resolve: markInitialized } = Promise.withResolvers<void>();
  const { promise: linkReady, resolve: setLink, reject: failLink } = Promise.withResolvers<PeerLink>();
  linkReady.catch(() => {}); // a failed start is reported by the tools that await it, not as a crash
  let link: PeerLink | undefined;
  let summaries: Promise<unknown> = Promise.resolve();

  /**
   * Publishes summaries one at a time, in call order: a model answer that arrives while Claude's
   * own set_summary is in flight can then never land at the broker after it and overwrite it.
   */
  function publishSummary(summary: string, skip: () => boolean = () => false): Promise<OkResult | null> {
    const run = summaries.then(async () => {
      if (skip()) return null;
      const ready = await linkReady;
      ready.updateRegistration({ summary }); // re-registration after a broker restart carries it too
      return ready.call("/summary", { summary }, { idempotent: true });
    });
    summaries = run.catch(() => {});
    return run;
  }

  /** Session ids the client named in tool calls, each told to the broker once (a failed report is tried again next call). */
  const reported = new Map<string, Promise<void>>();
  function reportSession(sessionId: string): Promise<void> {
    const run = (async () => {
      const ready = await linkReady;
      ready.updateRegistration({ session_id: sessionId }); // a re-registration after a broker restart carries it
      await ready.call("/session", { session_id: sessionId }, { idempotent: true });
    })().catch((err) => {
      reported.delete(sessionId);
      log(`session id ${sessionId} not told to the broker: ${errorMessage(err)}`); // the tool still answers
    });
    reported.set(sessionId, run);
    return run;
  }

  /**
   * Whether this session's model sees channel push: the client is Claude Code (known once it sent
   * initialize), started with the flag for this registration, with a login channels work with.
   * Only then does the broker push this session's mail to this server, which acks it as
   * delivered once written; elsewhere the mail stays unread for the monitor, the hooks and
   * check_messages, so "delivered" never stands for a push nobody saw.
   */
  let channel = false;
  let flagAbove: Promise<boolean> | undefined;
  const decideChannel = async () => showsChannels(server.server.getClientVersion()) && (await (flagAbove ??= channelFlagAbove()));
  const server = createMcpServer({
    link: () => linkReady,
    setSummary: async (summary) => {
      summarySetByClaude = true;
      return (await publishSummary(summary)) ?? {};
    },
    pushTrusted: () => channel && (link?.state === "push" || link?.state === "poll"),
    sessionSeen: (sessionId) => (reported.get(sessionId) ?? reportSession(sessionId)),
  });
  // Channel notifications sent before the client finished initializing may be dropped.
  server.server.oninitialized = () => markInitialized();

  async function start(): Promise<void> {
    // Claude Code sends initialize at once and waits for the answer: let it go out before git and
    // perhaps a broker are spawned on the same cores. A client slow to initialize waits for nothing.
    await Promise.race([initialized, Bun.sleep(START_AFTER_MS)]);
    // Loaded only now: the broker link (HTTP, child_process, node:crypto) is not needed to initialize.
    const [{ PeerLink }, git, shown] = await Promise.all([import("./peer-link.ts"), readGitInfo(cwd), decideChannel()]);
    channel = shown;
    const name = deriveName({ explicit: config.peerName, cwd, git });
    link = new PeerLink({
      config,
      log,
      registration: {
        name,
        pid: process.pid,
        // Claude Code: its hooks walk their own ancestors to find this peer (bun cli.ts hook).
        parent_pid: process.ppid,
        cwd,
        git_root: git?.root ?? null,
        git_common_dir: git?.commonDir ?? null,
        git_branch: git?.branch ?? null,
        repo_key: git?.repoKey ?? null,
        summary: plainSummary({ cwd, git }),
        ...(config.groups.length ? { groups: config.groups } : {}),
        ...(config.claudeSessionId ? { session_id: config.claudeSessionId } : {}),
        agent: config.agent,
        channel,
      },
      deliver: async (message) => {
        await initialized;
        // The broker pushes only to a channel session; anything else is left unacked (unread) for the paths that show it.
        if (!channel) throw new Error("this session does not show channel push: left for the monitor, the hooks and check_messages");
        await pushToClaude(server, message);
      },
    });
    link.start();
    setLink(link);
    // A client that initialized after registration: now it is known whether it shows channel push.
    void initialized.then(() => updateChannel(link!));
    if (!config.openaiApiKey) return;
    try {
      const summary = await modelSummary({ cwd, git }, { apiKey: config.openaiApiKey, baseURL: config.openaiBaseUrl, model: config.summaryModel });
      const published = await publishSummary(summary, () => summarySetByClaude);
      log(published ? `auto-summary: ${summary}` : `auto-summary ignored: set_summary was called first`);
    } catch (err) {
      log(`auto-summary failed, keeping "${plainSummary({ cwd, git })}": ${errorMessage(err)}`);
    }
  }

  /** Tells the broker (and every re-registration) whether this session shows channel push, when that changed. */
  async function updateChannel(ready: PeerLink): Promise<void> {
    const shown = await decideChannel();
    if (shown === channel) return;
    channel = shown;
    ready.updateRegistration({ channel });
    try {
      await ready.call("/channel", { channel }, { idempotent: true });
    } catch (err) {
      log(`could not tell the broker that this session shows channel push: ${errorMessage(err)} (the next registration carries it)`);
    }
  }

  return {
    server,
    start: () =>
      void start().catch((err) => {
        log(`start-up failed: ${errorMessage(err)}`);
        failLink(err); // tools then say why instead of waiting forever
      }),
    async close() {
      await link?.stop();
      await server.close().catch(() => {});
    },
  };
}
