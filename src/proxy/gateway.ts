/**
 * The running proxy: listener, pools, TLS material, cancel routing and the web endpoint, built
 * from one validated Config. `gatehouse run` creates one; tests create as many as they like.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientTransport } from '../../machines/client-session.js';
import { ConfigError, configWarnings, parseConfig } from '../config/index.js';
import { generalInForce, restartChanges } from '../config/reload-scope.js';
import type { Config, LogLevel } from '../config/types.js';
import { JournalBook } from '../journal/journal.js';
import { JsonlJournalSink } from '../journal/jsonl-sink.js';
import { EventLoopWatch } from '../observability/event-loop.js';
import { Metrics } from '../observability/metrics.js';
import { registerPgDoormanSeries } from '../observability/pgdoorman-series.js';
import { packageVersion } from '../observability/process-series.js';
import type { InspectorBridge } from '../observability/inspector.js';
import { registerPoolLimitMetrics } from '../observability/pool-limit-metrics.js';
import { createViewer, journalSource } from '../observability/viewer.js';
import { startWebServer, type WebServer } from '../observability/web.js';
import { packageRoot } from '../package-root.js';
import { HandshakeLimiter } from '../tls/handshake-limiter.js';
import { AdminConsole } from './admin/console.js';
import type { ConsoleHost, ReloadOutcome } from './admin/console-data.js';
import type { CancelRegistry } from './cancel-registry.js';
import { routeCancels } from './cancel-routing.js';
import { ClientIntake } from './client-intake.js';
import { clientLogins } from './client-logins.js';
import { ConnectionIds } from './connection-ids.js';
import { listenClients, type ClientListeners } from './listeners.js';
import { serverFd, type ListeningFds } from './handover.js';
import { shareOf, type WorkerPlace } from './cluster/worker-place.js';
import type { WorkerOutcome } from './cluster/admin-merge.js';
import { AdminError, type AdminCommand } from './admin/admin-commands.js';
import { PoolDirectory } from './pool-directory.js';
import { clientTlsChanged, TlsMaterial } from './tls-material.js';

/**
 * Emits 'shutdown' when the admin console asks for one (SHUTDOWN; with no listener the gateway just closes) and
 * 'upgrade' for an online restart (UPGRADE); `gatehouse run` acts on both.
 */
export class Gateway extends EventEmitter {
  readonly metrics = new Metrics();
  readonly journals: JournalBook;
  private readonly tls: TlsMaterial;
  private readonly pools: PoolDirectory;
  private readonly cancels: CancelRegistry;
  private readonly clients: ClientIntake;
  /** Runs admin commands on this process's clients and pools. */
  private readonly console: AdminConsole;
  /** The client listeners, once listen() ran (a worker has none: the supervisor listens). */
  private clientListeners: ClientListeners | null = null;
  private web: WebServer | null = null;
  private journalSink: JsonlJournalSink | null = null;
  private inspector: InspectorBridge | null = null;
  private reaper: NodeJS.Timeout | null = null;
  private readonly loop: EventLoopWatch;
  /** gatehouse's version, read once (SHOW VERSION, the console's server_version, build_info). */
  private readonly version = packageVersion();

  /**
   * `place`: this gateway is worker `place.index` of `place.count` under a supervisor (src/proxy/cluster), which
   * listens, hands it client sockets (adopt) and keeps instance-wide counts; without it, the gateway is the instance.
   */
  constructor(
    readonly config: Config,
    private readonly logger: Logger,
    place: WorkerPlace | null = null,
  ) {
    super();
    // Ids of connections, servers and cancels, unique across the instance's workers.
    const ids = new ConnectionIds(place);
    const g = config.general;
    this.journals = new JournalBook(g.journal_size);
    if (g.journal_file) {
      this.journalSink = new JsonlJournalSink(this.journals, g.journal_file, this.metrics.journalDropped, (err) =>
        logger.error({ file: g.journal_file, err: err.message }, 'journal_file is not writable; journal lines are dropped'),
      );
    }
    this.tls = new TlsMaterial(config, this.metrics, logger);
    // With workers, each takes its share of the instance's rate (at least one handshake a second).
    const rate = g.tls_rate_limit_per_second;
    const limiter = new HandshakeLimiter(place && rate > 0 ? Math.max(1, shareOf(rate, place.index, place.count)) : rate);
    this.cancels = routeCancels(config, place, ids, { logger, journals: this.journals, metrics: this.metrics, inspect: () => this.inspector?.inspect });
    this.pools = new PoolDirectory(config, {
      logger,
      metrics: this.metrics,
      journals: this.journals,
      serverTls: (pool) => this.tls.serverFor(pool),
      nextServerId: () => ids.next('s'),
      inspect: () => this.inspector?.inspect,
      instance: place ? { slots: place.slots, minShare: (n) => shareOf(n, place.index, place.count) } : undefined,
    });
    this.console = new AdminConsole(this.consoleHost(), logger.child({ admin: true }));
    // What admin sessions use: this console, or with workers the instance's.
    const sessionConsole = place ? place.console(this.consoleHost()) : this.console;
    this.clients = new ClientIntake({
      config,
      logger,
      metrics: this.metrics,
      journals: this.journals,
      tls: this.tls.client,
      limiter,
      ids,
      logins: clientLogins({ config, pools: this.pools, cancels: this.cancels, metrics: this.metrics, commands: sessionConsole, version: this.version }),
      inspect: () => this.inspector?.inspect,
      link: place?.link ?? null,
    });
    this.loop = new EventLoopWatch(this.metrics.registry, logger);
    registerPoolLimitMetrics(this.metrics.registry, () => this.pools.databaseLimits());
    this.metrics.beforeScrape(() => this.tls.recordExpiry());
    registerPgDoormanSeries(this.metrics, { pools: () => this.pools.currentPools(), config, version: this.version, logLevel: () => logger.level });
  }

  private accept(socket: Socket, transport: ClientTransport): void {
    this.adopt(socket, transport, this.clients.count >= this.config.general.max_connections);
  }

  /**
   * A client socket to serve: accepted here, or by the supervisor, which counted it against max_connections for the
   * whole instance (`overCapacity`: it is refused with 53300 once it says what it wants).
   */
  adopt(socket: Socket, transport: ClientTransport, overCapacity: boolean): void {
    this.clients.adopt(socket, transport, overCapacity);
  }

  /** A cancel the supervisor routed here: this worker owns its key. */
  cancel(processId: number, secretKey: Buffer): Promise<void> {
    return this.cancels.forward(processId, secretKey);
  }

  /** One admin command on this worker's share of the instance, as it crosses to the worker that merges. */
  async runLocally(command: AdminCommand, by: string): Promise<WorkerOutcome> {
    try {
      const { after: _after, ...outcome } = await this.console.run(command, by);
      return { ok: outcome };
    } catch (err) {
      if (err instanceof AdminError) return { error: { sqlstate: err.sqlstate, message: err.message } };
      throw err;
    }
  }

  /** The pools serving (pool, user) `key` now (instance slot requests name them so). */
  poolsFor(name: string, user: string) {
    return [...this.pools.serverPools()].filter((p) => p.opts.name === name && p.opts.user === user);
  }

  /** What the admin console reads and does. */
  private consoleHost(): ConsoleHost {
    const gateway = this;
    return {
      get config() {
        return gateway.config;
      },
      version: this.version,
      journals: this.journals,
      metrics: this.metrics,
      clients: () => this.clients.describe(),
      pools: () => this.pools.entries(),
      kill: (database, by) => this.clients.kill(database, by),
      reload: () => this.reload(),
      shutdown: () => {
        if (this.listenerCount('shutdown') > 0) this.emit('shutdown');
        else void this.close();
      },
      upgrade: () => this.listenerCount('upgrade') > 0 && this.emit('upgrade'),
      setLogLevel: (level: LogLevel) => {
        this.logger.level = level;
        this.config.general.log_level = level;
      },
    };
  }

  /**
   * SIGHUP and the admin console's RELOAD: the whole configuration file, read again and applied. An invalid file
   * changes nothing (its problems are logged with key and file, and counted). A valid one is in force at once for new
   * connections: pools added, removed, resized or rebuilt (PoolDirectory.reconcile), users and passwords, pg_hba,
   * the TLS settings and files of both sides, log level and the rest of general; what needs a restart (the
   * listeners, the journal, the web listener) is reported and keeps its running value. Open sessions keep working.
   */
  async reload(): Promise<ReloadOutcome> {
    const running = this.config;
    let next: Config;
    try {
      // TLS files are loaded below, side by side, so that one broken file keeps only its own side's old material.
      next = parseConfig(readFileSync(running.file, 'utf8'), running.file, { baseDir: running.baseDir, checkFiles: false });
    } catch (err) {
      return this.reloadRefused(err);
    }
    const needRestart = restartChanges(running, next);
    const general = generalInForce(running, next);
    const clientSettingsChanged = clientTlsChanged(running.general, general);
    running.general = general;
    running.pools = next.pools;
    running.peers = next.peers;
    running.ignoredKeys = next.ignoredKeys;
    this.logger.level = general.log_level;
    this.clients.useHba(general.pg_hba);
    const pools = this.pools.reconcile();
    const { failures } = this.reloadTls(clientSettingsChanged);
    for (const change of needRestart) this.logger.warn({ file: running.file, change }, `reload: ${change} needs a restart to take effect`);
    for (const warning of configWarnings(running)) this.logger.warn({ file: running.file }, warning);
    this.metrics.configReloads.inc({ result: failures.length > 0 ? 'partial' : 'ok' });
    this.logger.info({ file: running.file, ...pools, needRestart, failures }, 'configuration reloaded');
    return { applied: true, failures, needRestart };
  }

  /** An invalid file on reload: nothing changes; pg_hba problems are also counted as such. */
  private reloadRefused(err: unknown): ReloadOutcome {
    if (!(err instanceof ConfigError)) throw err;
    this.metrics.configReloads.inc({ result: 'failed' });
    const problems = err.message.split('\n');
    this.logger.error({ file: err.file, problems }, `configuration reload failed; keeping the running configuration: ${err.message}`);
    if (err.problems.some((p) => /^general\.(pg_hba|hba)\b/.test(p.keyPath))) {
      this.metrics.hbaReloadFailures.inc();
      this.logger.error({ file: err.file, problems }, `pg_hba reload failed; keeping the previous rules: ${err.message}`);
    }
    return { applied: false, failures: problems, needRestart: [] };
  }

  /**
   * SIGHUP: re-read the TLS files of both sides. New handshakes use the new material; established
   * connections keep theirs. A side whose files fail to load keeps its previous material.
   */
  reloadTls(clientSettingsChanged = false): { failures: string[] } {
    return this.tls.reload(clientSettingsChanged);
  }

  /**
   * Start listening (port 0 picks a free port); returns the bound address. `inherited`: an online restart's
   * successor listens on the sockets its predecessor handed over instead (src/proxy/handover.ts).
   */
  async listen(inherited: ListeningFds | null = null): Promise<AddressInfo> {
    this.clientListeners = await listenClients(this.config.general, (socket, transport) => this.accept(socket, transport), inherited);
    const { address, unixPath } = this.clientListeners;
    // The relay listens next to the web listener, on 127.0.0.1 only.
    // Loaded only when asked for: the inspector client is the heaviest import gatehouse has.
    if (this.config.web.inspect) {
      const { startInspectorBridge } = await import('../observability/inspector.js');
      this.inspector = await startInspectorBridge(this.config.web.port + 1, this.logger);
    }
    if (this.config.web.enabled) {
      const routes = this.config.web.viewer ? [createViewer(journalSource(this.journals), new URL('diagrams/', packageRoot()))] : [];
      this.web = await startWebServer(this.config.web, () => this.metrics.scrape(), this.logger, routes, inherited?.web ?? null);
    }
    this.start();
    this.logger.info(
      { host: address.address, port: address.port, unix_socket: unixPath, tls_mode: this.config.general.tls_mode, pid: process.pid, inherited: inherited !== null },
      'gatehouse listening',
    );
    return address;
  }

  /** The timers a serving gateway runs: the pools' reaper (idle, lifetime, min_pool_size) and the event-loop watch. */
  start(): void {
    this.reaper = setInterval(() => {
      for (const pool of this.pools.serverPools()) pool.reap();
    }, 1000);
    this.reaper.unref();
    this.loop.start();
  }

  get webAddress(): AddressInfo | null {
    return this.web?.address ?? null;
  }

  get clientCount(): number {
    return this.clients.count;
  }

  /** The listening sockets, for an online restart's successor. */
  listeningFds(): ListeningFds {
    const listeners = this.clientListeners!;
    return { tcp: serverFd(listeners.tcp), unix: listeners.unix ? serverFd(listeners.unix) : null, web: this.web ? serverFd(this.web.server) : null };
  }

  /**
   * Stop accepting, let clients finish for up to shutdown_timeout, then close everything. `handedOver`: a successor
   * listens on the same sockets now: clients here keep being served (transaction pooling included) until they leave
   * or shutdown_timeout passes, and the Unix socket file is the successor's, not removed. Otherwise (SIGTERM) the
   * pools stop handing out servers at once.
   */
  async close(opts: { handedOver?: boolean } = {}): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.loop.stop();
    const stopped = this.clientListeners?.close({ keepSocketFile: opts.handedOver === true });
    if (!opts.handedOver) for (const pool of this.pools.serverPools()) pool.close();
    const deadline = Date.now() + this.config.general.shutdown_timeout;
    while (this.clients.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.clients.destroyAll();
    for (const pool of this.pools.serverPools()) pool.closeAll();
    await stopped;
    await this.web?.close();
    await this.journalSink?.close();
    await this.inspector?.close();
  }
}
