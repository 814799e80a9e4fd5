/** Asks the broker's socket whether a claude-peers broker is behind it, without trusting whatever answers. */
import { checkBrokerSocket, dialBroker } from "./broker-address.ts";
import { HealthSchema, type Health } from "./protocol.ts";

export type Probe =
  | { kind: "broker"; health: Health }
  | { kind: "none" }
  | { kind: "foreign"; detail: string }
  /** The socket or its folder is not this user's (or a symlink): nothing was sent to it. */
  | { kind: "unsafe"; detail: string };

const PROBE_TIMEOUT_MS = 1000;

export async function probeBroker(socketPath: string, fetchFn: typeof fetch = fetch): Promise<Probe> {
  const check = checkBrokerSocket(socketPath);
  if (check.kind !== "ok") return check;
  let res: Response;
  try {
    res = await dialBroker(socketPath, "/health", { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }, fetchFn);
  } catch (err) {
    // Refused: a socket file left by a broker that died; gone: removed meanwhile.
    if ((err as Error).name === "TimeoutError") return { kind: "foreign", detail: "it accepted the connection but did not answer /health within 1 s" };
    return { kind: "none" };
  }
  const body = await res.json().catch(() => undefined);
  const health = HealthSchema.safeParse(body);
  if (res.ok && health.success) return { kind: "broker", health: health.data };
  return { kind: "foreign", detail: `GET /health answered ${res.status} without a claude-peers identity` };
}
