/**
 * A local Gemini API (models/<model>:streamGenerateContent and :generateContent) for running the
 * real Gemini CLI offline (`GOOGLE_GEMINI_BASE_URL`, an API key): it records each request's body
 * and answers each streamed turn with what the test's script says: some text (ending the turn) or
 * a call of one tool, found among the function declarations the request offers by the end of its
 * name (Gemini CLI may prefix an MCP tool with its server). Side requests that do not stream (a
 * router's or a checker's JSON question) get `{}`-shaped text and are recorded apart.
 */
import type { FakeTurn } from "./fake-anthropic.ts";
import { serveLocal } from "./run-to-end.ts";

export interface FakeGemini {
  /** The value for GOOGLE_GEMINI_BASE_URL. */
  baseUrl: string;
  /** The parsed JSON body of every streamed request (the agent's turns), in order. */
  requests: Record<string, unknown>[];
  /** Every other request's path and body. */
  side: { path: string; body: unknown }[];
  stop(): void;
}

export function startFakeGemini(turn: (n: number, body: Record<string, unknown>) => Promise<FakeTurn>): FakeGemini {
  const requests: Record<string, unknown>[] = [];
  const side: { path: string; body: unknown }[] = [];
  const server = serveLocal(async (req, path) => {
    const text = req.method === "POST" ? await req.text() : "";
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (req.method === "POST" && path.endsWith(":streamGenerateContent")) {
      requests.push(body);
      const n = requests.length;
      try {
        const chunk = candidate(await turn(n, body), body);
        return new Response(`data: ${JSON.stringify(chunk)}\r\n\r\n`, { headers: { "content-type": "text/event-stream" } });
      } catch (err) {
        // A 400 is final for Gemini CLI (it retries 429 and 5xx): the run ends and the test reports why.
        return Response.json(
          { error: { code: 400, status: "INVALID_ARGUMENT", message: `fake model: turn ${n} failed: ${(err as Error).message}` } },
          { status: 400 },
        );
      }
    }
    side.push({ path, body });
    if (req.method === "POST" && path.endsWith(":countTokens")) return Response.json({ totalTokens: 1 });
    if (req.method === "POST" && path.endsWith(":generateContent")) return Response.json(candidate({ text: "{}" }, body));
    return Response.json({ error: { code: 404, status: "NOT_FOUND", message: `no ${req.method} ${path} here` } }, { status: 404 });
  });
  return { baseUrl: server.origin, requests, side, stop: server.stop };
}

/** Every function the request declares, by name. */
export function declaredFunctions(body: Record<string, unknown>): string[] {
  const tools = Array.isArray(body.tools) ? (body.tools as { functionDeclarations?: { name?: unknown }[] }[]) : [];
  return tools.flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name)).filter((n): n is string => typeof n === "string");
}

function candidate(answer: FakeTurn, body: Record<string, unknown>) {
  let part: object;
  if ("tool" in answer) {
    const names = declaredFunctions(body);
    const name = names.find((n) => n === answer.tool) ?? names.find((n) => n.endsWith(`_${answer.tool}`));
    if (!name) throw new Error(`no function like ${answer.tool} declared; declared: ${names.join(", ")}`);
    part = { functionCall: { name, args: answer.input ?? {} } };
  } else part = { text: answer.text };
  return {
    candidates: [{ content: { role: "model", parts: [part] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
    modelVersion: "gemini-fake",
  };
}
