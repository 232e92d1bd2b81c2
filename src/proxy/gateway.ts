/**
 * The running proxy: listener, pools, TLS material, cancel routing and the web endpoint, built
 * from one validated Config. `gatehouse run` creates one; tests create as many as they like.
 */
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { PassthroughKeys, parseStoredPassword, type ServerCredential, type StoredPassword } from '../auth/index.js';
import type { ClientTransport, HbaVerdict } from '../../machines/client-session.js';
import { compileHba, type HbaFacts } from '../config/hba.js';
import type { Config, PoolConfig, PoolMode, UserConfig } from '../config/types.js';
import { unixSocketPath } from '../config/unix-socket.js';
import { ClientDriver } from '../driver/client-driver.js';
import { connectServer } from '../driver/server-driver.js';
import { JournalBook } from '../journal/journal.js';
import { JsonlJournalSink } from '../journal/jsonl-sink.js';
import { Metrics } from '../observability/metrics.js';
import type { InspectorBridge } from '../observability/inspector.js';
import { createViewer } from '../observability/viewer.js';
import { startWebServer, type WebServer } from '../observability/web.js';
import { packageRoot } from '../package-root.js';
import { ServerPool } from '../pool/pool.js';
import type { ServerConnection } from '../pool/server-connection.js';
import { ClientTlsProvider } from '../tls/client-tls.js';
import { HandshakeLimiter } from '../tls/handshake-limiter.js';
import { loadServerTls, type ServerTlsMaterial } from '../tls/server-tls.js';
import { CancelRegistry } from './cancel-registry.js';
import { Session } from './session.js';

interface PoolEntry {
  pool: ServerPool;
  mode: PoolMode;
  stored: StoredPassword;
  /** How this pool's backends log in; passthrough keys live here, in memory, for this (pool, user) only. */
  credential: ServerCredential;
}

/** The server credential a user's settings call for (see UserConfig.server_auth). */
function serverCredential(user: UserConfig, stored: StoredPassword): ServerCredential {
  switch (user.server_auth) {
    case 'password':
      return { kind: 'password', password: user.server_password ?? '' };
    case 'md5-passthrough':
      if (stored.kind !== 'md5') throw new Error(`user ${user.username}: md5 passthrough needs an md5 hash`);
      return { kind: 'md5-passthrough', hash: stored.hash };
    case 'scram-passthrough':
      if (stored.kind !== 'scram') throw new Error(`user ${user.username}: SCRAM passthrough needs a SCRAM secret`);
      return { kind: 'scram-passthrough', keys: new PassthroughKeys(stored) };
    case 'none':
      return { kind: 'none' };
  }
}

export class Gateway {
  readonly metrics = new Metrics();
  readonly journals: JournalBook;
  private readonly clientTls: ClientTlsProvider;
  private readonly serverTls = new Map<string, ServerTlsMaterial | null>();
  private readonly pools = new Map<string, PoolEntry>();
  private readonly limiter: HandshakeLimiter;
  private readonly cancels: CancelRegistry;
  private readonly clients = new Set<Socket>();
  private readonly listener: Server;
  /** The Unix-domain socket listener (general.unix_socket_dir), and the socket file it made. */
  private unixListener: Server | null = null;
  private unixPath: string | null = null;
  private web: WebServer | null = null;
  private journalSink: JsonlJournalSink | null = null;
  private inspector: InspectorBridge | null = null;
  private reaper: NodeJS.Timeout | null = null;
  private nextId = 0;
  /** The pg_hba matcher, built once from general.pg_hba (or the legacy general.hba list). */
  private readonly matchHba: (facts: HbaFacts) => HbaVerdict;
  private readonly hbaCertRules: boolean;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
  ) {
    const g = config.general;
    this.journals = new JournalBook(g.journal_size);
    if (g.journal_file) {
      this.journalSink = new JsonlJournalSink(this.journals, g.journal_file, this.metrics.journalDropped, (err) =>
        logger.error({ file: g.journal_file, err: err.message }, 'journal_file is not writable; journal lines are dropped'),
      );
    }
    this.clientTls = new ClientTlsProvider(g.tls_mode, g);
    this.matchHba = compileHba(g.pg_hba);
    this.hbaCertRules = g.pg_hba?.rules.some((rule) => rule.method === 'cert') ?? false;
    this.limiter = new HandshakeLimiter(g.tls_rate_limit_per_second);
    this.cancels = new CancelRegistry({ logger, journals: this.journals, metrics: this.metrics, inspect: () => this.inspector?.inspect });
    for (const pool of Object.values(config.pools)) {
      this.serverTls.set(pool.name, pool.server_tls.mode === 'disable' ? null : loadServerTls(pool.server_tls));
      for (const user of pool.users) this.pools.set(poolKey(pool.name, user.username), this.createPool(pool, user));
    }
    this.listener = createServer({ noDelay: true }, (socket) => this.accept(socket, 'tcp'));
    this.metrics.beforeScrape(() => this.recordCertificateExpiry());
  }

  private recordCertificateExpiry(): void {
    const now = Date.now();
    const expiry = this.metrics.certificateExpiry;
    expiry.reset();
    const client = this.clientTls.current;
    if (client) expiry.set({ side: 'client', pool: '' }, (client.notAfter.getTime() - now) / 1000);
    for (const [pool, material] of this.serverTls) {
      if (material?.clientCertificateNotAfter) expiry.set({ side: 'server', pool }, (material.clientCertificateNotAfter.getTime() - now) / 1000);
    }
  }

  private createPool(pool: PoolConfig, user: UserConfig): PoolEntry {
    const g = this.config.general;
    const stored = parseStoredPassword(user.password);
    const credential = serverCredential(user, stored);
    const tlsGauge = this.metrics.serverTlsConnections;
    const serverPool: ServerPool = new ServerPool({
      name: pool.name,
      user: user.username,
      size: user.pool_size,
      queryWaitTimeoutMs: g.query_wait_timeout,
      idleTimeoutMs: g.idle_timeout,
      serverLifetimeMs: g.server_lifetime,
      logger: this.logger,
      connect: async () => {
        const conn = await connectServer({
          id: `s${++this.nextId}`,
          pool: pool.name,
          host: pool.server_host,
          port: pool.server_port,
          mode: pool.server_tls.mode,
          negotiation: pool.server_tls.negotiation,
          tls: this.serverTls.get(pool.name) ?? null,
          user: user.server_username,
          credential,
          startupParameters: { user: user.server_username, database: pool.server_database },
          connectTimeoutMs: g.connect_timeout,
          logger: this.logger.child({ pool: pool.name }),
          metrics: this.metrics,
          journals: this.journals,
          inspect: this.inspector?.inspect,
          onClosed: (c: ServerConnection) => {
            if (c.tls) {
              tlsGauge.dec({ pool: pool.name });
              this.metrics.serverTlsProtocols.dec({ pool: pool.name, ...c.tls });
            }
            serverPool.forget(c);
          },
        });
        if (conn.tls) {
          tlsGauge.inc({ pool: pool.name });
          this.metrics.serverTlsProtocols.inc({ pool: pool.name, ...conn.tls });
        }
        return conn;
      },
    });
    return { pool: serverPool, mode: pool.pool_mode, stored, credential };
  }

  private accept(socket: Socket, transport: ClientTransport): void {
    const id = `c${++this.nextId}`;
    const peer = transport === 'unix' ? '[local]' : `${socket.remoteAddress}:${socket.remotePort}`;
    const overCapacity = this.clients.size >= this.config.general.max_connections;
    this.clients.add(socket);
    this.metrics.clientsActive.set(this.clients.size);
    new ClientDriver(socket, {
      id,
      logger: this.logger.child({ conn: id, peer }),
      metrics: this.metrics,
      journals: this.journals,
      tls: this.clientTls,
      limiter: this.limiter,
      loginTimeoutMs: this.config.general.client_login_timeout,
      overCapacity,
      inspect: this.inspector?.inspect,
      certIdentity: this.config.general.tls_client_cert_identity,
      transport,
      hbaCertRules: this.hbaCertRules,
      matchHba: this.matchHba,
      databaseExists: (database) => database in this.config.pools,
      userPassword: (database, user) => this.pools.get(poolKey(database, user))?.stored ?? null,
      learnClientKey: (database, user, clientKey) => {
        const credential = this.pools.get(poolKey(database, user))?.credential;
        if (credential?.kind === 'scram-passthrough') credential.keys.learn(clientKey);
      },
      forwardCancel: (processId, secretKey) => void this.cancels.forward(processId, secretKey),
      openSession: (login, report) => {
        const entry = this.pools.get(poolKey(login.database, login.user))!;
        return new Session(login, report, { pool: entry.pool, mode: entry.mode, cancels: this.cancels });
      },
      onClosed: () => {
        this.clients.delete(socket);
        this.metrics.clientsActive.set(this.clients.size);
      },
    });
  }

  /**
   * SIGHUP: re-read the TLS files of both sides. New handshakes use the new material; established
   * connections keep theirs. A side whose files fail to load keeps its previous material.
   */
  reloadTls(): { failures: string[] } {
    const failures: string[] = [];
    const attempt = (side: 'client' | 'server', what: string, load: () => void) => {
      try {
        load();
        this.logger.info({ side, what }, 'TLS material reloaded');
      } catch (err) {
        failures.push(`${what}: ${(err as Error).message}`);
        this.metrics.tlsReloadFailures.inc({ side });
        this.logger.error({ side, what, err: (err as Error).message }, 'TLS reload failed; keeping the previous material');
      }
    };
    if (this.clientTls.available) attempt('client', 'general.tls_*', () => this.clientTls.reload());
    for (const pool of Object.values(this.config.pools)) {
      if (pool.server_tls.mode === 'disable') continue;
      attempt('server', `pools.${pool.name}.server_tls_*`, () => this.serverTls.set(pool.name, loadServerTls(pool.server_tls)));
    }
    return { failures };
  }

  /** Start listening (port 0 picks a free port); returns the bound address. */
  async listen(): Promise<AddressInfo> {
    const { host, port } = this.config.general;
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve();
      });
    });
    const address = this.listener.address() as AddressInfo;
    if (this.config.general.unix_socket_dir !== null) {
      // Named after the port clients use, as PostgreSQL names its own: psql -h <dir> -p <port>.
      const path = unixSocketPath(this.config.general.unix_socket_dir, address.port);
      this.unixListener = createServer((socket) => this.accept(socket, 'unix'));
      try {
        this.unixPath = await listenUnix(this.unixListener, path, this.config.general.unix_socket_mode);
      } catch (err) {
        this.unixListener = null;
        this.listener.close();
        throw new ListenError('general.unix_socket_dir', (err as Error).message);
      }
    }
    // The relay listens next to the web listener, on 127.0.0.1 only.
    // Loaded only when asked for: the inspector client is the heaviest import gatehouse has.
    if (this.config.web.inspect) {
      const { startInspectorBridge } = await import('../observability/inspector.js');
      this.inspector = await startInspectorBridge(this.config.web.port + 1, this.logger);
    }
    if (this.config.web.enabled) {
      const routes = this.config.web.viewer ? [createViewer(this.journals, new URL('diagrams/', packageRoot()))] : [];
      this.web = await startWebServer(this.config.web, this.metrics, this.logger, routes);
    }
    this.reaper = setInterval(() => {
      for (const entry of this.pools.values()) entry.pool.reap();
    }, 1000);
    this.reaper.unref();
    this.logger.info(
      { host: address.address, port: address.port, unix_socket: this.unixPath, tls_mode: this.config.general.tls_mode },
      'gatehouse listening',
    );
    return address;
  }

  get webAddress(): AddressInfo | null {
    return this.web?.address ?? null;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Stop accepting, let clients finish for up to shutdown_timeout, then close everything. */
  async close(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    const stopped = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const unixStopped = new Promise<void>((resolve) => (this.unixListener ? this.unixListener.close(() => resolve()) : resolve()));
    for (const entry of this.pools.values()) entry.pool.close();
    const deadline = Date.now() + this.config.general.shutdown_timeout;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const socket of this.clients) socket.destroy();
    for (const entry of this.pools.values()) entry.pool.closeAll();
    await stopped;
    await unixStopped;
    if (this.unixPath) removeSocketFile(this.unixPath);
    await this.web?.close();
    await this.journalSink?.close();
    await this.inspector?.close();
  }
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

function poolKey(database: string, user: string): string {
  return `${database}\u0000${user}`;
}
