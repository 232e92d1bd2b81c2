/**
 * Where this process sends a client's CancelRequest: to the server connection of its own session (CancelRegistry),
 * to the instance whose peer_id the key names (PeerCancels), or to the worker of this instance that owns the key,
 * through the supervisor.
 */
import type { Config } from '../config/types.js';
import { CancelRegistry, type CancelSenderOptions } from './cancel-registry.js';
import type { WorkerPlace } from './cluster/worker-place.js';
import type { ConnectionIds } from './connection-ids.js';
import { PeerCancels } from './peer-cancel.js';

/** `config`: the running configuration (the peers in force are read at each cancel); `place`: null for the instance. */
export function routeCancels(config: Config, place: WorkerPlace | null, ids: ConnectionIds, sender: Omit<CancelSenderOptions, 'nextId'>): CancelRegistry {
  const g = config.general;
  const peers = new PeerCancels({ ...sender, selfId: g.peer_id, peers: () => config.peers, nextId: () => ids.next('xp') });
  return new CancelRegistry({
    ...sender,
    nextId: () => ids.next('x'),
    owner: { peerId: g.peer_id, worker: place?.index ?? 0 },
    // Another instance's key goes there; another worker's, to it through the supervisor.
    elsewhere: (processId, secretKey, owner) =>
      peers.handle(processId, secretKey, owner) || (place?.link.routeCancel(owner.worker, processId, secretKey) ?? false),
  });
}
