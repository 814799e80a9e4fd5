/**
 * bench/scale.ts's cost model: from the figures of one run (per setup of 1..16 hosts, and the
 * server's floors) to a network of N hosts × S sessions, each session sending one message every
 * T seconds. Counts per message (transactions, writes, statements, notices, WAL) are taken at the
 * largest setup (they are meant to be flat; the fitted slope per host is printed beside them); what
 * grows with hosts (idle load, the database's CPU per message, as PostgreSQL 15 signals every
 * listening connection of the database at each notifying commit) is fitted as a + b·hosts.
 */
import type { Floors } from "./scale-db.ts";

export interface PerMessage {
  transactions: number;
  writes: number;
  statements: number;
  notices: number;
  walBytes: number;
  /** CPU ms of all brokers together, and of the PostgreSQL cluster. */
  brokerCpuMs: number;
  databaseCpuMs: number;
}

/** Per second, the whole setup together. */
export interface IdleLoad {
  transactions: number;
  writes: number;
  statements: number;
  walBytes: number;
  notices: number;
  /** CPU seconds per second (cores) of all brokers together, and of the cluster. */
  brokerCpu: number;
  databaseCpu: number;
}

export interface SetupFigures {
  hosts: number;
  connections: { min: number; max: number };
  idle: IdleLoad;
  perMessage: PerMessage;
}

export interface Workload {
  sessionsPerHost: number;
  /** Each session sends one message this often. */
  intervalS: number;
}

/** PostgreSQL's default max_connections, and the connections it keeps for superusers out of it. */
const DEFAULT_MAX_CONNECTIONS = 100;
const SUPERUSER_RESERVED = 3;
/** Room for people and tools (psql, backups, monitoring) on top of the brokers'. */
const ADMIN_ROOM = 20;
const SEARCH_LIMIT = 100_000;

/** Least squares y = a + b·x (b = 0 with one point). */
export function fitLine(points: ReadonlyArray<readonly [x: number, y: number]>): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const b = sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
  return { a: my - b * mx, b };
}

export interface Projection {
  hosts: number;
  messagesPerSecond: number;
  connections: number;
  maxConnections: number;
  transactionsPerSecond: number;
  writesPerSecond: number;
  statementsPerSecond: number;
  walBytesPerSecond: number;
  /** Commits that carry a NOTIFY (at most one per notice), and the listening connections each one signals. */
  notifyCommitsPerSecond: number;
  listenerWakeupsPerSecond: number;
  databaseCores: number;
}

export class CostModel {
  private readonly at: SetupFigures;
  private readonly idle: Record<keyof IdleLoad, { a: number; b: number }>;
  private readonly dbCpuPerMessage: { a: number; b: number };
  private readonly connectionsPerHost: number;

  constructor(
    setups: readonly SetupFigures[],
    private readonly floors: Floors,
    private readonly workload: Workload,
  ) {
    this.at = setups.reduce((big, s) => (s.hosts > big.hosts ? s : big));
    const fit = (y: (s: SetupFigures) => number) => fitLine(setups.map((s) => [s.hosts, y(s)] as const));
    const keys = Object.keys(this.at.idle) as Array<keyof IdleLoad>;
    this.idle = Object.fromEntries(keys.map((k) => [k, fit((s) => s.idle[k])])) as Record<keyof IdleLoad, { a: number; b: number }>;
    // Growth with hosts only: a slope below zero is noise of a shared machine, not a saving.
    const db = fit((s) => s.perMessage.databaseCpuMs);
    this.dbCpuPerMessage = { a: db.b < 0 ? this.at.perMessage.databaseCpuMs : db.a, b: Math.max(0, db.b) };
    this.connectionsPerHost = Math.max(...setups.map((s) => s.connections.max));
  }

  /** How the per-message counts move as hosts are added (per host): near 0 means flat. */
  slopes(setups: readonly SetupFigures[]): Record<"transactions" | "writes" | "statements" | "notices", number> {
    const slope = (k: "transactions" | "writes" | "statements" | "notices") => fitLine(setups.filter((s) => s.hosts > 1).map((s) => [s.hosts, s.perMessage[k]] as const)).b;
    return { transactions: slope("transactions"), writes: slope("writes"), statements: slope("statements"), notices: slope("notices") };
  }

  project(hosts: number): Projection {
    const rate = (hosts * this.workload.sessionsPerHost) / this.workload.intervalS;
    const idle = (k: keyof IdleLoad) => Math.max(0, this.idle[k].a + this.idle[k].b * hosts);
    const m = this.at.perMessage;
    const connections = this.connectionsPerHost * hosts;
    const notifyCommits = rate * m.notices;
    return {
      hosts,
      messagesPerSecond: rate,
      connections,
      maxConnections: Math.ceil((connections + SUPERUSER_RESERVED + ADMIN_ROOM) / 50) * 50,
      transactionsPerSecond: idle("transactions") + rate * m.transactions,
      writesPerSecond: idle("writes") + rate * m.writes,
      statementsPerSecond: idle("statements") + rate * m.statements,
      walBytesPerSecond: idle("walBytes") + rate * m.walBytes,
      notifyCommitsPerSecond: notifyCommits,
      listenerWakeupsPerSecond: notifyCommits * hosts,
      databaseCores: idle("databaseCpu") + (rate * (this.dbCpuPerMessage.a + this.dbCpuPerMessage.b * hosts)) / 1000,
    };
  }

  /** The limits in the order they are reached as hosts are added: the first is what breaks first. */
  limits(databaseCores: number): Array<{ what: string; hosts: number | null }> {
    const first = (over: (p: Projection) => boolean) => {
      for (let h = 1; h <= SEARCH_LIMIT; h++) if (over(this.project(h))) return h;
      return null;
    };
    const limits = [
      { what: `PostgreSQL's default max_connections (${DEFAULT_MAX_CONNECTIONS}, ${SUPERUSER_RESERVED} kept for superusers)`, hosts: first((p) => p.connections > DEFAULT_MAX_CONNECTIONS - SUPERUSER_RESERVED) },
      { what: `the NOTIFY lock: commits with a NOTIFY, measured ceiling ${Math.round(this.floors.notifyCommitsPerSecond)}/s`, hosts: first((p) => p.notifyCommitsPerSecond >= this.floors.notifyCommitsPerSecond) },
      { what: `durable commits (WAL flushes), measured ceiling ${Math.round(this.floors.commitsPerSecond)}/s from ${this.floors.parallel} connections`, hosts: first((p) => p.writesPerSecond >= this.floors.commitsPerSecond) },
      { what: `the database's CPU: ${databaseCores} cores like this machine's`, hosts: first((p) => p.databaseCores >= databaseCores) },
    ];
    return limits.sort((x, y) => (x.hosts ?? Infinity) - (y.hosts ?? Infinity));
  }

  /** The projection as a Markdown table, one column per size. */
  table(sizes: readonly number[]): string {
    const ps = sizes.map((h) => this.project(h));
    const row = (label: string, cell: (p: Projection) => string) => `| ${label} | ${ps.map(cell).join(" | ")} |`;
    const n = (x: number, digits = 0) => x.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
    const pct = (x: number, ceiling: number) => `${n((x / ceiling) * 100)} % of the measured ceiling`;
    return [
      `| ${this.workload.sessionsPerHost} sessions a host, one message each per ${this.workload.intervalS} s | ${ps.map((p) => `${n(p.hosts)} hosts (${n(p.hosts * this.workload.sessionsPerHost)} sessions)`).join(" | ")} |`,
      `|---|${ps.map(() => "---").join("|")}|`,
      row("messages/s", (p) => n(p.messagesPerSecond, 1)),
      row("connections (max_connections to set)", (p) => `${n(p.connections)} (≥ ${n(p.maxConnections)})`),
      row("transactions/s", (p) => n(p.transactionsPerSecond)),
      row("of them writes (WAL flushes)/s", (p) => `${n(p.writesPerSecond)} (${pct(p.writesPerSecond, this.floors.commitsPerSecond)})`),
      row("statements/s", (p) => n(p.statementsPerSecond)),
      row("WAL", (p) => `${n(p.walBytesPerSecond / 1024, 1)} KiB/s (${n((p.walBytesPerSecond * 86_400) / 2 ** 30, 1)} GiB/day)`),
      row("commits with NOTIFY/s", (p) => `${n(p.notifyCommitsPerSecond, 1)} (${pct(p.notifyCommitsPerSecond, this.floors.notifyCommitsPerSecond)})`),
      row("listening connections signalled/s", (p) => n(p.listenerWakeupsPerSecond)),
      row("database CPU (cores)", (p) => n(p.databaseCores, 2)),
    ].join("\n");
  }
}
