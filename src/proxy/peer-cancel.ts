/**
 * Many instances as one (PgBouncer's peering): behind a TCP load balancer a client's CancelRequest
 * opens a new connection, which may land on another gatehouse instance than the one running its
 * query. Each instance writes its general.peer_id into the cancel keys it issues (cancel-key.ts);
 * one that receives a key naming another id forwards the CancelRequest to that peer, with the key's
 * TTL one hop lower so that a misconfigured ring cannot bounce it forever.
 *
 * The forward is the cancel-request machine over a plain connection to the peer (journaled as
 * `xp<N>` with input.peer, counted in gatehouse_peer_cancel_requests_total). The peer reads the
 * CancelRequest and closes the connection, as PostgreSQL does, which is how `sent` is recognised.
 * At most the peer's pool_size forwards are in flight at once; more wait for a free slot, and give
 * up after as long as one forward may take. Dropped cancels (TTL used up, a peer id not in `peers`)
 * are logged at debug and counted; the client is never told, as PostgreSQL tells it nothing either.
 */
import type { PeerConfig } from '../config/types.js';
import { CANCEL_TIMEOUT_MS, sendCancel } from '../driver/cancel-driver.js';
import { realTimers, type Timers } from '../driver/timers.js';
import { withTtlDecremented, type KeyOwner } from './cancel-key.js';
import type { CancelSenderOptions } from './cancel-registry.js';

export type PeerRoute =
  /** This instance owns the key (or peering is off): the cancel registry looks it up. */
  | { kind: 'own' }
  | { kind: 'drop'; reason: 'ttl_expired' | 'unknown_peer' }
  | { kind: 'forward'; peer: PeerConfig };

/** Where a cancel whose key names `owner` goes, seen from the instance `selfId` with `peers` configured. */
export function routeToPeer(selfId: number, peers: readonly PeerConfig[], owner: Pick<KeyOwner, 'peerId'> & { ttl: number }): PeerRoute {
  // With peering off, bytes 1-2 of the keys are random: they name nobody.
  if (selfId === 0 || owner.peerId === selfId) return { kind: 'own' };
  if (owner.ttl === 0) return { kind: 'drop', reason: 'ttl_expired' };
  const peer = peers.find((p) => p.peer_id === owner.peerId);
  return peer ? { kind: 'forward', peer } : { kind: 'drop', reason: 'unknown_peer' };
}

export interface PeerCancelOptions extends CancelSenderOptions {
  /** general.peer_id. */
  selfId: number;
  /** The peers in force, read at each cancel (a reload's changes apply to the next one). */
  peers: () => readonly PeerConfig[];
}

/** One peer's forwards: how many are in flight, and those waiting for a slot, oldest first. */
interface Lane {
  inFlight: number;
  waiting: Array<{ start: () => void; timer: unknown }>;
}

export class PeerCancels {
  private readonly lanes = new Map<number, Lane>();
  private forwardsStarted = 0;

  constructor(private readonly options: PeerCancelOptions) {}

  private get timers(): Timers {
    return this.options.timers ?? realTimers;
  }

  /** The cancel registry's `elsewhere`: true when the key is another instance's (forwarded, waiting or dropped). */
  handle(processId: number, secretKey: Buffer, owner: KeyOwner & { ttl: number }): boolean {
    const { selfId, peers, logger, metrics } = this.options;
    const route = routeToPeer(selfId, peers(), owner);
    if (route.kind === 'own') return false;
    if (route.kind === 'drop') {
      metrics.peerCancelRequests.inc({ peer: String(owner.peerId), outcome: route.reason });
      const why = route.reason === 'ttl_expired' ? 'it was forwarded too often (TTL 0)' : 'that peer id is not in peers';
      logger.debug({ peer: owner.peerId, reason: route.reason }, `cancel request for peer ${owner.peerId} dropped: ${why}`);
      return true;
    }
    // A copy, taken now: the caller's buffer may be reused while the forward waits for a slot.
    const forwarded = withTtlDecremented(secretKey);
    this.enqueue(route.peer, () => this.forward(route.peer, processId, forwarded));
    return true;
  }

  private enqueue(peer: PeerConfig, start: () => Promise<void>): void {
    let lane = this.lanes.get(peer.peer_id);
    if (!lane) this.lanes.set(peer.peer_id, (lane = { inFlight: 0, waiting: [] }));
    const run = () => {
      lane.inFlight++;
      void start().finally(() => {
        lane.inFlight--;
        const next = lane.waiting.shift();
        if (next) {
          this.timers.clear(next.timer);
          next.start();
        } else if (lane.inFlight === 0) this.lanes.delete(peer.peer_id);
      });
    };
    if (lane.inFlight < peer.pool_size) return run();
    const waiter = {
      start: run,
      timer: this.timers.set(() => {
        lane.waiting.splice(lane.waiting.indexOf(waiter), 1);
        this.options.metrics.peerCancelRequests.inc({ peer: String(peer.peer_id), outcome: 'wait_timeout' });
        this.options.logger.warn({ peer: peer.peer_id, pool_size: peer.pool_size }, `cancel request for peer ${peer.peer_id} dropped: no free slot of its pool_size (${peer.pool_size}) within ${CANCEL_TIMEOUT_MS}ms`);
      }, CANCEL_TIMEOUT_MS),
    };
    lane.waiting.push(waiter);
    this.options.logger.debug({ peer: peer.peer_id, pool_size: peer.pool_size, waiting: lane.waiting.length }, 'cancel request waits for a free slot of the peer');
  }

  /** `secretKey` has its TTL decremented already. */
  private async forward(peer: PeerConfig, processId: number, secretKey: Buffer): Promise<void> {
    const id = this.options.nextId ? this.options.nextId() : `xp${++this.forwardsStarted}`;
    const { logger, journals, metrics, inspect, timers } = this.options;
    try {
      await sendCancel({
        id,
        target: { peer: peer.peer_id },
        route: { host: peer.host, port: peer.port, mode: 'disable', negotiation: 'postgres', material: null },
        key: { processId, secretKey },
        sessionTls: false,
        logger: logger.child({ conn: id, peer: peer.peer_id }),
        metrics,
        journals,
        timers,
        inspect: inspect?.(),
      });
    } catch (err) {
      logger.error({ conn: id, peer: peer.peer_id, err }, 'cancel request to a peer could not be started');
    }
  }
}
