/**
 * One pool per (pool name, user): at most pool_size server connections, handed out to clients,
 * reset and reused. Clients beyond the size wait up to query_wait_timeout.
 */
import type { Logger } from 'pino';
import { ProxyError, SqlState } from '../protocol/index.js';
import type { ServerConnection } from './server-connection.js';
import { settingsDiff } from './startup-parameters.js';

export interface PoolOptions {
  name: string;
  user: string;
  size: number;
  queryWaitTimeoutMs: number;
  idleTimeoutMs: number;
  serverLifetimeMs: number;
  /** Runs the server-handshake machine (user and database only: client settings are applied with SET). */
  connect: () => Promise<ServerConnection>;
  logger: Logger;
}

interface Waiter {
  resolve: (conn: ServerConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * What clients have SET on each server connection. Server connections are opened with no client
 * settings at all, so DISCARD ALL returns them to the server's defaults, never to a former client's.
 */
const appliedSettings = new WeakMap<ServerConnection, Map<string, string>>();

export class ServerPool {
  private readonly idle: ServerConnection[] = [];
  private readonly active = new Set<ServerConnection>();
  private creating = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;

  constructor(readonly opts: PoolOptions) {}

  get stats(): { idle: number; active: number; creating: number; waiting: number } {
    return { idle: this.idle.length, active: this.active.size, creating: this.creating, waiting: this.waiters.length };
  }

  /** A server connection whose settings match the client's. */
  async acquire(settings: Map<string, string>): Promise<ServerConnection> {
    const conn = await this.checkout();
    try {
      await this.applySettings(conn, settings);
      return conn;
    } catch (err) {
      this.release(conn, false);
      throw err;
    }
  }

  private checkout(): Promise<ServerConnection> {
    if (this.closed) return Promise.reject(new ProxyError('pool.closed', SqlState.ADMIN_SHUTDOWN, 'gatehouse is shutting down'));
    const reusable = this.takeIdle();
    if (reusable) return Promise.resolve(reusable);
    if (this.idle.length + this.active.size + this.creating < this.opts.size) return this.create();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
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

  private takeIdle(): ServerConnection | null {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      conn.unwatchIdle();
      if (conn.alive && !this.expired(conn)) {
        this.active.add(conn);
        return conn;
      }
      conn.destroy();
    }
    return null;
  }

  private async create(): Promise<ServerConnection> {
    this.creating++;
    try {
      const conn = await this.opts.connect();
      appliedSettings.set(conn, new Map());
      this.active.add(conn);
      return conn;
    } finally {
      this.creating--;
    }
  }

  private async applySettings(conn: ServerConnection, wanted: Map<string, string>): Promise<void> {
    const current = appliedSettings.get(conn) ?? new Map<string, string>();
    const { sql, changed, reset } = settingsDiff(current, wanted, conn.parameters);
    if (!sql) return;
    const result = await conn.runSimpleQuery(sql, this.opts.queryWaitTimeoutMs);
    if (result.error) {
      throw new ProxyError('pool.settings_rejected', result.error.code as never, `server rejected a startup parameter: ${result.error.message}`);
    }
    for (const [k, v] of changed) current.set(k, v);
    for (const k of reset) current.delete(k);
    appliedSettings.set(conn, current);
  }

  /**
   * Give a connection back. `reset` runs DISCARD ALL first (session pooling: the next client must
   * not see this one's session state); a connection that cannot be reused is closed.
   */
  release(conn: ServerConnection, reusable: boolean, reset = false): void {
    this.active.delete(conn);
    if (!reusable || !conn.alive || this.closed || this.expired(conn)) {
      conn.destroy();
      this.serveWaiter();
      return;
    }
    if (!reset) return this.park(conn);
    this.active.add(conn);
    conn.runSimpleQuery('DISCARD ALL', this.opts.queryWaitTimeoutMs).then(
      (r) => {
        this.active.delete(conn);
        if (r.error || r.status !== 'I') {
          conn.destroy();
          this.serveWaiter();
          return;
        }
        // DISCARD ALL undoes every SET.
        appliedSettings.set(conn, new Map());
        this.park(conn);
      },
      () => {
        this.active.delete(conn);
        this.serveWaiter();
      },
    );
  }

  private park(conn: ServerConnection): void {
    conn.lastUsedAt = Date.now();
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.active.add(conn);
      waiter.resolve(conn); // acquire() applies the waiter's settings
      return;
    }
    conn.watchIdle();
    this.idle.push(conn);
  }

  /** A slot freed up: the first waiter gets a new connection. */
  private serveWaiter(): void {
    const waiter = this.waiters.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.create().then(waiter.resolve, waiter.reject);
  }

  /** Called by ServerConnection.destroy(): forget it wherever it is. */
  forget(conn: ServerConnection): void {
    this.active.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private expired(conn: ServerConnection): boolean {
    return Date.now() - conn.createdAt > this.opts.serverLifetimeMs;
  }

  /** Close idle connections past idle_timeout or server_lifetime. */
  reap(now = Date.now()): void {
    for (const conn of [...this.idle]) {
      if (now - conn.lastUsedAt > this.opts.idleTimeoutMs || this.expired(conn)) conn.destroy();
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new ProxyError('pool.closed', SqlState.ADMIN_SHUTDOWN, 'gatehouse is shutting down'));
    }
    for (const conn of [...this.idle]) conn.destroy();
  }

  closeAll(): void {
    this.close();
    for (const conn of [...this.active]) conn.destroy();
  }
}
