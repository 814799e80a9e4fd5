/**
 * Binds the other hosts' brokers (BrokerNetwork: PostgreSQL LISTEN/NOTIFY and heartbeats) to this
 * broker's services: a message another host stored is delivered here, a mailbox claimed, an ack
 * ends a sender's wait, a lost name makes its peer register again. Besides presence, the only
 * module that sees the network.
 */
import { errorMessage } from "../errors.ts";
import type { Mail, OtherHosts } from "./mail.ts";
import type { BrokerNetwork } from "./network.ts";
import type { Presence } from "./presence.ts";
import type { Pusher } from "./push.ts";
import type { Registry } from "./registry.ts";

/** What mail sends to other hosts: wake-ups and ack notices, through the network. */
export function otherHostsOf(network: BrokerNetwork): OtherHosts {
  return {
    wake: (brokerId, peerId, messageId) => network.wake(brokerId, peerId, messageId),
    acked: (ids) => network.acked(ids),
  };
}

export interface BridgedServices {
  presence: Presence;
  pusher: Pusher;
  registry: Registry;
  mail: Mail;
  log: (line: string) => void;
}

/** Starts listening to the network; what it hears goes to the services. */
export function startNetworkBridge(network: BrokerNetwork, s: BridgedServices): Promise<void> {
  return network.start({
    onMessage: (peerId, messageId) => void s.mail.deliverFromElsewhere(peerId, messageId),
    onMailbox: (peerId) => void s.mail.claimMailbox(peerId).catch((err) => s.log(`claiming ${peerId}'s mailbox failed: ${errorMessage(err)}`)),
    onAck: (ids) => s.mail.ackedElsewhere(ids),
    onSubscribed: () => {
      s.log("subscribed to wake-ups from other hosts; pushing unacknowledged mail");
      s.pusher.repushAll();
    },
    localPeers: () => s.presence.localPeers(),
    onNamesLost: (ids) => s.registry.namesLost(ids),
  });
}
