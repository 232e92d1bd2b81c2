/** What a ServerPool is built with (pool.ts), and what a reload may change in it without replacing it. */
import type { Logger } from 'pino';
import type { PoolTraffic } from '../observability/traffic.js';
import type { DatabaseLimit } from './database-limit.js';
import type { InstanceLease } from './instance-slots.js';
import type { StatementCache } from './prepared-statements.js';
import type { ServerConnection } from './server-connection.js';

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
  /** Connections kept open even when unused (min_pool_size); default 0. At most `size` (config rules). */
  minSize?: number;
  /** The database this pool shares max_db_connections and the reserve with; default: one of its own, with neither. */
  limit?: DatabaseLimit;
  /** Whether a connection can log in with no client around (false for SCRAM passthrough until a client taught the ClientKey). */
  canWarm?: () => boolean;
  /**
   * The cache to share, from the pool this one replaces after a reload: sessions that still name the old pool get
   * servers from this one, so statement names must stay unique across both.
   */
  statements?: StatementCache;
  /** Likewise its counters, so that a reload does not reset the (pool, user)'s series. */
  traffic?: PoolTraffic;
  /**
   * One worker's pool of several (src/proxy/cluster): each new connection first takes one of the instance's slots,
   * so that pool_size and max_db_connections hold for all workers together.
   */
  instance?: InstanceLease;
}

/** What a reload may change in a pool without replacing it. */
export type PoolSettings = Pick<PoolOptions, 'size' | 'queryWaitTimeoutMs' | 'idleTimeoutMs' | 'serverLifetimeMs'> & { minSize: number };
