/**
 * Online restart (SIGUSR2, PgDoorman's signal, or UPGRADE in the admin console): the running process
 * starts its successor with the same command line and hands it its listening sockets, so the kernel
 * never refuses a connection; once the successor says it listens, the old process stops accepting and
 * drains its own clients within shutdown_timeout. A successor that fails to start (an invalid
 * configuration, say) changes nothing: the old process goes on serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Where a successor finds the sockets it inherited: fd numbers, by listener. */
export interface ListeningFds {
  tcp: number;
  unix: number | null;
  web: number | null;
}

const ENV = 'GATEHOUSE_INHERITED_FDS';
const READY = 'gatehouse.ready';

/** The sockets this process inherited from the one it succeeds, or null for a fresh start (the variable is consumed). */
export function inheritedFds(env: NodeJS.ProcessEnv = process.env): ListeningFds | null {
  const value = env[ENV];
  if (!value) return null;
  delete env[ENV];
  const fds = JSON.parse(value) as ListeningFds;
  if (!Number.isInteger(fds.tcp)) throw new Error(`${ENV} is malformed: ${value}`);
  return fds;
}

/** The successor: listening on what it inherited, it tells the process that started it. */
export function announceReady(): void {
  if (!process.send) return;
  process.send({ type: READY }, () => process.disconnect());
}

/**
 * Starts `node <args>` with the listening sockets at fds 4 and up (3 is the IPC channel), and resolves once it
 * listens on them. Rejects if it exits first or is not ready within `timeoutMs` (it is killed then).
 */
export function startSuccessor(fds: ListeningFds, args: string[], timeoutMs: number): Promise<ChildProcess> {
  const passed = [fds.tcp, fds.unix, fds.web].filter((fd): fd is number => fd !== null);
  const at = (fd: number | null) => (fd === null ? null : 4 + passed.indexOf(fd));
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...passed],
    env: { ...process.env, [ENV]: JSON.stringify({ tcp: at(fds.tcp), unix: at(fds.unix), web: at(fds.web) }) },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the successor did not listen within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('message', (message: { type?: string }) => {
      if (message?.type !== READY) return;
      clearTimeout(timer);
      child.unref();
      resolve(child);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the successor exited before it listened (${signal ?? `code ${code}`})`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The file descriptor of a listening net.Server (POSIX). */
export function serverFd(server: { _handle?: { fd?: number } } | unknown): number {
  const fd = (server as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the listener has no file descriptor to hand over');
  return fd;
}
