/**
 * The running proxy: listener, pools, TLS material, cancel routing and the web endpoint, built
 * from one validated Config. `gatehouse run` creates one; tests create as many as they like.
 */
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientTransport, HbaVerdict } from '../../machines/client-session.js';
import { compileHba, type HbaFacts, type HbaRuleSet } from '../config/hba.js';
import { hbaWarnings, reloadHba } from '../config/index.js';
import type { Config } from '../config/types.js';
import { unixSocketPath } from '../config/unix-socket.js';
import { ClientDriver } from '../driver/client-driver.js';
import { JournalBook } from '../journal/journal.js';
import { JsonlJournalSink } from '../journal/jsonl-sink.js';
import { Metrics } from '../observability/metrics.js';
import { registerPgDoormanSeries } from '../observability/pgdoorman-series.js';
import { packageVersion } from '../observability/process-series.js';
import type { InspectorBridge } from '../observability/inspector.js';
import { createViewer } from '../observability/viewer.js';
import { startWebServer, type WebServer } from '../observability/web.js';
import { packageRoot } from '../package-root.js';
import { ClientTlsProvider } from '../tls/client-tls.js';
import { HandshakeLimiter } from '../tls/handshake-limiter.js';
import { loadServerTls, type ServerTlsMaterial } from '../tls/server-tls.js';
import { CancelRegistry } from './cancel-registry.js';
import { PoolDirectory } from './pool-directory.js';
import { Session } from './session.js';

export class Gateway {
  readonly metrics = new Metrics();
  readonly journals: JournalBook;
  private readonly clientTls: ClientTlsProvider;
  private readonly serverTls = new Map<string, ServerTlsMaterial | null>();
  private readonly pools: PoolDirectory;
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
  /** The pg_hba matcher, built from general.pg_hba (or the legacy general.hba list) at start and on each SIGHUP. */
  private matchHba!: (facts: HbaFacts) => HbaVerdict;
  private hbaCertRules!: boolean;

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
    this.useHba(g.pg_hba);
    this.limiter = new HandshakeLimiter(g.tls_rate_limit_per_second);
    this.cancels = new CancelRegistry({ logger, journals: this.journals, metrics: this.metrics, inspect: () => this.inspector?.inspect });
    for (const pool of Object.values(config.pools)) {
      this.serverTls.set(pool.name, pool.server_tls.mode === 'disable' ? null : loadServerTls(pool.server_tls));
    }
    this.pools = new PoolDirectory(config, {
      logger,
      metrics: this.metrics,
      journals: this.journals,
      serverTls: (pool) => this.serverTls.get(pool) ?? null,
      nextServerId: () => `s${++this.nextId}`,
      inspect: () => this.inspector?.inspect,
    });
    this.listener = createServer({ noDelay: true }, (socket) => this.accept(socket, 'tcp'));
    this.metrics.beforeScrape(() => this.recordCertificateExpiry());
    registerPgDoormanSeries(this.metrics, { pools: () => this.pools.serverPools(), config, version: packageVersion(), logLevel: () => logger.level });
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
      userPassword: (database, user) => this.pools.userPassword(database, user),
      lookupUser: (database, user) => this.pools.lookupUser(database, user),
      passwordRejected: (database, user) => this.pools.passwordRejected(database, user),
      learnClientKey: (database, user, clientKey) => this.pools.learnClientKey(database, user, clientKey),
      forwardCancel: (processId, secretKey) => void this.cancels.forward(processId, secretKey),
      openSession: (login, report) => {
        const entry = this.pools.entryFor(login.database, login.user);
        return new Session(login, report, {
          pool: entry.pool,
          mode: entry.mode,
          transaction: entry.transaction,
          cancels: this.cancels,
          pinned: (delta) => this.metrics.pinnedClients.inc({ pool: login.database }, delta),
        });
      },
      onClosed: () => {
        this.clients.delete(socket);
        this.metrics.clientsActive.set(this.clients.size);
      },
    });
  }

  /** New connections are matched against `rules` (connections already past their startup keep their verdict). */
  private useHba(rules: HbaRuleSet | null): void {
    this.config.general.pg_hba = rules;
    this.matchHba = compileHba(rules);
    this.hbaCertRules = rules?.rules.some((rule) => rule.method === 'cert') ?? false;
  }

  /** SIGHUP: the TLS files of both sides and the pg_hba rules, read again. */
  reload(): { failures: string[] } {
    return { failures: [...this.reloadTls().failures, ...this.reloadHba().failures] };
  }

  /**
   * SIGHUP: read general.pg_hba (or general.hba) from the configuration file again, and its { path } file. New
   * connections are matched against the new rules; if anything is wrong with them, the previous rules stay.
   */
  reloadHba(): { failures: string[] } {
    const before = this.config.general.pg_hba;
    let rules: HbaRuleSet | null;
    try {
      rules = reloadHba(this.config);
    } catch (err) {
      this.metrics.hbaReloadFailures.inc();
      const problems = (err as Error).message;
      this.logger.error({ file: this.config.file, problems: problems.split('\n') }, `pg_hba reload failed; keeping the previous rules: ${problems}`);
      return { failures: [problems] };
    }
    if (rules === null && before === null) return { failures: [] };
    this.useHba(rules);
    if (rules === null) {
      this.logger.warn({ file: this.config.file }, 'pg_hba reloaded: the configuration sets no rules any more; every client may try its password');
    } else {
      this.logger.info({ source: rules.source, rules: rules.rules.length }, 'pg_hba reloaded');
      for (const warning of hbaWarnings(this.config, rules)) this.logger.warn({ file: this.config.file }, warning);
    }
    return { failures: [] };
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
      for (const pool of this.pools.serverPools()) pool.reap();
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
    for (const pool of this.pools.serverPools()) pool.close();
    const deadline = Date.now() + this.config.general.shutdown_timeout;
    while (this.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const socket of this.clients) socket.destroy();
    for (const pool of this.pools.serverPools()) pool.closeAll();
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
