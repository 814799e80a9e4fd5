/** The CLI's local failures: each knows its exit code, and its message says what to do next. */

export type CliErrorCode =
  /** A bad command, option or argument: exit 2 with the usage text. */
  | "usage"
  | "no_broker"
  | "foreign_socket"
  | "unsafe_socket"
  | "token_missing"
  | "broker_gone"
  | "stop_timeout"
  /** What the command names (a peer, a group) is not there. */
  | "not_found"
  /** An agent's config file claude-peers will not change (unreadable, not valid, or holding a conflicting entry). */
  | "bad_config";

export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CliError";
  }

  get exitCode(): number {
    return this.code === "usage" ? 2 : 1;
  }
}
