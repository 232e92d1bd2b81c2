/**
 * The listeners' plumbing: the Unix-domain socket (a stale file removed, a live one refused, permissions
 * never wider than asked) and the error a listener that cannot start reports.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect as netConnect, type Server } from 'node:net';

/** A listener that could not start; `keyPath` names the setting it comes from. */
export class ListenError extends Error {
  constructor(
    readonly keyPath: string,
    message: string,
  ) {
    super(message);
  }
}

export function removeSocketFile(path: string): void {
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
export async function listenUnix(server: Server, path: string, mode: number): Promise<string> {
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
