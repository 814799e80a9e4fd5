/**
 * A local OpenAI Responses API (POST …/responses, streamed as server-sent events) for running the
 * real Codex CLI offline through a `[model_providers]` entry's `base_url`: it records each
 * request's body and answers each turn with what the test's script says: some text (ending the
 * turn), a call of one function tool, named by the end of its name (Codex prefixes MCP tools with
 * their server), found among the tools the request offers, or a call of a freeform (custom) tool such
 * as `apply_patch` with its raw input.
 */
import type { FakeTurn } from "./fake-anthropic.ts";
import { serveLocal } from "./run-to-end.ts";

/** A turn: text, a function tool call, or a freeform tool call (`{ custom: "apply_patch", input: patch }`). */
export type ResponsesTurn = FakeTurn | { custom: string; input: string };

export interface FakeResponses {
  /** The value for the provider's base_url. */
  baseUrl: string;
  /** The parsed JSON body of every /responses request, in order. */
  requests: Record<string, unknown>[];
  stop(): void;
}

/** `turn(n, body)` answers the n-th request (1-based); it may first do what the test needs. */
export function startFakeResponses(turn: (n: number, body: Record<string, unknown>) => Promise<ResponsesTurn>): FakeResponses {
  const requests: Record<string, unknown>[] = [];
  const server = serveLocal(async (req, path) => {
    if (req.method === "GET" && path.endsWith("/models")) return Response.json({ models: [] });
    if (req.method !== "POST" || !path.endsWith("/responses")) return Response.json({ error: { message: `no ${req.method} ${path} here` } }, { status: 404 });
    const body = (await req.json()) as Record<string, unknown>;
    requests.push(body);
    const n = requests.length;
    try {
      const answer = await turn(n, body);
      return new Response(stream(n, answer, body), { headers: { "content-type": "text/event-stream" } });
    } catch (err) {
      // A 400 is final for Codex (it retries a 5xx): the run ends and the test reports why.
      return Response.json({ error: { type: "invalid_request_error", message: `fake model: turn ${n} failed: ${(err as Error).message}` } }, { status: 400 });
    }
  });
  return { baseUrl: `${server.origin}/v1`, requests, stop: server.stop };
}

interface OfferedTool {
  name: string;
  /** Codex 0.171 offers an MCP server's tools inside a namespace (`mcp__claude_peers`), and calls name both. */
  namespace?: string;
}

/** Every function tool the request offers. */
export function offeredTools(body: Record<string, unknown>): OfferedTool[] {
  const found: OfferedTool[] = [];
  for (const tool of Array.isArray(body.tools) ? body.tools : []) {
    const t = tool as { type?: unknown; name?: unknown; tools?: { name?: unknown }[] };
    if (t.type === "namespace" && typeof t.name === "string" && Array.isArray(t.tools)) {
      for (const inner of t.tools) if (typeof inner.name === "string") found.push({ name: inner.name, namespace: t.name });
    } else if (typeof t.name === "string") found.push({ name: t.name });
  }
  return found;
}

/** The offered tool `wanted` names: exactly, or as an MCP tool (`list_peers` in the claude-peers server's namespace). */
function findTool(wanted: string, body: Record<string, unknown>): OfferedTool {
  const tools = offeredTools(body);
  const tool = tools.find((t) => t.name === wanted && (t.namespace ?? "").includes("claude_peers")) ?? tools.find((t) => t.name === wanted);
  if (!tool) throw new Error(`no tool ${wanted} offered; offered: ${tools.map((t) => (t.namespace ? `${t.namespace}.${t.name}` : t.name)).join(", ")}`);
  return tool;
}

/** A freeform tool the request offers (Codex offers apply_patch so to the models its catalog gives `apply_patch_tool_type: "freeform"`). */
function findCustomTool(wanted: string, body: Record<string, unknown>): string {
  const tools = Array.isArray(body.tools) ? (body.tools as { type?: unknown; name?: unknown }[]) : [];
  if (tools.some((t) => t.type === "custom" && t.name === wanted)) return wanted;
  throw new Error(`no freeform tool ${wanted} offered; offered: ${tools.map((t) => `${String(t.type)}:${String(t.name)}`).join(", ")}`);
}

function stream(n: number, answer: ResponsesTurn, body: Record<string, unknown>): string {
  const event = (data: { type: string } & Record<string, unknown>) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
  const id = `resp_fake_${n}`;
  const item =
    "custom" in answer
      ? { type: "custom_tool_call", id: `ctc_fake_${n}`, call_id: `call_fake_${n}`, name: findCustomTool(answer.custom, body), input: answer.input, status: "completed" }
      : "tool" in answer
      ? {
          type: "function_call",
          id: `fc_fake_${n}`,
          call_id: `call_fake_${n}`,
          ...findTool(answer.tool, body),
          arguments: JSON.stringify(answer.input ?? {}),
          status: "completed",
        }
      : {
          type: "message",
          id: `msg_fake_${n}`,
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: answer.text, annotations: [] }],
        };
  const usage = { input_tokens: 1, input_tokens_details: null, output_tokens: 1, output_tokens_details: null, total_tokens: 2 };
  return [
    event({ type: "response.created", response: { id } }),
    event({ type: "response.output_item.added", output_index: 0, item }),
    event({ type: "response.output_item.done", output_index: 0, item }),
    event({ type: "response.completed", response: { id, usage } }),
  ].join("");
}
