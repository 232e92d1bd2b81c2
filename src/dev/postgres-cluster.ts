// Throwaway PostgreSQL clusters for tests and `gatehouse demo`: initdb, users and databases made in
// single-user mode, then the postmaster as a child process listening on 127.0.0.1 and a short Unix socket dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminQuery } from './admin-query.js';
import { runToCompletion } from './child-processes.js';
import { canReach, chownTo, postgresOsUser, type OsUser } from './os-user.js';
import { childEnv, resolveBinaries, type PostgresFlavor } from './postgres-binaries.js';
import {
  bootstrapStatements,
  renderHba,
  renderSettings,
  type ClusterDatabase,
  type ClusterUser,
  type SettingValue,
} from './postgres-config.js';
import { HOST, isRunning, killGroup, killWithBackends, launchServer, sleep, type ClusterLayout, type RunningServer } from './postgres-server.js';

export interface ClusterOptions {
  flavor: PostgresFlavor;
  /** Default: a free port on 127.0.0.1 (retried with another one if someone takes it first). */
  port?: number;
  /** ssl=on with these files in the data directory; ssl_ca_file when caPem is given. */
  ssl?: { certPem: string; keyPem: string; caPem?: string } | null;
  /** pg_hba.conf lines, verbatim, after an always-present 'local all all trust' line. */
  hba: string[];
  users?: ClusterUser[];
  databases?: ClusterDatabase[];
  /** Extra postgresql.conf settings; they win over the defaults. */
  settings?: Record<string, SettingValue>;
  /** Default: a new directory in os.tmpdir(). Removed by stop() either way. */
  baseDir?: string;
}

export type RestartKind = 'fast' | 'kill-postmaster' | 'kill-all';

export interface Cluster {
  flavor: PostgresFlavor;
  /** e.g. '18.4', '15.18' */
  version: string;
  host: '127.0.0.1';
  port: number;
  socketDir: string;
  dataDir: string;
  baseDir: string;
  logFile: string;
  /** Runs SQL as the superuser `postgres` over the Unix socket; every DataRow as text, SQL NULL as ''. */
  query(sql: string, database?: string): Promise<string[][]>;
  /** Rewrites pg_hba.conf (admin trust line first) and resolves once new connections use it. */
  writeHba(lines: string[]): Promise<void>;
  /** The running postmaster's process id (it changes with restart()). */
  readonly postmasterPid: number;
  /**
   * Stops the server and starts it again on the same port and data directory. 'fast': a fast shutdown (open
   * transactions rolled back, clients told FATAL 57P01). 'kill-postmaster': `kill -9` of the postmaster alone; its
   * backends notice and leave (an idle one says FATAL 57P01 "unexpected postmaster exit", a busy one may just go).
   * 'kill-all': SIGKILL to the postmaster and every backend at once, as a lost machine: nobody is told anything.
   * After either kill, the new postmaster runs crash recovery.
   */
  restart(how: RestartKind): Promise<void>;
  /** Fast shutdown, waits for exit, removes baseDir and socketDir. Idempotent; safe from signal handlers. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 15_000;
const RELOAD_TIMEOUT_MS = 10_000;

async function writeOwned(file: string, content: string, mode: number, user: OsUser | undefined): Promise<void> {
  await fs.promises.writeFile(file, content, { mode });
  await fs.promises.chmod(file, mode);
  await chownTo(user, file);
}

async function runStep(layout: ClusterLayout, what: string, program: string, args: string[], input?: string): Promise<void> {
  const command = path.join(layout.binaries.binDir, program);
  const result = await runToCompletion(command, args, { env: layout.env, cwd: layout.baseDir, user: layout.user, input });
  await fs.promises.appendFile(layout.logFile, `--- ${what} ---\n${result.output}\n`);
  const failed = result.code !== 0 || (input !== undefined && /\b(ERROR|FATAL|PANIC): /.test(result.output));
  if (failed) {
    const status = result.signal ? `signal ${result.signal}` : `exit code ${result.code}`;
    throw new Error(`${what} failed (${status}):\n${result.output.trim()}`);
  }
}

async function configure(layout: ClusterLayout, opts: ClusterOptions): Promise<void> {
  const { dataDir, user } = layout;
  const settings: Record<string, SettingValue> = {
    listen_addresses: HOST,
    unix_socket_directories: layout.socketDir,
    fsync: false,
    synchronous_commit: false,
    full_page_writes: false,
    max_connections: 120,
    logging_collector: false,
    log_destination: 'stderr',
  };
  if (opts.ssl) {
    await writeOwned(path.join(dataDir, 'server.crt'), opts.ssl.certPem, 0o644, user);
    // PostgreSQL refuses a key readable by others or owned by someone else than the server user.
    await writeOwned(path.join(dataDir, 'server.key'), opts.ssl.keyPem, 0o600, user);
    Object.assign(settings, { ssl: true, ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' });
    if (opts.ssl.caPem) {
      await writeOwned(path.join(dataDir, 'root.crt'), opts.ssl.caPem, 0o644, user);
      settings.ssl_ca_file = 'root.crt';
    }
  } else {
    settings.ssl = false;
  }
  Object.assign(settings, opts.settings ?? {});
  const conf = `\n# gatehouse dev cluster\n${renderSettings(settings)}`;
  await fs.promises.appendFile(path.join(dataDir, 'postgresql.conf'), conf);
  await writeOwned(path.join(dataDir, 'pg_hba.conf'), renderHba(opts.hba), 0o600, user);
}

function versionString(serverVersionNum: number): string {
  return `${Math.floor(serverVersionNum / 10000)}.${serverVersionNum % 10000}`;
}

function makeCluster(layout: ClusterLayout, flavor: PostgresFlavor, first: RunningServer): Cluster {
  let server = first;
  const { port } = first;
  const { socketDir, dataDir, baseDir, logFile, user } = layout;
  const query = (sql: string, database?: string): Promise<string[][]> => adminQuery({ socketDir, port, database }, sql);
  // A fresh backend reports the postmaster's last reload time, so a new value means new connections see the reload.
  const loadTime = async (): Promise<string> => (await query('SELECT pg_conf_load_time()'))[0][0];

  async function writeHba(lines: string[]): Promise<void> {
    const hbaFile = path.join(dataDir, 'pg_hba.conf');
    const content = renderHba(lines);
    const previous = await fs.promises.readFile(hbaFile, 'utf8');
    const before = await loadTime();
    await writeOwned(hbaFile, content, 0o600, user);
    // pg_hba_file_rules parses the file on disk: refuse rules PostgreSQL would refuse, instead of a reload it ignores.
    const errors = await query('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL');
    if (errors.length > 0) {
      await writeOwned(hbaFile, previous, 0o600, user);
      const detail = errors.map(([line, error]) => `line ${line} (${JSON.stringify(content.split('\n')[Number(line) - 1])}): ${error}`);
      throw new Error(`PostgreSQL rejects these pg_hba.conf lines; kept the previous file:\n${detail.join('\n')}`);
    }
    const { child } = server;
    if (child.pid === undefined || !isRunning(child)) throw new Error('cannot reload pg_hba.conf: the cluster is not running');
    process.kill(child.pid, 'SIGHUP');
    const deadline = Date.now() + RELOAD_TIMEOUT_MS;
    while ((await loadTime()) === before) {
      if (Date.now() > deadline) throw new Error(`postgres did not reload its configuration within ${RELOAD_TIMEOUT_MS / 1000} s`);
      await sleep(20);
    }
  }

  /** Fast shutdown of the running postmaster, SIGKILL to its group if it is not gone within STOP_TIMEOUT_MS. */
  async function halt(): Promise<void> {
    const { child, exited } = server;
    if (child.pid !== undefined && isRunning(child)) {
      child.ref();
      process.kill(child.pid, 'SIGINT'); // fast shutdown: roll back open transactions, disconnect clients
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)));
      if (await Promise.race([exited.then(() => false), timedOut])) {
        killGroup(child);
        await exited;
      }
      clearTimeout(timer);
    }
    server.untrack();
  }

  async function restart(how: RestartKind): Promise<void> {
    if (stopping) throw new Error('cannot restart a stopped cluster');
    if (how === 'fast') {
      await halt();
    } else {
      if (how === 'kill-all') killWithBackends(server.child);
      else killGroup(server.child);
      await server.exited;
      server.untrack();
    }
    // Orphaned backends of a killed postmaster hold its shared memory until they have gone: the start is retried.
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    for (;;) {
      try {
        server = await launchServer(layout, port);
        return;
      } catch (err) {
        if (!/shared memory block .*still in use/.test((err as Error).message) || Date.now() > deadline) throw err;
        await sleep(100);
      }
    }
  }

  async function shutdown(): Promise<void> {
    await halt();
    await fs.promises.rm(baseDir, { recursive: true, force: true });
    await fs.promises.rm(socketDir, { recursive: true, force: true });
  }

  let stopping: Promise<void> | undefined;
  return {
    flavor,
    version: versionString(server.serverVersionNum),
    host: HOST,
    port,
    socketDir,
    dataDir,
    baseDir,
    logFile,
    query,
    writeHba,
    get postmasterPid() {
      return server.child.pid!;
    },
    restart,
    stop: () => (stopping ??= shutdown()),
  };
}

/** Creates, configures and starts a cluster; on failure nothing is left running or on disk. */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const user = postgresOsUser();
  const binaries = resolveBinaries(opts.flavor, user);
  let baseDir: string;
  if (opts.baseDir !== undefined) {
    baseDir = path.resolve(opts.baseDir);
    await fs.promises.mkdir(baseDir, { recursive: true, mode: 0o700 });
  } else {
    baseDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'gatehouse-pg-'));
  }
  // Unix socket paths are limited to 107 bytes: keep the directory short whatever os.tmpdir() is.
  const socketDir = await fs.promises.mkdtemp('/tmp/ghs-');
  const layout: ClusterLayout = {
    baseDir,
    dataDir: path.join(baseDir, 'data'),
    socketDir,
    logFile: path.join(baseDir, 'postgres.log'),
    user,
    binaries,
    env: childEnv(binaries, baseDir),
  };
  try {
    if (user && !canReach(user, baseDir)) {
      throw new Error(`the ${user.name} OS user that runs PostgreSQL cannot reach ${baseDir}; choose a baseDir under /tmp`);
    }
    await chownTo(user, baseDir, socketDir);
    await fs.promises.writeFile(layout.logFile, '');
    await runStep(layout, 'initdb', 'initdb', [
      '-D', layout.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions',
    ]);
    await configure(layout, opts);
    const statements = bootstrapStatements(opts.users ?? [], opts.databases ?? []);
    if (statements.length > 0) {
      const args = ['--single', '-D', layout.dataDir, '-c', 'exit_on_error=on', 'postgres'];
      await runStep(layout, 'creating users and databases (postgres --single)', 'postgres', args, `${statements.join('\n')}\n`);
    }
    const server = await launchServer(layout, opts.port);
    return makeCluster(layout, opts.flavor, server);
  } catch (err) {
    await fs.promises.rm(baseDir, { recursive: true, force: true });
    await fs.promises.rm(socketDir, { recursive: true, force: true });
    throw err;
  }
}
