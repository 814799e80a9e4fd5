/** Asks a port whether a claude-peers broker is behind it, without trusting whatever answers. */
import { brokerUrl } from "./config.ts";
import { HealthSchema, type Health } from "./protocol.ts";

export type Probe =
  | { kind: "broker"; health: Health }
  | { kind: "none" }
  | { kind: "foreign"; detail: string };

const PROBE_TIMEOUT_MS = 1000;

export async function probeBroker(port: number, fetchFn: typeof fetch = fetch): Promise<Probe> {
  let res: Response;
  try {
    res = await fetchFn(`${brokerUrl(port)}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ConnectionRefused" || code === "ECONNREFUSED") return { kind: "none" };
    if ((err as Error).name === "TimeoutError") return { kind: "foreign", detail: "it accepted the connection but did not answer /health within 1 s" };
    return { kind: "none" };
  }
  const body = await res.json().catch(() => undefined);
  const health = HealthSchema.safeParse(body);
  if (res.ok && health.success) return { kind: "broker", health: health.data };
  return { kind: "foreign", detail: `GET /health answered ${res.status} without a claude-peers identity` };
}
