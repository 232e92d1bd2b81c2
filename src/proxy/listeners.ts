/**
 * The client listeners: TCP on general.host/port and the Unix-domain socket in general.unix_socket_dir (a
 * stale file removed, a live one refused, permissions never wider than asked), fresh or inherited from the
 * process an online restart replaces, and the error a listener that cannot start reports.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo, type Server, type ServerOpts, type Socket } from 'node:net';
import type { ClientTransport } from '../../machines/client-session.js';
import type { GeneralConfig } from '../config/types.js';
import { unixSocketPath } from '../config/unix-socket.js';
import type { ListeningFds } from './handover.js';

/**
 * The listen backlog. Node's default (511) overflows when thousands of clients connect at once (an application
 * restarting) while the event loop is busy with logins: the kernel then drops their SYNs, and each waits a
 * retransmit (1 s, 3 s, … until ETIMEDOUT after about 2 minutes). Linux caps it at net.core.somaxconn.
 */
export const LISTEN_BACKLOG = 4096;

export interface ClientListeners {
  tcp: Server;
  address: AddressInfo;
  unix: Server | null;
  /** The socket file the Unix listener made (or inherited), removed on a stop that hands nothing over. */
  unixPath: string | null;
  close(opts: { keepSocketFile: boolean }): Promise<void>;
}

/**
 * Listens for clients as `general` says (port 0 picks a free port), or on the sockets an online restart's
 * predecessor handed over (`inherited`). `accept` gets each connection with how it came.
 */
export async function listenClients(
  general: Pick<GeneralConfig, 'host' | 'port' | 'unix_socket_dir' | 'unix_socket_mode'>,
  accept: (socket: Socket, transport: ClientTransport) => void,
  inherited: ListeningFds | null,
  options: ServerOpts = {},
): Promise<ClientListeners> {
  const tcp = createServer({ noDelay: true, ...options }, (socket) => accept(socket, 'tcp'));
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    const listening = () => {
      tcp.off('error', reject);
      resolve();
    };
    if (inherited) tcp.listen({ fd: inherited.tcp }, listening);
    else tcp.listen(general.port, general.host, LISTEN_BACKLOG, listening);
  });
  const address = tcp.address() as AddressInfo;
  let unix: Server | null = null;
  let unixPath: string | null = null;
  if (general.unix_socket_dir !== null) {
    // Named after the port clients use, as PostgreSQL names its own: psql -h <dir> -p <port>.
    const path = unixSocketPath(general.unix_socket_dir, address.port);
    const server = createServer(options, (socket) => accept(socket, 'unix'));
    try {
      if (inherited?.unix != null) {
        await new Promise<void>((resolve) => server.listen({ fd: inherited.unix! }, () => resolve()));
        unixPath = path;
      } else {
        unixPath = await listenUnix(server, path, general.unix_socket_mode);
      }
      unix = server;
    } catch (err) {
      tcp.close();
      throw new ListenError('general.unix_socket_dir', (err as Error).message);
    }
  }
  const closed = (server: Server | null) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  return {
    tcp,
    address,
    unix,
    unixPath,
    close: async ({ keepSocketFile }) => {
      await Promise.all([closed(tcp), closed(unix)]);
      if (unixPath && !keepSocketFile) removeSocketFile(unixPath);
    },
  };
}

/** A listener that could not start; `keyPath` names the setting it comes from. */
export class ListenError extends Error {
  constructor(
    readonly keyPath: string,
    message: string,
  ) {
    super(message);
  }
}

function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Whether something accepts connections on the Unix socket at `path` (a leftover file of a dead process does not). */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = netConnect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Listens on the Unix-domain socket `path` with permission bits `mode`. A socket file left by a process that died
 * is removed; one another process still listens on is an error. The file is created with no permissions beyond
 * the owner's (umask) and then given `mode`, so it is never more open than asked, even for a moment.
 */
async function listenUnix(server: Server, path: string, mode: number): Promise<string> {
  let existing: ReturnType<typeof lstatSync> | null = null;
  try {
    existing = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot use ${path}: ${(err as Error).message}`);
  }
  if (existing) {
    if (!existing.isSocket()) throw new Error(`cannot listen on ${path}: a file that is not a socket is in the way`);
    if (await socketIsLive(path)) throw new Error(`cannot listen on ${path}: another process is already listening on it`);
    removeSocketFile(path);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${path}: ${err.message}`)));
    const previous = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(previous);
    }
  });
  chmodSync(path, mode);
  return path;
}
