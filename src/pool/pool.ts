/**
 * One pool per (pool name, user): at most pool_size server connections, handed out to sessions,
 * reset and reused. Sessions beyond the size wait up to query_wait_timeout.
 *
 * Its connections and their counts are a ServerSet (server-set.ts); the pool decides which client gets one and
 * when a new one may be opened. Beside it: warm-up.ts (min_pool_size), server-reset.ts (DISCARD ALL, SET) and
 * instance-slots.ts (one worker's pool of several).
 *
 * Limits (docs/pooling.md): min_pool_size connections are kept open (opened on the reap tick); the
 * database's max_db_connections caps the pools of one database together (DatabaseLimit); a client that
 * waited reserve_pool_timeout may get a reserve connection beyond pool_size or max_db_connections.
 */
import { PoolTraffic } from '../observability/traffic.js';
import { ProxyError, SqlState } from '../protocol/index.js';
import { DatabaseLimit, type DatabaseMember } from './database-limit.js';
import { InstanceSlots, type SlotHolder } from './instance-slots.js';
import type { PoolOptions, PoolSettings } from './pool-options.js';
import { StatementCache } from './prepared-statements.js';
import type { ServerConnection } from './server-connection.js';
import { applySettings, discardSession } from './server-reset.js';
import { ServerSet, type ServerCounts } from './server-set.js';
import { settingsMatch } from './startup-parameters.js';
import { WaitQueue, type Waiter } from './wait-queue.js';
import { WarmUp } from './warm-up.js';

/**
 * What a session hands back:
 * - `reuse`: idle at a message boundary, nothing outstanding: park it as it is;
 * - `reset`: usable, but the next client must not see this one's session (DISCARD ALL first);
 * - `close`: it cannot be trusted (mid-message, in a transaction, broken): close it.
 */
export type ReleaseAction = 'reuse' | 'reset' | 'close';

/** What SHOW POOLS and SHOW DATABASES show of a pool's limits. */
export interface PoolLimits {
  poolSize: number;
  minPoolSize: number;
  /** This pool's reserve connections open or opening. */
  reserveInUse: number;
}

export interface PoolStats extends ServerCounts {
  waiting: number;
}

export class ServerPool implements DatabaseMember, SlotHolder {
  private readonly servers: ServerSet;
  private readonly waiters = new WaitQueue();
  private closed = false;
  private readonly warmUp: WarmUp;
  /** PAUSE: no server is handed out (waiters queue up to query_wait_timeout) until RESUME. */
  private pausedNow = false;
  /** A reload replaced or removed this pool: it keeps no server once it is released. */
  private retiring = false;
  /** The pool that replaced this one: sessions still holding this one get their servers there. */
  private successor: ServerPool | null = null;
  /** Clients' named statements, shared by query (transaction pooling). */
  readonly statements: StatementCache;
  readonly limit: DatabaseLimit;
  minPoolSize: number;
  /** What the relay counts for this (pool, user): metrics and SHOW STATS read it. */
  readonly traffic: PoolTraffic;
  /** One worker's pool of several: the instance's slots it holds and asks for (null: the pool is the instance's). */
  private readonly slots: InstanceSlots | null;
  /** Takes back a connection DISCARD ALL left clean (one function for the pool's life, not one per reset). */
  private readonly parkReset = (conn: ServerConnection) => this.park(conn);

  constructor(readonly opts: PoolOptions) {
    this.statements = opts.statements ?? new StatementCache(opts.statementCacheSize ?? 8192);
    this.traffic = opts.traffic ?? new PoolTraffic();
    this.minPoolSize = Math.min(opts.minSize ?? 0, opts.size);
    this.limit = opts.limit ?? new DatabaseLimit({ database: opts.name, maxConnections: 0, reserveSize: 0, reserveTimeoutMs: 0 });
    this.limit.join(this);
    this.slots = opts.instance ? new InstanceSlots(opts.instance, this) : null;
    this.servers = new ServerSet(opts, this.slots);
    this.warmUp = new WarmUp(opts, this.servers, this.limit, this.slots, (conn) => {
      if (this.closed) return conn.close();
      this.park(conn);
      this.warm();
    });
  }

  get connectionCount(): number {
    return this.servers.count;
  }

  get reserveCount(): number {
    return this.servers.reserveCount;
  }

  get limits(): PoolLimits {
    return { poolSize: this.opts.size, minPoolSize: this.minPoolSize, reserveInUse: this.reserveCount };
  }

  /** No connection, handshake or waiter left (a retired pool can be forgotten). */
  get empty(): boolean {
    return this.servers.count === 0 && this.waiters.length === 0;
  }

  /** Every connection that is not closing (SHOW SERVERS, oldest active age). */
  get connections(): ReadonlySet<ServerConnection> {
    return this.servers.all;
  }

  get stats(): PoolStats {
    return { ...this.servers.counts, waiting: this.waiters.length };
  }

  /**
   * The synchronous fast path: an idle connection whose settings already match, or null. Costs
   * no promise and no round trip, which is what a transaction-pooled client pays per transaction.
   */
  acquireIdleMatching(settings: Map<string, string>, holder: string | null): ServerConnection | null {
    if (this.successor) return this.successor.acquireIdleMatching(settings, holder);
    if (this.pausedNow) return null;
    // No check for waiters or shutdown is needed: a server goes idle only when nobody waits (park()
    // serves waiters first), and close() closes every idle one.
    return this.servers.takeIdleMatching(settings, holder);
  }

  /** A server connection whose settings match the client's. */
  async acquire(settings: Map<string, string>, holder: string | null = null, retried = false): Promise<ServerConnection> {
    if (this.successor) return this.successor.acquire(settings, holder);
    const fast = this.acquireIdleMatching(settings, holder);
    if (fast) return fast;
    const conn = await this.checkout(settings, holder);
    // Most waiters get a server already set up as they want it: no statement, and no promise for one.
    if (settingsMatch(conn.settings, settings, conn.parameters)) return conn;
    try {
      await applySettings(conn, settings, this.opts.queryWaitTimeoutMs);
      return conn;
    } catch (err) {
      this.release(conn, 'close');
      if (err instanceof ProxyError) throw err;
      // The connection died while its settings were applied (an idle backend PostgreSQL's restart ended): nothing
      // of the client's ran on it, so one other connection is tried; a second loss is the client's 08006.
      if (!retried) return this.acquire(settings, holder, true);
      throw new ProxyError('pool.server_lost', SqlState.CONNECTION_FAILURE, `server connection lost before the client's query: ${(err as Error).message}`);
    }
  }

  private checkout(settings: Map<string, string>, holder: string | null): Promise<ServerConnection> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (!this.pausedNow) {
      const reusable = this.servers.takeIdle(holder);
      if (reusable) return Promise.resolve(reusable);
      if (this.connectionCount + this.slotsAsked < this.opts.size) {
        // At max_db_connections: close another user's least recently used idle connection first (PgBouncer's eviction).
        if (this.limit.hasRoom() || (this.limit.evictFor(this) && this.limit.hasRoom())) {
          // One worker of several: the client waits for the slot (or for a connection released here first).
          if (!this.slots) return this.create(holder, false);
          this.slots.ask(false);
        }
      }
    }
    return this.waiters.wait(settings, holder, {
      waitMs: this.opts.queryWaitTimeoutMs,
      timedOut: () =>
        new ProxyError(
          'pool.wait_timeout',
          SqlState.TOO_MANY_CONNECTIONS,
          `no server connection available within query_wait_timeout (${this.opts.queryWaitTimeoutMs} ms): ${this.heldBackBy()} is in use`,
        ),
      reserveMs: this.limit.reserveEnabled ? this.limit.opts.reserveTimeoutMs : null,
      reserveDue: (waiter) => this.drawOnReserve(waiter),
    });
  }

  /** Which limit keeps a waiting client waiting, for its error message. */
  private heldBackBy(): string {
    const { maxConnections, database } = this.limit.opts;
    if (this.connectionCount < this.opts.size && maxConnections > 0) return `max_db_connections ${maxConnections} of pool "${database}"`;
    return `pool_size ${this.opts.size}`;
  }

  /** reserve_pool_timeout passed for a waiting client: a reserve connection, if the reserve has one left. */
  private drawOnReserve(waiter: Waiter): void {
    if (this.closed || this.pausedNow || !this.limit.hasReserve() || this.connectionCount >= this.opts.size + this.limit.opts.reserveSize) return;
    // A pool left below its limits (a connect failed) gets an ordinary connection: only one beyond them is reserve.
    const reserve = this.connectionCount >= this.opts.size || !this.limit.hasRoom();
    if (this.slots) return this.slots.ask(reserve);
    this.waiters.remove(waiter);
    this.openFor(waiter, reserve);
  }

  /** A new connection for `waiter` (out of the queue): a reserve one, beyond the pool's limits, if `reserve`. */
  private openFor(waiter: Waiter, reserve: boolean): void {
    if (reserve) this.opts.logger.warn({ pool: this.opts.name, user: this.opts.user, ...this.limit.stats }, 'taking connection from reserve_pool');
    this.create(waiter.holder, reserve).then(waiter.resolve, waiter.reject);
  }

  private async create(holder: string | null, reserve: boolean): Promise<ServerConnection> {
    const conn = await this.servers.open(reserve);
    conn.toActive(holder);
    return conn;
  }

  /** Instance slots asked for and not granted yet (0 for the instance's own pool). */
  private get slotsAsked(): number {
    return this.slots?.pending ?? 0;
  }

  /**
   * The instance granted the oldest slot this pool asked for: a connection for the first waiting client, or for
   * min_pool_size; a slot nobody here needs any more goes back.
   */
  granted(): void {
    const reserve = this.slots!.granted();
    const usable = !this.closed && !this.retiring && !this.pausedNow;
    if (usable && this.waiters.length > 0) {
      this.openFor(this.waiters.take()!, reserve);
    } else if (usable && this.connectionCount < this.minPoolSize) {
      this.warmUp.openOne();
    } else {
      this.slots!.release();
    }
  }

  /** Another worker waits for one of this (pool, user)'s slots: an idle connection above min_pool_size closes for it. */
  yieldSlot(): void {
    this.slots!.yieldSlot(this.evictionCandidate());
  }

  /** Give a connection back; see ReleaseAction. */
  release(conn: ServerConnection, action: ReleaseAction): void {
    if (this.successor && !this.servers.all.has(conn)) return this.successor.release(conn, action);
    if (action === 'close' || this.closed || this.retiring || this.servers.spent(conn)) {
      conn.close();
      return;
    }
    if (action === 'reuse') return this.park(conn);
    discardSession(conn, this.opts.queryWaitTimeoutMs, this.parkReset);
  }

  private park(conn: ServerConnection): void {
    // A reload shrank the pool: the connections beyond its new size close as they come back.
    if (this.servers.openCount > this.opts.size && this.waiters.length === 0) return conn.close();
    const waiter = this.pausedNow ? undefined : this.waiters.take();
    if (waiter) {
      conn.toActive(waiter.holder);
      waiter.resolve(conn); // acquire() applies the waiter's settings
      return;
    }
    // Nobody here needs it: a reserve connection goes back to the reserve, and a slot another user of the
    // database waits for is handed over (never below min_pool_size).
    if (this.servers.isReserve(conn) || (this.connectionCount > this.minPoolSize && this.limit.othersBlocked(this))) return conn.close();
    if (this.connectionCount > this.minPoolSize && this.slots?.takeYield()) return conn.close();
    this.servers.park(conn);
  }

  /** Called when a connection closes, whatever its state: forget it and give its slot to a waiter. */
  forget(conn: ServerConnection): void {
    if (!this.servers.forget(conn)) return;
    this.limit.slotFreed();
  }

  blockedSince(): number | null {
    if (this.pausedNow || this.waiters.length <= this.slotsAsked || this.connectionCount + this.slotsAsked >= this.opts.size) return null;
    return this.waiters.first!.since;
  }

  /** The database has a slot for this pool's first waiter: a new connection for it. */
  serveBlocked(): void {
    if (this.slots) return this.slots.ask(false);
    this.openFor(this.waiters.take()!, false);
  }

  evictionCandidate(): { lastUsedAt: number; close(): void } | null {
    return this.servers.evictionCandidate(this.minPoolSize);
  }

  /**
   * The reap tick (every second): close idle connections past server_lifetime, and past idle_timeout down to
   * min_pool_size; then open what min_pool_size asks for.
   */
  reap(now = Date.now()): void {
    this.servers.reap(now, this.opts.idleTimeoutMs, this.minPoolSize);
    this.warm();
  }

  /** min_pool_size (WarmUp), while the pool takes new connections. */
  private warm(): void {
    if (!this.closed && !this.retiring) this.warmUp.next(this.minPoolSize);
  }

  get paused(): boolean {
    return this.pausedNow;
  }

  /** PAUSE (PgDoorman's): running transactions go on; no server is handed out until resume(). */
  pause(): void {
    this.pausedNow = true;
  }

  /** RESUME: waiters get servers again, in the order they came. */
  resume(): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    this.serveWaiters();
  }

  /** Waiting clients get servers while there are idle ones or room for new ones (after RESUME, or a larger pool_size). */
  private serveWaiters(): void {
    // Waiters an instance slot was asked for are served when it is granted.
    while (this.waiters.length > this.slotsAsked && !this.pausedNow) {
      const conn = this.servers.takeIdle(this.waiters.first!.holder);
      if (conn) this.park(conn);
      else if (this.connectionCount + this.slotsAsked < this.opts.size && this.limit.hasRoom()) this.serveBlocked();
      else return;
    }
  }

  /**
   * RECONNECT: idle connections close now; those in use close when released, so every transaction from now on runs
   * on a new backend.
   */
  reconnect(): void {
    this.servers.reconnect();
  }

  /** A reload changed what this pool can take in place (pool_size, min_pool_size, timeouts). */
  configure(settings: PoolSettings): void {
    Object.assign(this.opts, settings);
    this.minPoolSize = Math.min(settings.minSize, settings.size);
    this.serveWaiters();
    this.servers.shrinkTo(this.opts.size);
  }

  /**
   * A reload removed this pool (successor null) or replaced it: its idle connections close now and those in use
   * when they are released. Sessions that still hold this pool get their next servers from `successor`, or, for a
   * removed pool, a fresh connection each time until they end.
   */
  retire(successor: ServerPool | null): void {
    this.retiring = true;
    this.successor = successor;
    this.servers.closeIdle();
    if (!successor) return;
    while (this.waiters.length > 0) {
      const waiter = this.waiters.take()!;
      successor.acquire(waiter.settings, waiter.holder).then(waiter.resolve, waiter.reject);
    }
  }

  close(): void {
    this.closed = true;
    this.waiters.rejectAll(shuttingDown);
    this.servers.closeIdle();
  }

  closeAll(): void {
    this.close();
    this.servers.closeAll();
  }
}

function shuttingDown(): ProxyError {
  return new ProxyError('pool.closed', SqlState.ADMIN_SHUTDOWN, 'gatehouse is shutting down');
}
