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
    return false; // no /proc and no ps: count everything unread, as without the flag
  }
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

  // Read once at start-up (a command line does not change): was Claude Code started with channel push for this server?
  let channelFlag = false;
  const server = createMcpServer({
    link: () => linkReady,
    setSummary: async (summary) => {
      summarySetByClaude = true;
      return (await publishSummary(summary)) ?? {};
    },
    pushTrusted: () => channelFlag && link?.state === "push",
    sessionSeen: (sessionId) => (reported.get(sessionId) ?? reportSession(sessionId)),
  });
  // Channel notifications sent before the client finished initializing may be dropped.
  server.server.oninitialized = () => markInitialized();

  async function start(): Promise<void> {
    // Claude Code sends initialize at once and waits for the answer: let it go out before git and
    // perhaps a broker are spawned on the same cores. A client slow to initialize waits for nothing.
    await Promise.race([initialized, Bun.sleep(START_AFTER_MS)]);
    // Loaded only now: the broker link (HTTP, child_process, node:crypto) is not needed to initialize.
    const [{ PeerLink }, git, flag] = await Promise.all([import("./peer-link.ts"), readGitInfo(cwd), channelFlagAbove()]);
    channelFlag = flag;
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
      },
      deliver: async (message) => {
        await initialized;
        await pushToClaude(server, message);
      },
    });
    link.start();
    setLink(link);
    if (!config.openaiApiKey) return;
    try {
      const summary = await modelSummary({ cwd, git }, { apiKey: config.openaiApiKey, baseURL: config.openaiBaseUrl, model: config.summaryModel });
      const published = await publishSummary(summary, () => summarySetByClaude);
      log(published ? `auto-summary: ${summary}` : `auto-summary ignored: set_summary was called first`);
    } catch (err) {
      log(`auto-summary failed, keeping "${plainSummary({ cwd, git })}": ${errorMessage(err)}`);
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
