/** A local OpenAI-compatible endpoint (POST /v1/chat/completions) that records requests and answers a fixed line. */

export interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: string }>;
}

export interface FakeModelOptions {
  /** The completion text. */
  reply?: string;
  /** Answer with this HTTP status and an OpenAI-style error instead (e.g. 500). */
  failWith?: number;
  /** Hold every answer until release() is called. */
  hold?: boolean;
}

export interface FakeModel {
  /** The value for OPENAI_BASE_URL. */
  baseUrl: string;
  requests: ChatRequest[];
  /** How many answers have been sent (after any hold). */
  answered: number;
  release(): void;
  stop(): void;
}

export function startFakeModel(opts: FakeModelOptions = {}): FakeModel {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  if (!opts.hold) release();
  const fake: FakeModel = {
    baseUrl: "",
    requests: [],
    answered: 0,
    release,
    stop: () => void server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "POST" || path !== "/v1/chat/completions") return new Response("not found", { status: 404 });
      const body = (await req.json()) as ChatRequest;
      fake.requests.push(body);
      await released;
      fake.answered++;
      if (opts.failWith) {
        return Response.json({ error: { message: "the fake model is down", type: "server_error" } }, { status: opts.failWith });
      }
      return Response.json({
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: opts.reply ?? "working on something" }, finish_reason: "stop", logprobs: null }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    },
  });
  fake.baseUrl = `http://127.0.0.1:${server.port}/v1`;
  return fake;
}
