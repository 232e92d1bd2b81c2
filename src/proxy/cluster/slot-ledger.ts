/**
 * The supervisor's count of server connections per (pool, user) and per database across all workers, so that
 * pool_size and max_db_connections hold for the instance: a worker asks for a slot before it opens a connection
 * and gives it back when the connection closes. A request that does not fit waits, first come first served, and
 * is granted when a slot it fits in is given back (the supervisor meanwhile asks the workers holding slots to
 * close an idle one). Pure bookkeeping: no timers, no I/O.
 */

export interface LeaseRequest {
  /** Names one (pool, user)'s pool: the database and the user. */
  pool: string;
  database: string;
  /** pool_size. */
  poolSize: number;
  /** max_db_connections; 0: none. */
  maxDbConnections: number;
  /** reserve_pool_size when this request is for a reserve connection, else 0. */
  reserve: number;
}

export interface Grant {
  worker: number;
  request: LeaseRequest;
}

export class SlotLedger {
  /** Slots held, by pool then worker. */
  private readonly byPool = new Map<string, Map<number, number>>();
  private readonly byDatabase = new Map<string, number>();
  private readonly databaseOf = new Map<string, string>();
  private readonly waiting: Grant[] = [];

  /** Worker `worker` asks for a slot: granted now (returned) or queued (granted by a later release). */
  request(worker: number, request: LeaseRequest): Grant[] {
    if (this.waiting.length === 0 && this.fits(request)) {
      this.hold(worker, request.pool, request.database, 1);
      return [{ worker, request }];
    }
    this.waiting.push({ worker, request });
    return this.serveWaiting();
  }

  /** A slot given back (its connection closed, or a grant not needed); returns the waiting requests that fit now. */
  release(worker: number, pool: string, database: string): Grant[] {
    this.hold(worker, pool, database, -1);
    return this.serveWaiting();
  }

  /** A worker died: its slots are free and its waiting requests gone. */
  forget(worker: number): Grant[] {
    for (const [pool, holders] of this.byPool) {
      const n = holders.get(worker) ?? 0;
      if (n === 0) continue;
      this.hold(worker, pool, this.databaseOf.get(pool)!, -n);
    }
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i].worker === worker) this.waiting.splice(i, 1);
    return this.serveWaiting();
  }

  isWaiting(worker: number, pool: string): boolean {
    return this.waiting.some((w) => w.worker === worker && w.request.pool === pool);
  }

  /** The worker holding the most of the pool's slots besides `except` (the one to ask for an idle connection), if any. */
  holders(request: LeaseRequest, except: number): number[] {
    const holders = [...(this.byPool.get(request.pool) ?? [])].filter(([w, n]) => w !== except && n > 0).sort((a, b) => b[1] - a[1]);
    return holders.slice(0, 1).map(([w]) => w);
  }

  held(pool: string): number {
    let n = 0;
    for (const count of this.byPool.get(pool)?.values() ?? []) n += count;
    return n;
  }

  heldByDatabase(database: string): number {
    return this.byDatabase.get(database) ?? 0;
  }

  private fits(r: LeaseRequest): boolean {
    if (this.held(r.pool) >= r.poolSize + r.reserve) return false;
    return r.maxDbConnections === 0 || this.heldByDatabase(r.database) < r.maxDbConnections + r.reserve;
  }

  private hold(worker: number, pool: string, database: string, delta: number): void {
    this.databaseOf.set(pool, database);
    let holders = this.byPool.get(pool);
    if (!holders) this.byPool.set(pool, (holders = new Map()));
    const n = Math.max(0, (holders.get(worker) ?? 0) + delta);
    if (n === 0) holders.delete(worker);
    else holders.set(worker, n);
    if (holders.size === 0) this.byPool.delete(pool);
    this.byDatabase.set(database, Math.max(0, (this.byDatabase.get(database) ?? 0) + delta));
  }

  /** Grant waiting requests in order; one that does not fit yet does not hold back those of other pools. */
  private serveWaiting(): Grant[] {
    const grants: Grant[] = [];
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i];
      if (!this.fits(w.request)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.hold(w.worker, w.request.pool, w.request.database, 1);
      grants.push(w);
    }
    return grants;
  }
}
