/** claim_files: bounded, expiring claims on files this session is about to change (broker/edits.ts keeps them). */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { ClaimFilesResult } from "../../protocol.ts";
import type { PeerLink } from "../peer-link.ts";

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type ToolBody<A> = (args: A, extra: Extra) => Promise<{ text: string; unread?: number; queued?: number }>;
/** createMcpServer's wrapper: session ids, the unread footer, errors as isError. */
type Wrap = <A>(name: string, run: ToolBody<A>) => (args: A, extra: Extra) => Promise<CallToolResult>;

export function registerClaimFiles(server: McpServer, tool: Wrap, link: () => Promise<PeerLink>): void {
  server.registerTool(
    "claim_files",
    {
      title: "Claim files",
      description: "Claim files you will change: others' edits of them are refused once. Expires.",
      // Bounds (at most 32 patterns, 60 s to 4 h) are the broker's: its error names the field.
      inputSchema: {
        paths: z.array(z.string()).optional().describe("files or globs, e.g. src/auth/**"),
        ttl_s: z.number().optional().describe("seconds (default 3600)"),
        release: z.boolean().optional().describe("end these (all, without paths)"),
      },
      annotations: { idempotentHint: true, openWorldHint: false },
    },
    tool("claim_files", async ({ paths, ttl_s, release }: { paths?: string[]; ttl_s?: number; release?: boolean }) => {
      const result = await (await link()).call("/edits/claim", { ...(paths ? { paths } : {}), ...(ttl_s ? { ttl_s } : {}), release: release ?? false });
      return { text: describeClaims(result, release ?? false), unread: result.unread, queued: result.queued };
    }),
  );
}

function describeClaims(r: ClaimFilesResult, release: boolean): string {
  const head = release ? `Released ${r.released} claim${r.released === 1 ? "" : "s"}.` : "Claimed.";
  const mine = r.claims.length ? `Your claims: ${r.claims.map((c) => `${c.pattern} (until ${c.expires_at})`).join(", ")}.` : "You hold no claims.";
  const others = r.others.length ? ` Others there: ${r.others.join("; ")}: coordinate with them (send_message).` : "";
  return `${head} ${mine}${others}`;
}
