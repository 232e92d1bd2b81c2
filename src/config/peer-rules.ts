/**
 * The `peers` section (PgBouncer's [peers] as YAML): each key a peer id 1..16383, each host a name, an address or an
 * absolute directory holding the peer's Unix socket. Peers without general.peer_id would never be used (keys issued
 * with peering off name no instance), so that is an error, not a silent no-op. Types are left to the schema.
 */
import type { KeySegment } from './key-path.js';
import { isMap, type PlainMap } from './prepare.js';
import { MAX_PEER_ID } from './schema.js';
import { MAX_SOCKET_PATH, unixSocketPath } from './unix-socket.js';

type Add = (path: KeySegment[], problem: string) => void;

const PEER_ID = /^[1-9][0-9]*$/;

function hostRule(id: string, peer: PlainMap, add: Add): void {
  const host = peer.host;
  if (typeof host !== 'string') return;
  const at = ['peers', id, 'host'];
  if (host.startsWith('@')) {
    add(at, 'abstract Unix sockets are not supported: gatehouse listens on general.unix_socket_dir, a directory (give that, or a host name)');
    return;
  }
  if (!host.startsWith('/')) return;
  const socket = unixSocketPath(host, typeof peer.port === 'number' ? peer.port : 6432);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) add(at, `the socket path ${socket} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket address holds`);
}

export function peerRules(document: PlainMap, general: PlainMap, add: Add): void {
  const peers = document.peers;
  if (!isMap(peers)) return;
  for (const [id, peer] of Object.entries(peers)) {
    if (!PEER_ID.test(id) || Number(id) > MAX_PEER_ID) add(['peers', id], `a peer id is an integer 1..${MAX_PEER_ID} (got ${JSON.stringify(id)})`);
    if (isMap(peer)) hostRule(id, peer, add);
  }
  const own = general.peer_id;
  if (Object.keys(peers).length > 0 && (own === undefined || own === 0)) {
    add(['general', 'peer_id'], `must be this instance's id (1..${MAX_PEER_ID}) when peers is set: with 0 (the default) peering is off, cancel keys name no instance and peers would never be used`);
  }
}
