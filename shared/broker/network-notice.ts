/**
 * The notice one broker sends another (on that broker's PostgreSQL channel) or all of them (a
 * console opened), one zod schema per kind. Anyone who may CONNECT to the database may also NOTIFY
 * any channel, so every payload is read as untrusted input: a payload that is not JSON, or not one of these shapes, is ignored.
 */
import { z } from "zod";

/** A broker or peer id as this code makes them (see ids.ts and BrokerNetwork). */
const id = z.string().regex(/^[a-z]-[a-z0-9]{1,32}$/, "must be an id like p-7kq2mxw4tz");
/** NOTIFY payloads stay under 8000 bytes, so no honest notice lists more than this. */
const MAX_ITEMS = 400;

export const NoticeSchema = z.discriminatedUnion("kind", [
  /** A message for one of `broker`'s peers was stored, by broker `from` (where its sender may wait for the ack). */
  z.object({ kind: z.literal("message"), broker: id, peer: id, message: id, from: id.optional() }),
  /**
   * These messages were acknowledged or read (sent to the broker that stored them); with `state`,
   * that is what the ack made them, at `at` (ms), so the sender's answer needs no read of its own.
   */
  z.object({
    kind: z.literal("acked"),
    ids: z.array(id).max(MAX_ITEMS),
    state: z.enum(["delivered", "read"]).optional(),
    at: z.number().int().nonnegative().optional(),
  }),
  /** `broker` has watchers: the others relay their watch events while it says so. */
  z.object({ kind: z.literal("watching"), broker: id }),
  /** `broker`'s watch events, in order: [event name, the message or peer id or name it is about]. */
  z.object({
    kind: z.literal("events"),
    broker: id,
    events: z.array(z.tuple([z.string().max(32), z.string().max(256)])).max(MAX_ITEMS),
  }),
]);
export type Notice = z.infer<typeof NoticeSchema>;

/** The notice in `payload`, or the reason it is not one. */
export function parseNotice(payload: string): { ok: true; notice: Notice } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    return { ok: false, reason: "not JSON" };
  }
  const parsed = NoticeSchema.safeParse(json);
  if (parsed.success) return { ok: true, notice: parsed.data };
  // Brokers before this schema wrote {k: "msg" | "ack" | …}: mail still crosses by heartbeat, late.
  if (typeof json === "object" && json !== null && "k" in json) return { ok: false, reason: "an older broker's notice: update claude-peers on every host" };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: issue ? `${issue.path.join(".") || "notice"}: ${issue.message}` : "not a notice" };
}
