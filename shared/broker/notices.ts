/**
 * Notices: text from claude-peers itself to a session, through its usual delivery path (push,
 * monitor, hooks). The capabilities beyond mail (edit collisions) tell sessions things through
 * this, never by calling Mail's internals; Mail stores and delivers a notice like any message.
 */
import type { Mail } from "./mail.ts";

export class Notices {
  constructor(
    private readonly mail: Pick<Mail, "send">,
    private readonly log: (line: string) => void,
  ) {}

  /** Sends `text` to the live session `to` (a peer id); a failure is logged, never thrown at the caller. */
  async tell(to: string, text: string, inReplyTo?: string): Promise<boolean> {
    try {
      await this.mail.send({ kind: "system" }, { to, text, ...(inReplyTo ? { in_reply_to: inReplyTo } : {}) });
      return true;
    } catch (err) {
      this.log(`notice to ${to} not sent: ${(err as Error).message}`);
      return false;
    }
  }
}
