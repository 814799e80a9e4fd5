/**
 * A local Anthropic Messages API (POST /v1/messages, streamed) for running the real Claude Code
 * CLI offline (`ANTHROPIC_BASE_URL`): it records each request's raw body and arrival time, and answers each turn
 * with what the test's script says: some text (ending the turn) or a call of one tool.
 */

export type FakeTurn = { text: string } | { tool: string; input?: Record<string, unknown> };

export interface FakeAnthropic {
  /** The value for ANTHROPIC_BASE_URL. */
  baseUrl: string;
  /** The raw JSON body of every streamed /v1/messages request, in order. */
  requests: string[];
  /** When each of `requests` arrived (performance.now() of this process, as its headers came in). */
  arrivals: number[];
  stop(): void;
}

/** `turn(n)` answers the n-th streamed request (1-based); it may first do what the test needs. */
export function startFakeAnthropic(turn: (n: number) => Promise<FakeTurn>): FakeAnthropic {
  const requests: string[] = [];
  const arrivals: number[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const at = performance.now();
      if (req.method !== "POST" || !new URL(req.url).pathname.endsWith("/v1/messages")) return new Response("{}", { status: 404 });
      const body = await req.text();
      if ((JSON.parse(body) as { stream?: boolean }).stream !== true) {
        // Side requests (titles, summaries) that do not stream: a short plain answer.
        return Response.json({ ...message(), content: [{ type: "text", text: "ok" }], stop_reason: "end_turn" });
      }
      requests.push(body);
      arrivals.push(at);
      try {
        return new Response(stream(await turn(requests.length)), { headers: { "content-type": "text/event-stream" } });
      } catch (err) {
        // A 400 is final for Claude Code (a 5xx it retries for minutes): the run ends and the test reports why.
        const message = `fake model: turn ${requests.length} failed: ${(err as Error).message}`;
        return Response.json({ type: "error", error: { type: "invalid_request_error", message } }, { status: 400 });
      }
    },
  });
  return { baseUrl: `http://127.0.0.1:${server.port}`, requests, arrivals, stop: () => void server.stop(true) };
}

function message() {
  return { id: "msg_fake", type: "message", role: "assistant", model: "claude-fake", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
}

/** The server-sent events of one assistant message holding one content block. */
function stream(answer: FakeTurn): string {
  const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const [block, delta, stopReason] =
    "tool" in answer
      ? [{ type: "tool_use", id: "toolu_fake_1", name: answer.tool, input: {} }, { type: "input_json_delta", partial_json: JSON.stringify(answer.input ?? {}) }, "tool_use"]
      : [{ type: "text", text: "" }, { type: "text_delta", text: answer.text }, "end_turn"];
  return [
    event("message_start", { message: message() }),
    event("content_block_start", { index: 0, content_block: block }),
    event("content_block_delta", { index: 0, delta }),
    event("content_block_stop", { index: 0 }),
    event("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 1 } }),
    event("message_stop", {}),
  ].join("");
}
