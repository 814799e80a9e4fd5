/**
 * Binds the other hosts' brokers (BrokerNetwork: PostgreSQL LISTEN/NOTIFY and heartbeats) to this
 * broker's services: a message another host stored is delivered here, a mailbox claimed, an ack
 * ends a sender's wait, a lost name makes its peer register again, and watch events go both ways
 * while some host watches (the console shows every host). Besides presence, the only module that
 * sees the network.
 */
import { errorMessage } from "../errors.ts";
import type { BrokerFrame } from "../protocol.ts";
import type { MessageRow, Store } from "../store/store.ts";
import type { Mail, OtherHosts } from "./mail.ts";
import type { BrokerNetwork, RelayedEvent } from "./network.ts";
import type { Presence } from "./presence.ts";
import type { Pusher } from "./push.ts";
import type { Registry } from "./registry.ts";
import { toWireMessage, toWirePeer } from "./to-wire.ts";
import type { Watchers } from "./watchers.ts";

/** What mail sends to other hosts: wake-ups and ack notices, through the network. */
export function otherHostsOf(network: BrokerNetwork): OtherHosts {
  return {
    wake: (brokerId, peerId, messageId) => network.wake(brokerId, peerId, messageId),
    acked: (ids, outcome) => network.acked(ids, outcome),
  };
}

export interface BridgedServices {
  store: Store;
  watchers: Watchers;
  presence: Presence;
  pusher: Pusher;
  registry: Registry;
  mail: Mail;
  log: (line: string) => void;
}

/** Starts listening to the network; what it hears goes to the services. */
export function startNetworkBridge(network: BrokerNetwork, s: BridgedServices): Promise<void> {
  const relayed = relayWatchEvents(network, s);
  return network.start({
    onMessage: (peerId, messageId) =>
      void s.mail.deliverFromElsewhere(peerId, messageId).catch((err) => s.log(`delivering ${messageId} from another host failed: ${errorMessage(err)}`)),
    onMailbox: (peerId) => void s.mail.claimMailbox(peerId).catch((err) => s.log(`claiming ${peerId}'s mailbox failed: ${errorMessage(err)}`)),
    onAck: (ids, outcome) => s.mail.ackedElsewhere(ids, outcome),
    onSubscribed: () => {
      s.log("subscribed to wake-ups from other hosts; pushing unacknowledged mail");
      s.pusher.repushAll();
    },
    localPeers: () => s.presence.localPeers(),
    onNamesLost: (ids) => s.registry.namesLost(ids),
    watchedHere: () => s.watchers.watchedHere,
    onEvents: relayed,
  });
}

type EventName = Extract<BrokerFrame, { type: "event" }>["event"];
const MESSAGE_EVENTS = new Set<string>(["sent", "delivered", "read", "retracted", "released", "expired"] satisfies EventName[]);
const PEER_EVENTS = new Set<string>(["joined", "left", "summary"] satisfies EventName[]);
const NAME_EVENTS = new Set<string>(["paused", "resumed"] satisfies EventName[]);

/**
 * Watch events between hosts: this broker's go out as [event, id] pairs, one notice per turn of
 * the event loop, while another host watches; the other hosts' come in, are read again from the
 * shared store (a notice is small; a message may be 64 KiB) and go to this broker's watchers, in order.
 */
function relayWatchEvents(network: BrokerNetwork, s: BridgedServices): (events: RelayedEvent[]) => void {
  let batch: RelayedEvent[] = [];
  s.watchers.relay = {
    publish(frame) {
      if (frame.type !== "event") return;
      const key = frame.message?.id ?? frame.peer?.id ?? frame.name;
      if (key === undefined) return;
      if (batch.length === 0) {
        // Scheduled outside any unit of work (an event emitted inside one would carry it into the
        // callback, whose NOTIFY would then join, or abort, that unit's transaction).
        s.store.detached(() =>
          setImmediate(() => {
            const out = batch;
            batch = [];
            network.events(out).catch((err) => s.log(`could not relay ${out.length} watch events: ${errorMessage(err)}`));
          }),
        );
      }
      batch.push([frame.event, key]);
    },
    othersWatching: () => network.othersWatching(),
    watchingStarted: () => void network.announceWatching().catch((err) => s.log(`could not tell the other hosts this one watches: ${errorMessage(err)}`)),
  };
  let queue = Promise.resolve();
  return (events) => {
    queue = queue.then(async () => {
      if (!s.watchers.watchedHere) return;
      // One read for every message of the notice (a busy host sends many per notice), then the frames in order.
      const ids = [...new Set(events.filter(([event]) => MESSAGE_EVENTS.has(event)).map(([, key]) => key))];
      const messages = new Map((await s.store.getMessages(ids)).map((m) => [m.id, m]));
      for (const [event, key] of events) {
        const frame = await relayedFrame(event as EventName, key, messages, s.store);
        if (frame) s.watchers.emitRelayed(frame);
      }
    }).catch((err) => s.log(`relayed watch events failed: ${errorMessage(err)}`));
  };
}

async function relayedFrame(event: EventName, key: string, messages: ReadonlyMap<string, MessageRow>, store: Store): Promise<BrokerFrame | null> {
  if (MESSAGE_EVENTS.has(event)) {
    const row = messages.get(key);
    return row ? { type: "event", event, message: toWireMessage(row) } : null;
  }
  if (PEER_EVENTS.has(event)) {
    const row = await store.getPeer(key);
    // Its push connection is on the other host: the console asks for the whole state on a join or leave.
    return row ? { type: "event", event, peer: toWirePeer(row, false, row.last_seen) } : null;
  }
  return NAME_EVENTS.has(event) ? { type: "event", event, name: key } : null;
}
