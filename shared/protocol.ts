/** Every shape that crosses the broker's HTTP and WebSocket wire, as zod schemas with inferred types. */
import { z } from "zod";
import { AGENTS, DEFAULT_AGENT } from "./agents.ts";
import { CLAUDE_SESSION_ID, GROUP_NAME } from "./config.ts";
import { WireErrorCodeSchema } from "./errors.ts";
import { HOOK_EVENTS } from "./hook-events.ts";
import { RESERVED_NAMES, isReservedName } from "./peer-names.ts";
import { CONTROL_CHARS, firstControlChar } from "./safe-text.ts";

export const BROKER_SERVICE = "claude-peers-broker";
export const PROTOCOL_VERSION = 1;
/** Message text limit, in UTF-8 bytes: bigger messages are refused (413), never truncated. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_SUMMARY_CHARS = 500;
/** What a summary with a line break or another control character is told. */
const SUMMARY_RULE = "a summary is one line of plain text: put line breaks and tabs as spaces";
/** The longest reply_within_s: a day. */
export const MAX_REPLY_WITHIN_S = 86_400;
export const PEER_SECRET_HEADER = "x-claude-peers-secret";

const id = z.string().regex(/^[a-z0-9_-]{1,64}$/i, "must be an id made of letters, digits, _ and -");
/**
 * Only the shape the broker hands out (ids.ts): a client re-registering picks its own id, and any
 * other shape would let it take "cli", the operator's from_id, and write as the person at the terminal.
 */
const peerId = z.string().regex(/^p-[a-z0-9]{10}$/, "must be the peer id /register returned, like p-7kq2mxw4tz");
export const PeerNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "must be lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
  .refine((name) => !isReservedName(name), {
    error: (issue) => `"${issue.input}" is reserved (${RESERVED_NAMES.join(", ")} stand for the person at the terminal and claude-peers itself); choose another name`,
  });

/**
 * A field a peer gives that people and models are shown (its folder, branch, summary): no control
 * characters (C0, DEL, C1), which could drive the operator's terminal or add fake lines. `what`
 * says what to do instead.
 */
function plain(schema: z.ZodString, what: string) {
  return schema.refine((text) => !CONTROL_CHARS.test(text), {
    error: (issue) => `holds the control character ${firstControlChar(String(issue.input))}; ${what}`,
  });
}
const path = plain(z.string().max(4096), "claude-peers shows this path in terminals: start the session in a folder whose path has no control characters");
/** Claude Code's session id (CLAUDE_CODE_SESSION_ID in its MCP servers, session_id in every hook's input). */
const claudeSessionId = z.string().regex(CLAUDE_SESSION_ID, "must be a Claude Code session id");
/** A group's name, as join_group takes it and `#name` addresses it. */
export const GroupNameSchema = z.string().regex(GROUP_NAME, "must be 1 to 40 lowercase letters, digits, - or _");
/** The most members a group holds: one send to it stores at most this many copies. */
export const MAX_GROUP_MEMBERS = 100;
/** The most groups one name may be in. */
export const MAX_GROUPS_PER_PEER = 20;
const isoTime = z.string();

/** machine: this host; network: every host sharing the database (the same as machine on SQLite). */
export const ScopeSchema = z.enum(["machine", "directory", "repo", "network"]);
export type Scope = z.infer<typeof ScopeSchema>;

/**
 * retracted: withdrawn by its sender while unread (retract_message, or send_message replaces);
 * held: between a runaway pair, stored until a person releases it (queued) or discards it.
 */
export const MessageStateSchema = z.enum(["queued", "delivered", "read", "expired", "retracted", "held", "discarded"]);
export type MessageState = z.infer<typeof MessageStateSchema>;

export const HealthSchema = z.object({
  service: z.literal(BROKER_SERVICE),
  version: z.string(),
  protocol: z.number(),
  pid: z.number(),
  started_at: isoTime,
  /**
   * The store it runs on (store-location.ts: a file path, or the URL without its password), so a
   * client tells a broker of another CLAUDE_PEERS_DB before sending it anything. Absent from older brokers.
   */
  db: z.string().optional(),
});
export type Health = z.infer<typeof HealthSchema>;

export const ErrorBodySchema = z.object({
  error: z.object({
    // A code this version does not know (a newer broker's) reads as internal.
    code: WireErrorCodeSchema.catch("internal"),
    message: z.string(),
    /** The body field the error is about, when it is about one (say, "to"). */
    field: z.string().optional(),
    retry_after_ms: z.number().nonnegative().optional(),
  }),
});

export const RegisterBodySchema = z.object({
  /** Set when re-registering (after a broker restart) so the peer keeps its id. */
  peer_id: peerId.optional(),
  secret: z.string().min(16).max(128).optional(),
  name: PeerNameSchema,
  pid: z.number().int().positive(),
  /** The process that spawned this server: Claude Code. Its hooks find this peer through it. */
  parent_pid: z.number().int().positive().optional(),
  cwd: path.min(1),
  git_root: path.nullable(),
  git_common_dir: path.nullable(),
  git_branch: plain(z.string().max(256), "send the branch name as git prints it").nullable(),
  /** The repository across machines (git.ts repoKey); servers of 0.1 do not send it. */
  repo_key: plain(z.string().max(512), "send the repository's key as git.ts builds it").nullable().optional(),
  summary: plain(z.string().max(MAX_SUMMARY_CHARS), SUMMARY_RULE),
  /** CLAUDE_CODE_SESSION_ID: Claude Code's id of the session that started this server; its hooks send it too. */
  session_id: claudeSessionId.optional(),
  /** Groups to join at registration (CLAUDE_PEERS_GROUPS); membership belongs to the name. */
  groups: z.array(GroupNameSchema).max(MAX_GROUPS_PER_PEER).optional(),
  /** The coding agent the server runs in (CLAUDE_PEERS_AGENT); servers before 0.4 do not say, and run in Claude Code. */
  agent: z.enum(AGENTS).default(DEFAULT_AGENT),
  /**
   * Whether this session shows channel push (its client is Claude Code, started with the flag naming
   * this registration, with a login channels work with): only then does the broker push its mail
   * (and count it delivered once acked). Otherwise it stays unread for the monitor, the hooks and
   * check_messages. Older servers do not say (and so get no pushes).
   */
  channel: z.boolean().default(false),
});
export type RegisterBody = z.infer<typeof RegisterBodySchema>;

export const RegisterResultSchema = z.object({
  peer_id: id,
  secret: z.string(),
  name: PeerNameSchema,
  unread: z.number(),
  /** The name's groups (those of CLAUDE_PEERS_GROUPS it could join, and any it was in). */
  groups: z.array(z.string()).default([]),
});
export type RegisterResult = z.infer<typeof RegisterResultSchema>;

/** The one path that holds a session's mail: channel push, the plugin's monitor, or the hooks and their waiter. */
export const DeliveryPathSchema = z.enum(["channel", "monitor", "hooks"]);
export type DeliveryPath = z.infer<typeof DeliveryPathSchema>;

export const PeerInfoSchema = z.object({
  id,
  name: z.string(),
  summary: z.string(),
  pid: z.number(),
  cwd: z.string(),
  git_root: z.string().nullable(),
  git_branch: z.string().nullable(),
  /** The machine the peer runs on (CLAUDE_PEERS_HOST of its broker, else the hostname); "" from a 0.1 broker. */
  host: z.string().default(""),
  registered_at: isoTime,
  last_seen: isoTime,
  /** true while the peer holds a push (WebSocket) connection; false while it polls. */
  push: z.boolean(),
  /** The groups its name belongs to; a 0.2 broker sends none. */
  groups: z.array(z.string()).default([]),
  /** The coding agent it runs in (claude-code, codex, gemini; a newer broker may name others); a 0.3 broker sends none. */
  agent: z.string().default(DEFAULT_AGENT),
  /** Files (from the worktree's top) it edited within the collision window, newest first; only in list_peers and whoami. */
  editing: z.array(z.string()).optional(),
  /** Its claim_files patterns still holding; only in list_peers and whoami. */
  claims: z.array(z.string()).optional(),
  /** How its mail reaches its model (DeliveryPaths; this broker's peers only): channel push, its plugin's monitor, or its hooks (at the next tool call). */
  path: DeliveryPathSchema.optional(),
});
export type PeerInfo = z.infer<typeof PeerInfoSchema>;

export const ListPeersBodySchema = z.object({
  scope: ScopeSchema.default("machine"),
  /** For callers that are not peers (the CLI): where "directory" and "repo" are measured from. */
  cwd: path.optional(),
  git_common_dir: path.nullable().optional(),
  repo_key: z.string().max(512).nullable().optional(),
});
/**
 * With `unread` in a peer's results: how many of those messages its server has not yet confirmed
 * as written to Claude. A session whose Claude Code trusts channel push counts only these.
 */
const queued = z.number().optional();
export const ListPeersResultSchema = z.object({ peers: z.array(PeerInfoSchema), unread: z.number().optional(), queued });
export type ListPeersResult = z.infer<typeof ListPeersResultSchema>;

export const MessageSchema = z.object({
  id,
  from_id: z.string(),
  from_name: z.string(),
  from_summary: z.string(),
  from_cwd: z.string(),
  to_id: z.string().nullable(),
  to_name: z.string(),
  text: z.string(),
  in_reply_to: z.string().nullable(),
  state: MessageStateSchema,
  sent_at: isoTime,
  delivered_at: isoTime.nullable(),
  read_at: isoTime.nullable(),
  /** When the sender expects a reply by (send_message reply_within_s); a 0.2 broker sends neither field. */
  reply_by: isoTime.nullable().default(null),
  reply_status: z.enum(["awaiting", "answered", "overdue"]).nullable().default(null),
  /** The message this one replaces (send_message replaces); that one is retracted. */
  replaces: z.string().nullable().default(null),
  /** Sent to a group ("ui" for #ui, "*" for every live session here): this is one member's copy. */
  group: z.string().nullable().default(null),
  /** With group: the id of the send's first copy, which names the whole send (retract, reply_to). */
  fanout_id: z.string().nullable().default(null),
  /** With state held: between a runaway pair (release) or for a paused session (resume). */
  held_by: z.enum(["pair", "pause"]).nullable().default(null),
});
export type Message = z.infer<typeof MessageSchema>;

export const SendBodySchema = z.object({
  /** A peer id, a name, name@host, #group (every member) or * (every live session on this machine). */
  to: z
    .string()
    .trim()
    .min(1, "must name a peer id, a name, name@host, #group or *")
    .max(320)
    .refine((to) => !CONTROL_CHARS.test(to), "must not hold control characters")
    .refine((to) => !to.startsWith("#") || GroupNameSchema.safeParse(to.slice(1)).success, "a #group name must be 1 to 40 lowercase letters, digits, - or _"),
  text: z.string().min(1, "must not be empty"),
  in_reply_to: id.optional(),
  /** Chosen by the sender per message: resending after a lost answer never stores it twice. */
  idempotency_key: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "must be 8 to 64 letters, digits, _ or -").optional(),
  /** Retracts this earlier message of the sender's (unread) and sends this one in its place. */
  replaces: id.optional(),
  /** The sender expects a reply within this many seconds; else claude-peers tells it none came. */
  reply_within_s: z.number().int().min(1).max(MAX_REPLY_WITHIN_S).optional(),
});
export type SendBody = z.infer<typeof SendBodySchema>;
/** message: the copy for a peer, or a group send's first copy; copies: every copy of a group send. */
export const SendResultSchema = z.object({ message: MessageSchema, copies: z.array(MessageSchema).optional(), unread: z.number().optional(), queued });
export type SendResult = z.infer<typeof SendResultSchema>;

export const SummaryBodySchema = z.object({ summary: plain(z.string().trim().max(MAX_SUMMARY_CHARS), SUMMARY_RULE) });
export const OkResultSchema = z.object({ ok: z.literal(true), unread: z.number().optional(), queued });
export type OkResult = z.infer<typeof OkResultSchema>;

/** The longest check_messages may wait for mail, in seconds (README: Awaited replies). */
export const MAX_WAIT_S = 600;
export const InboxBodySchema = z.object({
  mark_read: z.boolean().default(false),
  /** With nothing unread, wait up to this long for mail to arrive (0: answer at once). */
  wait_s: z.number().min(0).max(MAX_WAIT_S).default(0),
  /** Only replies to this message (in_reply_to); other mail stays unread. */
  reply_to: id.optional(),
});
export const InboxResultSchema = z.object({ messages: z.array(MessageSchema), unread: z.number(), queued });
export type InboxResult = z.infer<typeof InboxResultSchema>;

export const AckBodySchema = z.object({
  ids: z.array(id).min(1).max(1000),
  /** "delivered": written to Claude; "read": shown to Claude as mail it must act on (hooks). */
  state: z.enum(["delivered", "read"]).default("delivered"),
});
export const AckResultSchema = z.object({ updated: z.array(z.string()), unread: z.number() });

/** The most text a hook may ask for; a hook asks for its field's cap (hook-events.ts HOOK_CAPS), within this. */
export const MAX_HOOK_CHARS = 9000;
/**
 * About what a message's envelope takes (envelope.ts: its opening tag with id, sender and times,
 * and its closing tag; 230 to 380 characters): the broker leases about what fits, and the hook
 * fits the framed text exactly, leaving the rest unread.
 */
export const HOOK_MESSAGE_OVERHEAD = 300;
const pid = z.number().int().positive();

/**
 * POST /hook: a Claude Code hook asks for the unread mail of its session. It knows no peer secret;
 * it names its own ancestor pids, nearest first, and the broker picks the live peer whose
 * parent_pid (its Claude Code process) comes first among them. Read-only: /hook/read marks.
 */
export const HookBodySchema = z.object({
  ancestors: z.array(pid).min(1).max(64),
  /** The nearest of `ancestors` that runs a coding agent (by its command line): ancestry stops there, so an agent run from another session's shell never pairs with that session. */
  agent_pid: pid.optional(),
  /** The hook input's session_id: it names the session before ancestry does (a server behind a wrapper). */
  session_id: claudeSessionId.optional(),
  /** Only find the session and count its mail: lease nothing, change nothing (bun cli.ts doctor). */
  peek: z.boolean().default(false),
  /** The hook's event: whether the session is in a turn (its hooks deliver) or idle (its waiter does). */
  event: z.enum(HOOK_EVENTS).optional(),
  /** Message text budget: the oldest unread messages that fit together are returned. */
  max_chars: z.number().int().min(100).max(MAX_HOOK_CHARS).default(MAX_HOOK_CHARS),
});
export type HookBody = z.infer<typeof HookBodySchema>;
/** POST /hook/monitor: a hook's body, and the monitor's own pid (while it exists, stopped too, the session stays its). */
export const HookMonitorBodySchema = HookBodySchema.extend({ pid: pid.optional() });
export const HookResultSchema = z.object({
  /** null when no live peer belongs to any of the ancestors. */
  peer: PeerInfoSchema.nullable(),
  /** The matched ancestor: the Claude Code process that runs both the hook and the peer's server. */
  parent_pid: pid.nullable(),
  messages: z.array(MessageSchema),
  /** Every unread message of the peer, the returned ones included. */
  unread: z.number(),
});
export type HookResult = z.infer<typeof HookResultSchema>;
/**
 * POST /hook/wait (the waiter, `bun cli.ts hook --wait`, run by Claude Code in the background):
 * answers once the session has mail (leased like /hook's), or when the wait ends without any.
 */
export const HookWaitResultSchema = HookResultSchema.extend({
  /** mail: messages to hand over; gone: the session's server left; replaced: a newer waiter of the session took over; no_session: no live peer is the hook's; channel: channel push shows the session its mail. */
  ended: z.enum(["mail", "gone", "replaced", "no_session", "channel"]),
});
export type HookWaitResult = z.infer<typeof HookWaitResultSchema>;
/** A message as the plugin's monitor gets it: with its sender's agent and host for the line (none for the operator and notices). */
export const MonitorMessageSchema = MessageSchema.extend({ from_agent: z.string().optional(), from_host: z.string().optional() });
export type MonitorMessage = z.infer<typeof MonitorMessageSchema>;
/** POST /hook/monitor: answered as /hook/wait, its messages with their senders' agent and host. */
export const HookMonitorResultSchema = HookWaitResultSchema.extend({ messages: z.array(MonitorMessageSchema) });
export type HookMonitorResult = z.infer<typeof HookMonitorResultSchema>;
/** POST /session: a client session id the server learned after registering (Codex sends it with each tool call); its hooks send the same. */
export const SessionBodySchema = z.object({ session_id: claudeSessionId });
/** POST /channel: the server learned (its client initialized late) whether its session shows channel push; as `channel` in /register. */
export const ChannelBodySchema = z.object({ channel: z.boolean() });

/** POST /hook/read: the hook printed these messages; mark them read. */
export const HookReadBodySchema = z.object({ peer_id: peerId, ids: z.array(id).min(1).max(1000) });

export const PollResultSchema = z.object({ messages: z.array(MessageSchema), unread: z.number() });

export const WhoamiResultSchema = z.object({ peer: PeerInfoSchema, unread: z.number(), queued });

export const RetractBodySchema = z.object({ message_id: id });
/** copies: for a group send, every copy (those read stay read; the rest are retracted). */
export const RetractResultSchema = SendResultSchema;

export const GroupBodySchema = z.object({ group: GroupNameSchema });
/** The caller's groups after joining or leaving; changed is false when it was already so. */
export const GroupResultSchema = z.object({ groups: z.array(z.string()), changed: z.boolean(), unread: z.number().optional(), queued });
export const GroupsResultSchema = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      /** By name; live says whether a session holds that name now (on any host). */
      members: z.array(z.object({ name: z.string(), live: z.boolean(), host: z.string().nullable() })),
    }),
  ),
});
export type GroupsResult = z.infer<typeof GroupsResultSchema>;

/** POST /release (a person, never a peer): the held mail between two peers, by name or id. */
export const ReleaseBodySchema = z.object({
  a: z.string().trim().min(1).max(64),
  b: z.string().trim().min(1).max(64),
  /** Throw the held mail away instead of delivering it. */
  discard: z.boolean().default(false),
});
export const ReleaseResultSchema = z.object({ messages: z.array(MessageSchema) });

/** POST /pause and /resume (a person, never a peer): a session's inbound mail, by its id or name. */
export const PauseBodySchema = z.object({ peer: z.string().trim().min(1).max(64) });
/** The name paused or resumed; changed is false when it was so already; messages: the mail a resume released. */
export const PauseResultSchema = z.object({ name: z.string(), paused: z.boolean(), changed: z.boolean(), messages: z.array(MessageSchema).default([]) });
export type PauseResult = z.infer<typeof PauseResultSchema>;

export const HistoryBodySchema = z.object({
  limit: z.number().int().min(1).max(1000).default(50),
  /** Only messages from or to this peer id or name. */
  peer: z.string().max(64).optional(),
  /** Only copies of sends to this group (a name without #, or * for broadcasts). */
  group: z.string().max(64).optional(),
  /** Only messages whose text holds this, in any case. */
  text: z.string().min(1).max(200).optional(),
  /** The page after: the `before` of the previous answer. */
  before: z.number().int().positive().optional(),
});
export const HistoryResultSchema = z.object({
  messages: z.array(MessageSchema),
  /** Where the next page back in time starts; null when this page reached the oldest message. */
  before: z.number().nullable().default(null),
});

/** POST /console/code (a person, never a peer): a one-time login code for the operator console. */
/** `url`: the console's own address (127.0.0.1 and the port it holds), where the code is to be used. */
export const ConsoleCodeResultSchema = z.object({ code: z.string(), expires_in_s: z.number(), url: z.string() });

/** A live session as the operator console shows it: its peer info, its mail and its delivery paths. */
export const ConsoleSessionSchema = PeerInfoSchema.extend({
  unread: z.number(),
  queued: z.number(),
  /** A hook waiter (bun cli.ts hook --wait) waits for its mail now. */
  hooks: z.boolean(),
  /** Its name's inbound mail is paused since then (held until resumed); null when not paused. */
  paused_since: isoTime.nullable(),
});
export type ConsoleSession = z.infer<typeof ConsoleSessionSchema>;
/** POST /console/state: everything the console's first render needs; after it, the watch events. */
export const ConsoleStateSchema = z.object({
  /** This broker's host; network: it shares a PostgreSQL with other hosts' brokers. */
  host: z.string(),
  network: z.boolean(),
  sessions: z.array(ConsoleSessionSchema),
  /** Paused names with no live session too. */
  paused: z.array(z.object({ name: z.string(), since: isoTime })),
  groups: GroupsResultSchema.shape.groups,
});
export type ConsoleState = z.infer<typeof ConsoleStateSchema>;

export const StatusResultSchema = z.object({
  // Defaults: a 0.1 broker, still running after an upgrade, sends neither field.
  // url: the API's Unix socket (unix:/path); console_url: the operator console, null when its port was taken.
  broker: HealthSchema.extend({
    url: z.string(),
    console_url: z.string().nullable().default(null),
    db: z.string(),
    host: z.string().default(""),
    uptime_s: z.number(),
    /** Whether this broker runs the sweeps of the shared data (expiry, prune, overdue replies): on a shared database, one broker at a time. */
    leader: z.boolean().default(true),
    /** On a shared database: the host whose broker runs those sweeps (null while none is known, e.g. this broker's heartbeat fails); absent alone on SQLite. */
    leader_host: z.string().nullable().optional(),
    /** On a shared database: the notices (wake-ups, acks, watch events) this broker has received from others since it started. */
    notices_received: z.number().optional(),
  }),
  /** live/push/poll count this broker's peers; other_hosts, the live peers of the other hosts' brokers. */
  peers: z.object({ live: z.number(), push: z.number(), poll: z.number(), other_hosts: z.number().default(0) }),
  /** Messages per state; any state name, so an older or newer broker's answer still parses. */
  messages: z.record(z.string(), z.number()),
  /** Peers whose hook waiter (bun cli.ts hook --wait) is waiting for their mail now. */
  hooks_waiting: z.array(z.string()).default([]),
  /** Peers whose plugin monitor (bun cli.ts hook --monitor) holds their mail path now: their mail reaches the model as monitor events. */
  monitors: z.array(z.string()).default([]),
  /** Peers whose mail goes by channel push (their Claude Code shows it): delivered means shown. */
  channels: z.array(z.string()).default([]),
  /** Names whose inbound mail a person paused, and since when; their mail is held until resumed. */
  paused: z.array(z.object({ name: z.string(), since: isoTime })).default([]),
});
export type Status = z.infer<typeof StatusResultSchema>;

/** An edit's line ranges: "all" (the whole file was written), inclusive [first, last] pairs, or null (unknown). */
const EditLinesSchema = z.union([z.literal("all"), z.array(z.tuple([z.number().int().min(1), z.number().int().min(1)])).max(200)]).nullable();

/**
 * POST /edits/touch: an agent's edit hook, about to edit a file (pre) or having edited it (post).
 * Named like /hook (ancestry, session id); the path is absolute and stays on this host: the broker
 * keys it (file-key.ts) and stores only the repository's identity, the path from the worktree's top
 * and the lines.
 */
export const EditTouchBodySchema = z.object({
  ancestors: z.array(pid).min(1).max(64),
  /** As /hook's: ancestry stops at the nearest agent. */
  agent_pid: pid.optional(),
  session_id: claudeSessionId.optional(),
  path: path.min(1),
  phase: z.enum(["pre", "post"]),
  lines: EditLinesSchema.default(null),
  /** CLAUDE_PEERS_COLLISIONS of the agent's session: deny (refuse once when the same lines or a claim are at stake), warn, off. */
  mode: z.enum(["warn", "deny", "off"]).default("deny"),
  /** Whether the hook shows a warning now (a refusal is always shown): Gemini CLI's BeforeTool cannot, so its AfterTool does. */
  tell: z.boolean().default(true),
});
/**
 * POST /edits/shell: an agent's hook after a shell tool call. The broker compares the worktree's
 * changed-file set at `cwd` with the session's previous snapshot (broker/shell-changes.ts) and records
 * what changed since as the session's touches; answered as a post-edit touch.
 */
export const EditShellBodySchema = EditTouchBodySchema.pick({ ancestors: true, agent_pid: true, session_id: true, mode: true, tell: true }).extend({
  /** The shell's folder, as the hook input says (absolute). */
  cwd: path.min(1),
});
export const EditTouchResultSchema = z.object({
  decision: z.enum(["none", "warn", "deny"]),
  /** What the editing session's model is told; null when nothing. */
  text: z.string().nullable(),
});
export type EditTouchResult = z.infer<typeof EditTouchResultSchema>;

/** POST /edits/guard: the git pre-commit guard (bun cli.ts hook --git-guard), named like /hook; absolute paths of the staged files. */
export const EditsGuardBodySchema = z.object({
  ancestors: z.array(pid).min(1).max(64),
  /** As /hook's: ancestry stops at the nearest agent. */
  agent_pid: pid.optional(),
  session_id: claudeSessionId.optional(),
  paths: z.array(path.min(1)).max(1000),
});
/** The staged files other live sessions edited within the window and the committing session did not, each with who. */
export const EditsGuardResultSchema = z.object({ files: z.array(z.object({ path: z.string(), others: z.array(z.string()) })) });

/** POST /edits/claim (claim_files): globs from the session's folder, inside its repository. */
export const ClaimFilesBodySchema = z
  .object({
    paths: z.array(z.string().max(400)).max(64).optional(),
    ttl_s: z.number().int().min(60).max(4 * 3600).optional(),
    /** Ends these claims (every claim of the session when paths is absent). */
    release: z.boolean().default(false),
  })
  .refine((b) => b.release || (b.paths?.length ?? 0) > 0, { message: "give the files or globs to claim (or release: true)", path: ["paths"] });
export const ClaimFilesResultSchema = z.object({
  /** The session's claims holding after this call. */
  claims: z.array(z.object({ pattern: z.string(), expires_at: isoTime })),
  released: z.number(),
  /** Other live sessions' recent edits or claims among the claimed files: "web edited src/auth.ts 4m ago". */
  others: z.array(z.string()),
  unread: z.number().optional(),
  queued,
});
export type ClaimFilesResult = z.infer<typeof ClaimFilesResultSchema>;

/** POST /edits: who is editing what (bun cli.ts edits): live sessions' recent edits and claims. */
export const EditsResultSchema = z.object({
  window_s: z.number(),
  files: z.array(
    z.object({
      repo: z.string(),
      /** A path from the worktree's top, or a claim's glob. */
      path: z.string(),
      kind: z.enum(["edit", "claim"]),
      peer_id: z.string(),
      name: z.string(),
      agent: z.string(),
      host: z.string(),
      branch: z.string().nullable(),
      lines: z.string().nullable(),
      /** When it was edited (kind edit) or claimed. */
      at: isoTime,
      expires_at: isoTime.nullable(),
      /** Another live session edited or claims it too. */
      colliding: z.boolean(),
    }),
  ),
});
export type EditsResult = z.infer<typeof EditsResultSchema>;

/** Routes that take no fields: any JSON object (or an empty body) will do. */
export const NoBodySchema = z.object({});

/**
 * Every POST route: the body the broker parses (once, in its router, before the handler runs) and
 * the result the client parses. The broker's handlers are typed against it, and BrokerClient.call
 * infers a route's result from its path.
 */
export const ROUTES = {
  "/register": { body: RegisterBodySchema, result: RegisterResultSchema },
  "/unregister": { body: NoBodySchema, result: OkResultSchema },
  "/peers": { body: ListPeersBodySchema, result: ListPeersResultSchema },
  "/send": { body: SendBodySchema, result: SendResultSchema },
  "/summary": { body: SummaryBodySchema, result: OkResultSchema },
  "/session": { body: SessionBodySchema, result: OkResultSchema },
  "/channel": { body: ChannelBodySchema, result: OkResultSchema },
  "/inbox": { body: InboxBodySchema, result: InboxResultSchema },
  "/ack": { body: AckBodySchema, result: AckResultSchema },
  "/poll": { body: NoBodySchema, result: PollResultSchema },
  "/hook": { body: HookBodySchema, result: HookResultSchema },
  "/hook/read": { body: HookReadBodySchema, result: AckResultSchema },
  "/hook/wait": { body: HookBodySchema, result: HookWaitResultSchema },
  /** The plugin's monitor (`cli.ts hook --monitor`): holds the session's mail path, answered like /hook/wait. */
  "/hook/monitor": { body: HookMonitorBodySchema, result: HookMonitorResultSchema },
  "/whoami": { body: NoBodySchema, result: WhoamiResultSchema },
  "/status": { body: NoBodySchema, result: StatusResultSchema },
  "/history": { body: HistoryBodySchema, result: HistoryResultSchema },
  "/retract": { body: RetractBodySchema, result: RetractResultSchema },
  "/groups/join": { body: GroupBodySchema, result: GroupResultSchema },
  "/groups/leave": { body: GroupBodySchema, result: GroupResultSchema },
  "/groups": { body: NoBodySchema, result: GroupsResultSchema },
  "/release": { body: ReleaseBodySchema, result: ReleaseResultSchema },
  "/pause": { body: PauseBodySchema, result: PauseResultSchema },
  "/resume": { body: PauseBodySchema, result: PauseResultSchema },
  "/console/code": { body: NoBodySchema, result: ConsoleCodeResultSchema },
  "/console/state": { body: NoBodySchema, result: ConsoleStateSchema },
  "/shutdown": { body: NoBodySchema, result: OkResultSchema },
  "/edits/touch": { body: EditTouchBodySchema, result: EditTouchResultSchema },
  "/edits/shell": { body: EditShellBodySchema, result: EditTouchResultSchema },
  "/edits/claim": { body: ClaimFilesBodySchema, result: ClaimFilesResultSchema },
  "/edits": { body: NoBodySchema, result: EditsResultSchema },
  "/edits/guard": { body: EditsGuardBodySchema, result: EditsGuardResultSchema },
} as const satisfies Record<string, { body: z.ZodType; result: z.ZodType }>;

export type RoutePath = keyof typeof ROUTES;
/** What a client sends: fields with defaults may be left out. */
export type RouteBody<P extends RoutePath> = z.input<(typeof ROUTES)[P]["body"]>;
/** What the handler gets: the body after parsing, defaults filled in. */
export type ParsedBody<P extends RoutePath> = z.output<(typeof ROUTES)[P]["body"]>;
export type RouteResult<P extends RoutePath> = z.output<(typeof ROUTES)[P]["result"]>;

export function isRoute(path: string): path is RoutePath {
  return Object.hasOwn(ROUTES, path);
}

/** Frames the broker sends on a WebSocket. */
export const BrokerFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("message"), message: MessageSchema }),
  z.object({
    type: z.literal("event"),
    /** expired: its mailbox time ran out unread; summary: a peer's summary changed; paused, resumed: a name's inbound mail (name). */
    event: z.enum(["sent", "delivered", "read", "retracted", "released", "expired", "joined", "left", "summary", "paused", "resumed"]),
    message: MessageSchema.optional(),
    peer: PeerInfoSchema.optional(),
    name: z.string().optional(),
  }),
]);
export type BrokerFrame = z.infer<typeof BrokerFrameSchema>;

/** Frames a peer sends on its WebSocket. */
export const PeerFrameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ack"), ids: z.array(id).min(1).max(1000) }),
]);
export type PeerFrame = z.infer<typeof PeerFrameSchema>;

/** Formats the first zod issues as "field: problem" for error messages. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "body"}: ${issue.message}`)
    .join("; ");
}

/** The field the first zod issue is about ("to", "ids.0"), if it names one. */
export function zodErrorField(error: z.ZodError): string | undefined {
  const path = error.issues[0]?.path;
  return path?.length ? path.join(".") : undefined;
}
