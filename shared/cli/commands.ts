/** The request/answer commands (status, peers, send, history) and the table of every command. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readGitInfo } from "../git.ts";
import { ScopeSchema, type GroupsResult, type Message, type PeerInfo, type Status } from "../protocol.ts";
import { WireError } from "../errors.ts";
import { connect, type CliContext } from "./context.ts";
import { CliError } from "./errors.ts";
import { ago } from "../ago.ts";
import { oneLine, terminalJson } from "../safe-text.ts";
import { clock, deliveryLabel, describeSent, duration, recipientLabel, replyLabel, shortenHome } from "./format.ts";
import { killBroker } from "./kill-broker.ts";
import { writeLoginFile, type LoginFile } from "./login-file.ts";
import { renderTable } from "./table.ts";
import type { CliOptions, OptionName } from "./usage.ts";
import { watch } from "./watch.ts";

export interface Command {
  /** Its line of the usage text, after `bun cli.ts `: what a usage error prints. */
  usage: string;
  /** Options this command accepts besides --help. */
  options: readonly OptionName[];
  /** Runs until done (or until ctx.signal for streaming commands) and returns the exit code. */
  run(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number>;
  /** true when the command stops by itself on ctx.signal; others are simply ended on Ctrl-C. */
  streams?: boolean;
  /** true for doctor: it runs with each unusable setting at its default, and names the setting itself. */
  reportsBadSettings?: boolean;
}

const MAX_HISTORY = 1000;

/** The broker's answer as one JSON document (C1 and bidi controls \u-escaped too); nothing else goes to stdout. Returns exit code 0. */
function printJson(ctx: CliContext, data: unknown): number {
  ctx.out(terminalJson(data, 2));
  return 0;
}
const bold = (ctx: CliContext) => (text: string) => ctx.paint("bold", text);

function noPositionals(name: string, positionals: string[]): void {
  if (positionals.length) throw new CliError("usage", `${name} takes no arguments, got "${positionals.join(" ")}"`);
}

async function status(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  noPositionals("status", positionals);
  const { client } = await connect(ctx);
  const s: Status = await client.call("/status", {});
  if (values.json) return printJson(ctx, s);
  const m = s.messages;
  const rows: Array<[string, string]> = [
    ["broker", `${s.broker.url} (${s.broker.service} ${s.broker.version}, protocol ${s.broker.protocol})`],
    ["pid", String(s.broker.pid)],
    ["uptime", `${duration(s.broker.uptime_s)} (since ${s.broker.started_at})`],
    ["database", s.broker.db],
    ["host", s.broker.host],
    ["console", s.broker.console_url ?? "off (its port was taken at start; see the broker's log)"],
    ["peers", `${s.peers.live} live (${s.peers.push} push, ${s.peers.poll} poll)${s.peers.other_hosts ? `, ${s.peers.other_hosts} on other hosts` : ""}`],
    ["messages", `${m.queued ?? 0} queued, ${m.delivered ?? 0} delivered, ${m.read ?? 0} read, ${m.expired ?? 0} expired, ${m.retracted ?? 0} retracted, ${m.held ?? 0} held, ${m.discarded ?? 0} discarded`],
  ];
  // On a shared database one broker at a time runs the sweeps (expiry, prune, overdue replies).
  if (s.broker.leader_host !== undefined) rows.push(["leader", leaderLine(s.broker)]);
  if (s.paused.length) rows.push(["paused", `${s.paused.map((p) => `${p.name} (since ${clock(p.since, ctx.now())})`).join(", ")}: their mail is held until bun cli.ts resume <name>`]);
  for (const [key, value] of rows) ctx.out(`${ctx.paint("bold", key.padEnd(9))} ${value}`);
  return 0;
}

function leaderLine(b: Status["broker"]): string {
  if (b.leader) return `this broker (${b.host}) runs the shared sweeps (expiry, prune, overdue replies)`;
  if (b.leader_host) return `the broker on ${oneLine(b.leader_host)} runs the shared sweeps; this one does not`;
  return "none known: this broker's heartbeat has not reached the database yet, or fails (see its log)";
}

async function peers(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  noPositionals("peers", positionals);
  const scope = ScopeSchema.safeParse(values.scope ?? "machine");
  if (!scope.success) throw new CliError("usage", `--scope must be machine, network, directory or repo, got "${values.scope}"`);
  const { client } = await connect(ctx);
  const measured = scope.data === "directory" || scope.data === "repo"; // from the CLI's own folder
  const git = measured ? await readGitInfo(ctx.cwd) : null;
  const where = measured ? { cwd: ctx.cwd, git_common_dir: git?.commonDir ?? null, repo_key: git?.repoKey ?? null } : {};
  const [result, { paused }] = await Promise.all([client.call("/peers", { scope: scope.data, ...where }), client.call("/status", {})]);
  if (values.json) return printJson(ctx, result);
  const pausedNames = new Set(paused.map((p) => p.name));
  if (result.peers.length === 0) {
    const here = { machine: " on this machine", network: "", directory: ` in ${ctx.cwd}`, repo: ` in this repository (${ctx.cwd})` }[scope.data];
    ctx.out(`no live peers${here}`);
    return 0;
  }
  const now = ctx.now();
  const row = (p: PeerInfo) => [
    p.id,
    pausedNames.has(p.name) ? `${p.name} (paused)` : p.name,
    p.host,
    p.agent,
    p.path ?? (p.push ? "push" : "poll"), // how its mail reaches its model (channel, monitor, hooks); another host's: its link
    ago(p.last_seen, now),
    p.git_branch ?? "-",
    p.groups.map((g) => `#${g}`).join(" ") || "-",
    shortenHome(p.cwd, ctx.home),
    p.summary,
  ];
  const columns = [
    { header: "ID" },
    { header: "NAME" }, // never cut: people type it into send
    { header: "HOST", max: 24 },
    { header: "AGENT" },
    { header: "MAIL" },
    { header: "LAST SEEN" },
    { header: "BRANCH", max: 24 },
    { header: "GROUPS", max: 30 },
    { header: "CWD", max: 40, keep: "end" as const },
    { header: "SUMMARY", max: 60 },
  ];
  for (const line of renderTable(columns, result.peers.map(row), { width: ctx.columns, styleHeader: bold(ctx) })) ctx.out(line);
  return 0;
}

async function send(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  const [to, ...words] = positionals;
  const text = words.join(" ");
  if (!to || !text.trim()) {
    // An unquoted #group starts a shell comment: the shell passes nothing from it on.
    const eaten = !to ? " (an unquoted #group is a comment to the shell: write '#ui')" : "";
    throw new CliError("usage", `send needs a peer id or name and a message (the peer may be '#group' or '*')${eaten}`);
  }
  const { client } = await connect(ctx);
  const result = await client.call("/send", { to, text }).catch((err) => {
    throw sendFailure(err, to, ctx.cwd);
  });
  if (values.json) return printJson(ctx, result);
  ctx.out(describeSent(result.message, result.copies));
  return 0;
}

/** A send's not-found error, with the hint that fits what was typed: groups for '#x', quoting for a shell-expanded '*'. */
function sendFailure(err: unknown, to: string, cwd: string): unknown {
  if (!(err instanceof WireError) || err.code !== "not_found" || err.field !== "to") return err;
  if (to.startsWith("#")) return new CliError("not_found", `${err.message}. See \`bun cli.ts groups\`.`);
  // An unquoted * reaches us as the folder's first file name.
  if (existsSync(join(cwd, to))) return new CliError("not_found", `${err.message}. "${to}" is a file here: if you typed * unquoted, the shell replaced it; write '*'.`);
  return new CliError("not_found", `${err.message} See \`bun cli.ts peers\`.`);
}

async function groups(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  noPositionals("groups", positionals);
  const { client } = await connect(ctx);
  const result = await client.call("/groups", {});
  if (values.json) return printJson(ctx, result);
  if (result.groups.length === 0) {
    ctx.out("no groups yet (a session joins one with join_group, or CLAUDE_PEERS_GROUPS=ui,review at start)");
    return 0;
  }
  const member = (m: GroupsResult["groups"][number]["members"][number]) => (m.live ? (m.host ? `${m.name}@${m.host}` : m.name) : `${m.name} (offline)`);
  const rows = result.groups.map((g) => [`#${g.name}`, String(g.members.length), g.members.map(member).join(", ")]);
  const columns = [{ header: "GROUP" }, { header: "MEMBERS" }, { header: "NAMES", max: 120 }];
  for (const line of renderTable(columns, rows, { width: ctx.columns, styleHeader: bold(ctx) })) ctx.out(line);
  return 0;
}

async function release(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  const [a, b, ...rest] = positionals;
  if (!a || !b || rest.length) throw new CliError("usage", "release needs the two peers of a held pair: bun cli.ts release <peer> <peer> [--discard]");
  const { client } = await connect(ctx);
  const discard = values.discard === true;
  const result = await client.call("/release", { a, b, discard });
  if (values.json) return printJson(ctx, result);
  const n = result.messages.length;
  if (n === 0) ctx.out(`nothing is held between ${a} and ${b}`);
  else ctx.out(`${discard ? "discarded" : "released"} ${n} held message${n === 1 ? "" : "s"} between ${a} and ${b}${discard ? "" : ", in the order they were sent"}`);
  return 0;
}

async function retract(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  const [id, ...rest] = positionals;
  if (!id || rest.length) throw new CliError("usage", "retract needs the id of a message not yet read: bun cli.ts retract <message id> (ids: bun cli.ts history)");
  const { client } = await connect(ctx);
  const result = await client.call("/retract", { message_id: id });
  if (values.json) return printJson(ctx, result);
  const copies = result.copies?.filter((c) => c.state === "retracted").length;
  ctx.out(copies === undefined ? `retracted ${result.message.id} to ${oneLine(result.message.to_name)}` : `retracted ${copies} unread ${copies === 1 ? "copy" : "copies"} of ${result.message.id}`);
  return 0;
}

/** pause and resume: a session's inbound mail, held until a person resumes it. */
function pauseCommand(route: "/pause" | "/resume") {
  const verb = route.slice(1);
  return async (ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> => {
    const [peer, ...rest] = positionals;
    if (!peer || rest.length) throw new CliError("usage", `${verb} needs one session: bun cli.ts ${verb} <peer id or name>`);
    const { client } = await connect(ctx);
    const result = await client.call(route, { peer });
    if (values.json) return printJson(ctx, result);
    const name = oneLine(result.name);
    if (!result.changed) ctx.out(`${name} is ${result.paused ? "paused" : "not paused"} already`);
    else if (result.paused) ctx.out(`paused ${name}: mail to it is held until bun cli.ts resume ${name} (yours still goes through)`);
    else ctx.out(`resumed ${name}: ${result.messages.length} held message${result.messages.length === 1 ? "" : "s"} released, in the order they were sent`);
    return 0;
  };
}

async function dashboard(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  noPositionals("dashboard", positionals);
  const { client } = await connect(ctx);
  // The address comes from the broker itself (over its socket): it names the port the broker holds.
  const { code, expires_in_s, url: consoleAt } = await client.call("/console/code", {});
  const url = `${consoleAt}/login?code=${code}`;
  const login = values["no-open"] ? null : await openBrowser(url);
  ctx.err(`${login ? "opened the operator console in your browser" : "open the operator console"}; this link works once, within ${expires_in_s} s (run dashboard again for another):`);
  ctx.out(url);
  await login?.spend(); // the page with the code goes once the browser has read it
  return 0;
}

/**
 * Hands the URL to the desktop's opener, when there is a desktop; null when none could take it.
 * Not on the opener's command line, which every local user can read (ps): in a file only this
 * user can read, a page that moves on to the URL (login-file.ts).
 */
async function openBrowser(url: string): Promise<LoginFile | null> {
  const opener = process.platform === "darwin" ? "open" : process.platform === "win32" ? null : "xdg-open";
  if (!opener || (process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)) return null;
  if (!Bun.which(opener)) return null;
  let login: LoginFile | undefined;
  try {
    login = writeLoginFile(url);
    const child = Bun.spawn([opener, login.path], { stdio: ["ignore", "ignore", "ignore"] });
    if ((await child.exited) === 0) return login;
  } catch {
    // no temp folder, or no opener after all: the URL is printed either way
  }
  login?.remove();
  return null;
}

async function history(ctx: CliContext, values: CliOptions, positionals: string[]): Promise<number> {
  noPositionals("history", positionals);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY)) {
    throw new CliError("usage", `--limit must be a whole number from 1 to ${MAX_HISTORY}, got "${values.limit}"`);
  }
  const { client } = await connect(ctx);
  const result = await client.call("/history", { limit, peer: values.peer });
  if (values.json) return printJson(ctx, result);
  if (result.messages.length === 0) {
    ctx.out(values.peer ? `no messages from or to "${values.peer}": no peer id or name by that sent or got mail here (live sessions: bun cli.ts peers)` : "no messages yet");
    return 0;
  }
  const now = ctx.now();
  // The broker answers newest first; people read top to bottom, so the newest goes last.
  const row = (m: Message) => [clock(m.sent_at, now), m.id, m.from_name, recipientLabel(m), deliveryLabel(m) + (m.reply_status ? `, ${replyLabel(m)}` : ""), m.text];
  const columns = [{ header: "TIME" }, { header: "ID" }, { header: "FROM" }, { header: "TO" }, { header: "STATE" }, { header: "TEXT", max: 80 }];
  const rows = result.messages.toReversed().map(row);
  for (const line of renderTable(columns, rows, { width: ctx.columns, styleHeader: bold(ctx) })) ctx.out(line);
  return 0;
}

const CHECK_COLOR = { ok: "green", info: "dim", warn: "yellow", fail: "red" } as const;

function printChecks(ctx: CliContext, checks: Array<{ name: string; status: keyof typeof CHECK_COLOR; detail: string; fix?: string }>, failed: boolean): void {
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    ctx.out(`${ctx.paint(CHECK_COLOR[c.status], c.status.padEnd(4))}  ${c.name.padEnd(width)}  ${oneLine(c.detail)}`);
    if (c.fix && c.status !== "ok") ctx.out(`${" ".repeat(6 + width)}  fix: ${c.fix}`);
  }
  ctx.out(failed ? "\nsomething needs fixing (see fix:)" : "\nall good");
}

export const COMMANDS: Record<string, Command> = {
  status: { usage: "status [--json]", options: ["json"], run: status },
  peers: { usage: "peers [--scope machine|network|directory|repo] [--json]", options: ["json", "scope"], run: peers },
  send: { usage: "send <peer id, name, '#group' or '*'> <message...> [--json]   (quote '#group' and '*' for the shell)", options: ["json"], run: send },
  history: { usage: "history [--limit 1..1000] [--peer <id or name>] [--json]", options: ["json", "limit", "peer"], run: history },
  groups: { usage: "groups [--json]", options: ["json"], run: groups },
  edits: { usage: "edits [--json]", options: ["json"], run: async (...args) => (await import("./edits.ts")).edits(...args) },
  release: { usage: "release <peer> <peer> [--discard] [--json]", options: ["json", "discard"], run: release },
  retract: { usage: "retract <message id> [--json]", options: ["json"], run: retract },
  pause: { usage: "pause <peer id or name> [--json]", options: ["json"], run: pauseCommand("/pause") },
  resume: { usage: "resume <peer id or name> [--json]", options: ["json"], run: pauseCommand("/resume") },
  dashboard: { usage: "dashboard [--no-open]", options: ["no-open"], run: dashboard },
  watch: {
    usage: "watch [--json]",
    options: ["json"],
    streams: true,
    run: (ctx, values, positionals) => {
      noPositionals("watch", positionals);
      return watch(ctx, { json: values.json === true });
    },
  },
  doctor: {
    usage: "doctor [--json]",
    options: ["json"],
    reportsBadSettings: true,
    run: async (ctx, values, positionals) => {
      noPositionals("doctor", positionals);
      const { doctorFailed, runDoctor } = await import("./doctor.ts");
      const checks = await runDoctor(ctx);
      const failed = doctorFailed(checks);
      if (values.json) ctx.out(terminalJson({ ok: !failed, checks }, 2));
      else printChecks(ctx, checks, failed);
      return failed ? 1 : 0;
    },
  },
  install: {
    usage: "install claude|codex|gemini|git-guard [--dry-run]",
    options: ["dry-run"],
    run: async (ctx, values, positionals) => (await import("./install/command.ts")).runInstall(ctx, values, positionals, true),
  },
  uninstall: {
    usage: "uninstall claude|codex|gemini|git-guard [--dry-run]",
    options: ["dry-run"],
    run: async (ctx, values, positionals) => (await import("./install/command.ts")).runInstall(ctx, values, positionals, false),
  },
  "kill-broker": {
    usage: "kill-broker",
    options: [],
    run: (ctx, _values, positionals) => {
      noPositionals("kill-broker", positionals);
      return killBroker(ctx);
    },
  },
};
