/**
 * The broker's own code in this test process, for pure state logic: its services over an in-memory
 * SQLite store with an injected clock, or the whole broker (createBroker) on a temp socket and a free port.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeServices, createBroker, type Broker, type BrokerOptions, type ServiceOptions, type Services } from "../../shared/broker/app.ts";
import { openSqliteStore } from "../../shared/store/sqlite.ts";
import type { RegisterBody } from "../../shared/protocol.ts";

/** A clock that moves only when a test moves it. */
export class TestClock {
  constructor(public ms = 1_700_000_000_000) {}
  readonly now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** `await using s = inProcessServices()`: leaving the scope closes its sockets and the store. */
export interface InProcessServices extends Services, AsyncDisposable {
  clock: TestClock;
}

/** The services with no HTTP in front: every peer counts as a live process, time is the test's. */
export function inProcessServices(opts: Partial<ServiceOptions> = {}): InProcessServices {
  const clock = new TestClock();
  const services = composeServices({ store: openSqliteStore(":memory:"), mailboxTtlMs: 60_000, host: "laptop", now: clock.now, pidAlive: () => true, ...opts });
  return {
    ...services,
    clock,
    async [Symbol.asyncDispose]() {
      services.registry.closeAll();
      services.watchers.closeAll();
      await services.store.close();
    },
  };
}

/** A socket path in a fresh temp folder (its 0700 folder not made yet: createBroker makes it), and the folder's removal. */
export function tempSocketPath(): { socketPath: string; remove(): void; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "claude-peers-sock-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return { socketPath: join(dir, ".claude-peers", "broker.sock"), remove, [Symbol.dispose]: remove };
}

/**
 * createBroker on an in-memory store, a socket in a temp folder (unless `socketPath` is given)
 * and a free console port; the test stops it, which also removes that folder.
 */
export async function inProcessBroker(opts: Partial<BrokerOptions> & { token: string }): Promise<Broker> {
  const temp = opts.socketPath ? undefined : tempSocketPath();
  let broker: Broker;
  try {
    broker = await createBroker({ store: openSqliteStore(":memory:"), port: 0, mailboxTtlMs: 60_000, host: "laptop", socketPath: temp?.socketPath ?? opts.socketPath!, ...opts });
  } catch (err) {
    temp?.remove();
    throw err;
  }
  const stop = broker.stop.bind(broker);
  return { ...broker, stop: () => stop().finally(() => temp?.remove()) };
}

/** A /register body (what server.ts sends), with a parent pid for hook pairing: a session whose mail its hooks show (`channel: true` in `extra`: channel push shows it). */
export function registration(name: string, extra: Partial<RegisterBody> = {}): RegisterBody {
  return { name, pid: 4242, parent_pid: 4241, cwd: `/w/${name}`, git_root: null, git_common_dir: null, git_branch: null, summary: "", agent: "claude-code", channel: false, ...extra };
}
