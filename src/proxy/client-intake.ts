/**
 * The clients this process serves: each socket accepted here or handed over by the supervisor gets a ClientDriver,
 * wired to what logins ask (ClientLogins, one for all clients) and to its own id, logger and close. New clients are
 * matched against the pg_hba rules in force when they came.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientTransport, HbaVerdict } from '../../machines/client-session.js';
import { compileHba, type HbaFacts, type HbaRuleSet } from '../config/hba.js';
import type { Config } from '../config/types.js';
import { ClientDriver } from '../driver/client-driver.js';
import type { ClientInfo } from '../driver/session-port.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import type { ClientTlsProvider } from '../tls/client-tls.js';
import type { HandshakeLimiter } from '../tls/handshake-limiter.js';
import type { ClientLogins } from './client-logins.js';
import type { WorkerLink } from './cluster/worker-place.js';
import type { ConnectionIds } from './connection-ids.js';

export interface ClientIntakeDeps {
  /** The running configuration, read as each client comes (a reload changes it in place). */
  config: Config;
  logger: Logger;
  metrics: Metrics;
  journals: JournalBook;
  tls: ClientTlsProvider;
  limiter: HandshakeLimiter;
  ids: ConnectionIds;
  logins: ClientLogins;
  /** The Stately inspector's observer, if it runs, read as each client comes (it may start after the gateway). */
  inspect: () => unknown;
  /** One worker of several: the supervisor hears of each client that has gone; null for the instance. */
  link: WorkerLink | null;
}

export class ClientIntake {
  private readonly clients = new Map<Socket, ClientDriver>();
  /** The pg_hba matcher, built from general.pg_hba (or the legacy general.hba list) at start and on each SIGHUP. */
  private matchHba!: (facts: HbaFacts) => HbaVerdict;
  private hbaCertRules!: boolean;

  constructor(private readonly deps: ClientIntakeDeps) {
    this.useHba(deps.config.general.pg_hba);
  }

  get count(): number {
    return this.clients.size;
  }

  /** New connections are matched against `rules` (connections already past their startup keep their verdict). */
  useHba(rules: HbaRuleSet | null): void {
    this.deps.config.general.pg_hba = rules;
    this.matchHba = compileHba(rules);
    this.hbaCertRules = rules?.rules.some((rule) => rule.method === 'cert') ?? false;
  }

  /** A client socket to serve (`overCapacity`: past max_connections, it is refused with 53300 once it says what it wants). */
  adopt(socket: Socket, transport: ClientTransport, overCapacity: boolean): void {
    const { config, metrics } = this.deps;
    const id = this.deps.ids.next('c');
    const peer = transport === 'unix' ? '[local]' : `${socket.remoteAddress}:${socket.remotePort}`;
    const driver = new ClientDriver(socket, {
      ...this.deps.logins,
      id,
      logger: this.deps.logger.child({ conn: id, peer }),
      metrics,
      journals: this.deps.journals,
      tls: this.deps.tls,
      limiter: this.deps.limiter,
      loginTimeoutMs: config.general.client_login_timeout,
      overCapacity,
      inspect: this.deps.inspect(),
      certIdentity: config.general.tls_client_cert_identity,
      transport,
      hbaCertRules: this.hbaCertRules,
      matchHba: this.matchHba,
      onClosed: () => {
        this.clients.delete(socket);
        this.deps.metrics.clientsActive.set(this.clients.size);
        this.deps.link?.clientClosed();
      },
    });
    this.clients.set(socket, driver);
    metrics.clientsActive.set(this.clients.size);
  }

  /** What SHOW CLIENTS shows. */
  describe(): ClientInfo[] {
    return [...this.clients.values()].map((d) => d.describe());
  }

  /** KILL: the clients of `database` that can still be killed are; how many. */
  kill(database: string, by: string): number {
    let killed = 0;
    for (const driver of this.clients.values()) if (driver.describe().database === database && driver.kill(by)) killed++;
    return killed;
  }

  /** Shutdown's wait is over: the clients still here are cut off. */
  destroyAll(): void {
    for (const socket of this.clients.keys()) socket.destroy();
  }
}
