/**
 * One pool per (pool name, user): at most pool_size server connections, handed out to sessions,
 * reset and reused. Sessions beyond the size wait up to query_wait_timeout.
 *
 * Each ServerConnection carries its own state (idle, active, resetting, closing); the pool keeps
 * the idle ones in a stack, every live one in `servers`, and counts handshakes in progress.
 */
import type { Logger } from 'pino';
import { PoolTraffic } from '../observability/traffic.js';
import { ProxyError, reportedSqlState, SqlState } from '../protocol/index.js';
import { StatementCache } from './prepared-statements.js';
import type { ServerConnection } from './server-connection.js';
import { settingsDiff, settingsMatch } from './startup-parameters.js';

export interface PoolOptions {
  name: string;
  user: string;
  size: number;
  queryWaitTimeoutMs: number;
  idleTimeoutMs: number;
  serverLifetimeMs: number;
  /**
   * Runs the server-handshake machine (user and database only: client settings are applied with
   * SET). The connection must call `pool.forget(conn)` when it closes.
   */
  connect: () => Promise<ServerConnection>;
  logger: Logger;
  /** Shared prepared statements the pool remembers (transaction pooling); default 8192. */
  statementCacheSize?: number;
}

/**
 * What a session hands back:
 * - `reuse`: idle at a message boundary, nothing outstanding: park it as it is;
 * - `reset`: usable, but the next client must not see this one's session (DISCARD ALL first);
 * - `close`: it cannot be trusted (mid-message, in a transaction, broken): close it.
 */
export type ReleaseAction = 'reuse' | 'reset' | 'close';

interface Waiter {
  settings: Map<string, string>;
  holder: string | null;
  resolve: (conn: ServerConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface PoolStats {
  idle: number;
  active: number;
  resetting: number;
  connecting: number;
  waiting: number;
}

export class ServerPool {
  /** Idle connections, most recently used last. */
  private readonly idle: ServerConnection[] = [];
  /** Every connection that is not closing, whatever its state. */
  private readonly servers = new Set<ServerConnection>();
  private connecting = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  /** Clients' named statements, shared by query (transaction pooling). */
  readonly statements: StatementCache;
  /** What the relay counts for this (pool, user): metrics and SHOW STATS read it. */
  readonly traffic = new PoolTraffic();
  /** PAUSE: pg_doorman_pools_paused and SHOW POOLS read it. */
  paused = false;

  constructor(readonly opts: PoolOptions) {
    this.statements = new StatementCache(opts.statementCacheSize ?? 8192);
  }

  /** Every connection that is not closing (SHOW SERVERS, oldest active age). */
  get connections(): ReadonlySet<ServerConnection> {
    return this.servers;
  }

  get stats(): PoolStats {
    let active = 0;
    let resetting = 0;
    for (const s of this.servers) {
      if (s.state === 'active') active++;
      else if (s.state === 'resetting') resetting++;
    }
    return { idle: this.idle.length, active, resetting, connecting: this.connecting, waiting: this.waiters.length };
  }

  /**
   * The synchronous fast path: an idle connection whose settings already match, or null. Costs
   * no promise and no round trip, which is what a transaction-pooled client pays per transaction.
   */
  acquireIdleMatching(settings: Map<string, string>, holder: string | null): ServerConnection | null {
    // No check for waiters or shutdown is needed: a server goes idle only when nobody waits (park()
    // serves waiters first), and close() closes every idle one.
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i];
      if (!this.usable(conn)) continue;
      if (!settingsMatch(conn.settings, settings, conn.parameters)) continue;
      this.idle.splice(i, 1);
      conn.toActive(holder);
      return conn;
    }
    return null;
  }

  /** A server connection whose settings match the client's. */
  async acquire(settings: Map<string, string>, holder: string | null = null): Promise<ServerConnection> {
    const fast = this.acquireIdleMatching(settings, holder);
    if (fast) return fast;
    const conn = await this.checkout(settings, holder);
    try {
      await this.applySettings(conn, settings);
      return conn;
    } catch (err) {
      this.release(conn, 'close');
      throw err;
    }
  }

  private checkout(settings: Map<string, string>, holder: string | null): Promise<ServerConnection> {
    if (this.closed) return Promise.reject(shuttingDown());
    const reusable = this.takeIdle(holder);
    if (reusable) return Promise.resolve(reusable);
    if (this.servers.size + this.connecting < this.opts.size) return this.create(holder);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        settings,
        holder,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(
            new ProxyError(
              'pool.wait_timeout',
              SqlState.TOO_MANY_CONNECTIONS,
              `no server connection available within query_wait_timeout (${this.opts.queryWaitTimeoutMs} ms): pool_size ${this.opts.size} is in use`,
            ),
          );
        }, this.opts.queryWaitTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private usable(conn: ServerConnection): boolean {
    if (conn.alive && !this.expired(conn)) return true;
    conn.close();
    return false;
  }

  private takeIdle(holder: string | null): ServerConnection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!this.usable(conn)) continue;
      conn.toActive(holder);
      return conn;
    }
    return null;
  }

  private async create(holder: string | null): Promise<ServerConnection> {
    this.connecting++;
    try {
      const conn = await this.opts.connect();
      this.servers.add(conn);
      conn.toActive(holder);
      return conn;
    } finally {
      this.connecting--;
    }
  }

  private async applySettings(conn: ServerConnection, wanted: Map<string, string>): Promise<void> {
    const { sql, changed, reset } = settingsDiff(conn.settings, wanted, conn.parameters);
    if (!sql) return;
    const result = await conn.runSimpleQuery(sql, this.opts.queryWaitTimeoutMs);
    if (result.error) {
      throw new ProxyError('pool.settings_rejected', reportedSqlState(result.error.code), `server rejected a startup parameter: ${result.error.message}`);
    }
    for (const [k, v] of changed) conn.settings.set(k, v);
    for (const k of reset) conn.settings.delete(k);
  }

  /** Give a connection back; see ReleaseAction. */
  release(conn: ServerConnection, action: ReleaseAction): void {
    if (action === 'close' || !conn.alive || this.closed || this.expired(conn)) {
      conn.close();
      return;
    }
    if (action === 'reuse') return this.park(conn);
    conn.toResetting();
    conn.runSimpleQuery('DISCARD ALL', this.opts.queryWaitTimeoutMs).then(
      (r) => {
        if (r.error || r.status !== 'I') return conn.close();
        // DISCARD ALL undoes every SET and deallocates every statement, gatehouse's own too.
        conn.settings.clear();
        conn.statements.clear();
        this.park(conn);
      },
      // A reset that timed out or lost its socket has closed the connection already.
      () => undefined,
    );
  }

  private park(conn: ServerConnection): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      conn.toActive(waiter.holder);
      waiter.resolve(conn); // acquire() applies the waiter's settings
      return;
    }
    conn.toIdle();
    this.idle.push(conn);
  }

  /** Called when a connection closes, whatever its state: forget it and give its slot to a waiter. */
  forget(conn: ServerConnection): void {
    if (!this.servers.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.serveWaiter();
  }

  /** A slot freed up: the first waiter gets a new connection. */
  private serveWaiter(): void {
    // forget() just freed a slot; after close() nobody waits.
    const waiter = this.waiters.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.create(waiter.holder).then(waiter.resolve, waiter.reject);
  }

  private expired(conn: ServerConnection): boolean {
    return Date.now() - conn.createdAt > this.opts.serverLifetimeMs;
  }

  /** Close idle connections past idle_timeout or server_lifetime. */
  reap(now = Date.now()): void {
    for (const conn of [...this.idle]) {
      if (now - conn.lastUsedAt > this.opts.idleTimeoutMs || this.expired(conn)) conn.close();
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(shuttingDown());
    }
    for (const conn of [...this.idle]) conn.close();
  }

  closeAll(): void {
    this.close();
    for (const conn of [...this.servers]) conn.close();
  }
}

function shuttingDown(): ProxyError {
  return new ProxyError('pool.closed', SqlState.ADMIN_SHUTDOWN, 'gatehouse is shutting down');
}
