// The postmaster of a dev cluster: launched as a detached child of its own process group, with its output
// in the cluster's log file, and awaited until it answers on TCP and over the Unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { adminQuery } from './admin-query.js';
import { killAtExit, logTail } from './child-processes.js';
import { freePort, tcpAccepts } from './free-port.js';
import type { OsUser } from './os-user.js';
import type { PostgresBinaries } from './postgres-binaries.js';

export const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Where a cluster lives and how its programs are run. */
export interface ClusterLayout {
  baseDir: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  user: OsUser | undefined;
  binaries: PostgresBinaries;
  env: NodeJS.ProcessEnv;
}

export interface RunningServer {
  child: ChildProcess;
  port: number;
  serverVersionNum: number;
  exited: Promise<void>;
  untrack: () => void;
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || !isRunning(child)) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** The processes whose parent is `pid` (Linux /proc): a postmaster's backends and auxiliary processes. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * SIGKILL to the postmaster and every process it started, as the OOM killer or a lost machine does: nobody gets to
 * say anything. The postmaster is stopped first so that it cannot react to its children's deaths (crash recovery
 * would have them send FATAL 57P02), and backends live in sessions of their own (setsid), so a group kill would
 * not reach them.
 */
export function killWithBackends(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || !isRunning(child)) return;
  process.kill(pid, 'SIGSTOP');
  for (const backend of childrenOf(pid)) {
    try {
      process.kill(backend, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  process.kill(pid, 'SIGKILL');
}

/**
 * Starts `postgres -D <data> -p <port>` and waits until it serves queries. Without a requested port, a port
 * taken between freePort() and the server's bind is retried with another one.
 */
export async function launchServer(layout: ClusterLayout, requestedPort: number | undefined): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await freePort(HOST));
    const logOffset = fs.statSync(layout.logFile).size;
    const logFd = fs.openSync(layout.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(path.join(layout.binaries.binDir, 'postgres'), ['-D', layout.dataDir, '-p', String(port)], {
        env: layout.env,
        cwd: layout.baseDir,
        uid: layout.user?.uid,
        gid: layout.user?.gid,
        // Own process group: terminal signals go to our caller, who decides when to stop() the cluster.
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      fs.closeSync(logFd);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A persistent listener: an 'error' event without one would crash the process (e.g. a failed kill later on).
    const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
    const untrack = killAtExit(child, [layout.baseDir, layout.socketDir]);
    child.unref();
    try {
      const serverVersionNum = await waitUntilReady(layout, child, port, spawnError);
      return { child, port, serverVersionNum, exited, untrack };
    } catch (err) {
      killGroup(child);
      untrack();
      await Promise.race([exited, spawnError]);
      const log = fs.readFileSync(layout.logFile, 'utf8').slice(logOffset);
      const portTaken = /could not bind|Address already in use/.test(log);
      if (portTaken && requestedPort === undefined && attempt < PORT_ATTEMPTS) continue;
      throw err;
    }
  }
}

async function waitUntilReady(layout: ClusterLayout, child: ChildProcess, port: number, spawnError: Promise<Error>): Promise<number> {
  let startError: Error | undefined;
  void spawnError.then((err) => (startError = err));
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (startError) throw new Error(`could not start postgres: ${startError.message}`);
    if (!isRunning(child)) {
      const status = child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
      throw new Error(`postgres exited during startup (${status}); end of ${layout.logFile}:\n${logTail(layout.logFile)}`);
    }
    if (await tcpAccepts(port, 1000)) {
      try {
        const rows = await adminQuery(
          { socketDir: layout.socketDir, port, timeoutMs: 5000 },
          "SELECT current_setting('server_version_num')",
        );
        return Number(rows[0][0]);
      } catch (err) {
        lastProblem = (err as Error).message; // e.g. 57P03 "the database system is starting up"
      }
    } else {
      lastProblem = `nothing accepts TCP connections on ${HOST}:${port}`;
    }
    await sleep(100);
  }
  throw new Error(
    `postgres did not accept connections within ${START_TIMEOUT_MS / 1000} s (${lastProblem}); end of ${layout.logFile}:\n${logTail(layout.logFile)}`,
  );
}

