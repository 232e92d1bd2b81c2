/**
 * What the pools of one database (one `pools.<name>`: its listed users, its auth_query users, its dedicated
 * pool) share: `max_db_connections`, a cap on their server connections together, and the reserve
 * (`reserve_pool_size`, `reserve_pool_timeout`) a client that waited too long may draw on.
 *
 * Counts are not kept here: they are summed from the member pools when a connection is about to be opened (the
 * slow path), so they can never drift from what the pools hold.
 */
export interface DatabaseLimitOptions {
  database: string;
  /** max_db_connections; 0: no cap. */
  maxConnections: number;
  /** Extra connections, beyond pool_size or max_db_connections, for clients that waited reserve_pool_timeout; 0: none. */
  reserveSize: number;
  /** reserve_pool_timeout (ms); 0 disables the reserve, as in PgBouncer. */
  reserveTimeoutMs: number;
}

/** What a pool shows the database it belongs to. */
export interface DatabaseMember {
  /** Open and opening server connections. */
  readonly connectionCount: number;
  /** Of those, reserve connections. */
  readonly reserveCount: number;
  readonly minPoolSize: number;
  /** When its first waiting client started waiting, if one waits for a slot the database holds back; else null. */
  blockedSince(): number | null;
  /** Open a connection for its first waiting client (the database has a slot for it). */
  serveBlocked(): void;
  /** Its least recently used idle connection that may be closed for another pool (above min_pool_size), or null. */
  evictionCandidate(): { lastUsedAt: number; close(): void } | null;
}

/** SHOW DATABASES and the pool_coordinator metric. */
export interface DatabaseLimitStats {
  database: string;
  /** max_db_connections (0: no cap). */
  maxConnections: number;
  /** Server connections open or opening, all users together. */
  connections: number;
  reservePoolSize: number;
  reserveInUse: number;
}

export class DatabaseLimit {
  private readonly members = new Set<DatabaseMember>();

  constructor(readonly opts: DatabaseLimitOptions) {}

  /** A pool of this database, until it leaves (a pool a reload retired, once its last connection closed). */
  join(member: DatabaseMember): void {
    this.members.add(member);
  }

  leave(member: DatabaseMember): void {
    this.members.delete(member);
  }

  /** A reload changed max_db_connections or the reserve: the new ones hold from the next connection opened. */
  configure(opts: Omit<DatabaseLimitOptions, 'database'>): void {
    Object.assign(this.opts, opts);
    this.slotFreed();
  }

  get reserveEnabled(): boolean {
    return this.opts.reserveSize > 0 && this.opts.reserveTimeoutMs > 0;
  }

  get connections(): number {
    let n = 0;
    for (const m of this.members) n += m.connectionCount;
    return n;
  }

  get reserveInUse(): number {
    let n = 0;
    for (const m of this.members) n += m.reserveCount;
    return n;
  }

  /** Below max_db_connections (always, without a cap). */
  hasRoom(): boolean {
    return this.opts.maxConnections === 0 || this.connections < this.opts.maxConnections;
  }

  hasReserve(): boolean {
    return this.reserveEnabled && this.reserveInUse < this.opts.reserveSize;
  }

  /**
   * The database is at its cap and `requester` needs a connection: close the least recently used idle
   * connection of another pool of the database (PgBouncer's and PgDoorman's eviction), never below that pool's
   * min_pool_size. Whether one was closed.
   */
  evictFor(requester: DatabaseMember): boolean {
    let oldest: { lastUsedAt: number; close(): void } | null = null;
    for (const m of this.members) {
      if (m === requester) continue;
      const candidate = m.evictionCandidate();
      if (candidate && (!oldest || candidate.lastUsedAt < oldest.lastUsedAt)) oldest = candidate;
    }
    oldest?.close();
    return oldest !== null;
  }

  /** A pool other than `except` has a client waiting for a slot the database holds back. */
  othersBlocked(except: DatabaseMember): boolean {
    if (this.opts.maxConnections === 0) return false;
    for (const m of this.members) if (m !== except && m.blockedSince() !== null) return true;
    return false;
  }

  /** A connection closed: the client that has waited longest, in whichever pool, gets the slot. */
  slotFreed(): void {
    let longest: DatabaseMember | null = null;
    let since = Infinity;
    for (const m of this.members) {
      const t = m.blockedSince();
      if (t !== null && t < since) {
        since = t;
        longest = m;
      }
    }
    if (longest && this.hasRoom()) longest.serveBlocked();
  }

  get stats(): DatabaseLimitStats {
    return {
      database: this.opts.database,
      maxConnections: this.opts.maxConnections,
      connections: this.connections,
      reservePoolSize: this.opts.reserveSize,
      reserveInUse: this.reserveInUse,
    };
  }
}
