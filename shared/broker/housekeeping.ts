/**
 * The broker's timers. Its own checks run on every broker: its sessions' liveness, the socket still
 * its own, the console's logins. The sweeps of the shared data (expiry and prune, overdue replies)
 * run where `leads()` says: always on a broker alone (SQLite), and on a shared database on one
 * broker at a time, the leader its heartbeat names on the database's clock (BrokerNetwork.leads),
 * so 500 hosts do not each scan the whole network every minute and each second. They compare
 * against the database's clock too (`onDatabaseClock`): a leader whose own clock is off neither
 * expires mail early nor keeps it forever.
 *
 * The overdue-reply sweep runs every second on SQLite (a local file: no cost to anyone), and on a
 * shared database only when a reply falls due (reply-deadline.ts): the heartbeat and this host's
 * sends say when, so an idle host costs the database its heartbeat and little else.
 */
import { errorMessage } from "../errors.ts";
import type { Store, SweepTime } from "../store/store.ts";
import type { Mail } from "./mail.ts";
import type { Presence } from "./presence.ts";
import { ReplyDeadline } from "./reply-deadline.ts";

const SWEEP_INTERVAL_MS = 500;
/** Also how late an overdue-reply notice may come (SQLite; on a shared database, see ReplyDeadline). */
const OVERDUE_CHECK_MS = 1000;
/** Also how late expired mailbox mail may still show as queued. */
const PRUNE_INTERVAL_MS = 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The edit hooks' stake files are written whole this often (edit-flags.ts); an edit here adds its name at once. */
const EDIT_FLAG_INTERVAL_MS = 5000;

export interface HousekeepingOptions {
  store: Store;
  presence: Presence;
  mail: Mail;
  now: () => number;
  log: (line: string) => void;
  /** Whether this broker runs the sweeps of the shared data now. */
  leads: () => boolean;
  /**
   * The sweeps of the shared data compare against the database's clock (a shared PostgreSQL), not
   * `now`; the overdue sweep then runs when `replyDue` says a reply falls due, not every second.
   */
  onDatabaseClock: boolean;
  /** This broker's own checks, every SWEEP_INTERVAL_MS beside its sessions' liveness. */
  onSweep: () => void;
  /** More of the shared data to prune at the same time, after the messages (the edit touches and claims). */
  afterPrune: (at: SweepTime) => Promise<unknown>;
  /** This broker's sessions' edit-hook flags, every EDIT_FLAG_INTERVAL_MS. */
  editFlags: () => Promise<unknown>;
}

export interface Housekeeping {
  /** A reply falls due in `ms` (0 or less: already); on a shared database the leader sweeps then. */
  replyDue(ms: number): void;
  stop(): void;
}

export function startHousekeeping(o: HousekeepingOptions): Housekeeping {
  const at = (): SweepTime => (o.onDatabaseClock ? "database" : o.now());
  const sweeper = setInterval(() => {
    o.onSweep();
    o.presence.sweep();
  }, SWEEP_INTERVAL_MS);
  const noticeOverdue = () => {
    if (o.leads()) void o.mail.noticeOverdue(at()).catch((err) => o.log(`overdue notices failed: ${errorMessage(err)}`));
  };
  const deadline = o.onDatabaseClock ? new ReplyDeadline(noticeOverdue) : undefined;
  if (deadline) o.mail.replyAwaited = (inMs) => deadline.dueIn(inMs);
  const overdue = deadline ? undefined : setInterval(noticeOverdue, OVERDUE_CHECK_MS);
  const prune = async () => {
    if (!o.leads()) return;
    try {
      const now = at();
      const r = await o.store.prune({ now, keepReadMs: 7 * DAY_MS, keepPeersMs: 30 * DAY_MS, liveIds: await o.presence.networkLiveIds() });
      await o.mail.expired(r.expiredMessages);
      await o.afterPrune(now);
      if (r.expired || r.deletedMessages || r.deletedPeers) {
        o.log(`pruned: ${r.expired} expired, ${r.deletedMessages} old messages and ${r.deletedPeers} old peers deleted`);
      }
    } catch (err) {
      o.log(`prune failed: ${errorMessage(err)}`);
    }
  };
  void prune();
  const pruner = setInterval(prune, PRUNE_INTERVAL_MS);
  const flagger = setInterval(() => void o.editFlags().catch((err) => o.log(`edit flags failed: ${errorMessage(err)}`)), EDIT_FLAG_INTERVAL_MS);
  const timers = [sweeper, pruner, flagger, ...(overdue ? [overdue] : [])];
  for (const timer of timers) timer.unref();
  return {
    replyDue(ms) {
      deadline?.dueIn(ms);
    },
    stop() {
      for (const timer of timers) clearInterval(timer);
      deadline?.stop();
    },
  };
}
