/**
 * min_pool_size: open connections until the pool holds that many (idle and active), within max_db_connections
 * and without evicting anyone (PgBouncer: warm-up never evicts). One at a time; a failure is logged and retried
 * on the next reap tick.
 */
import type { DatabaseLimit } from './database-limit.js';
import type { InstanceSlots } from './instance-slots.js';
import type { PoolOptions } from './pool-options.js';
import type { ServerConnection } from './server-connection.js';
import type { ServerSet } from './server-set.js';

export class WarmUp {
  /** A min_pool_size connect is in flight. */
  private warming = false;

  constructor(
    private readonly opts: Pick<PoolOptions, 'name' | 'user' | 'logger' | 'canWarm'>,
    private readonly servers: ServerSet,
    private readonly limit: DatabaseLimit,
    private readonly slots: InstanceSlots | null,
    /** Takes each connection warm-up opened (active, held by nobody). */
    private readonly warmed: (conn: ServerConnection) => void,
  ) {}

  /** Below `minSize`: one more connection, or for one worker of several the slot to open it in. */
  next(minSize: number): void {
    if (this.warming || this.servers.count >= minSize || !this.limit.hasRoom()) return;
    if (this.opts.canWarm && !this.opts.canWarm()) return;
    if (!this.slots) return this.openOne();
    if (this.slots.pending === 0) this.slots.ask(false);
  }

  /** One connection for min_pool_size (in a slot the instance granted, for one worker of several). */
  openOne(): void {
    this.warming = true;
    this.servers.open(false).then(
      (conn) => {
        this.warming = false;
        conn.toActive(null);
        this.warmed(conn);
      },
      (err: unknown) => {
        // Not retried here: a server that is down is tried once a reap tick, not in a loop.
        this.warming = false;
        const message = err instanceof Error ? err.message : String(err);
        this.opts.logger.warn({ pool: this.opts.name, user: this.opts.user, err: message }, 'could not open a min_pool_size connection; retrying on the next tick');
      },
    );
  }
}
