import { statSync } from 'node:fs';
import { isMap, type PathProblem } from './prepare.js';
import { resolveConfigPath } from './tls-files.js';

/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
export const MAX_SOCKET_PATH = 107;

/** The socket file for a directory and port: PostgreSQL's name, so `psql -h <dir> -p <port>` finds it. */
export function unixSocketPath(dir: string, port: number): string {
  return `${dir.replace(/\/+$/, '')}/.s.PGSQL.${port}`;
}

/**
 * Problems with general.unix_socket_dir: a socket path too long for the kernel, and (when files are checked) a
 * directory that does not exist.
 */
export function unixSocketProblems(document: unknown, baseDir: string, checkFiles: boolean): PathProblem[] {
  if (!isMap(document) || !isMap(document.general)) return [];
  const value = document.general.unix_socket_dir;
  if (typeof value !== 'string' || value === '') return [];
  const dir = resolveConfigPath(baseDir, value);
  const port = typeof document.general.port === 'number' ? document.general.port : 6432;
  const socket = unixSocketPath(dir, port);
  const at = ['general', 'unix_socket_dir'];
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    return [{ path: at, problem: `the socket path ${socket} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket address holds: choose a shorter directory` }];
  }
  if (!checkFiles) return [];
  try {
    if (!statSync(dir).isDirectory()) return [{ path: at, problem: `${dir} is not a directory` }];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return [{ path: at, problem: `${dir} ${code === 'ENOENT' ? 'does not exist' : (error as Error).message}` }];
  }
  return [];
}
