/**
 * Plain rows for the admin console, with PgDoorman's column names: SHOW STATS, the traffic columns of SHOW POOLS
 * and SHOW POOLS_EXTENDED, and the counters of SHOW CLIENTS and SHOW SERVERS. Times are microseconds, as in
 * PgBouncer and PgDoorman.
 *
 * Averages (avg_*) are per second, or per transaction/query/wait for the *_time ones, over the last stats period:
 * like PgBouncer's stats_period, a period lasts STATS_PERIOD_MS, but it is closed when someone reads the stats
 * after it ran out (no timer runs for it), so a period is at least that long. Until the first period of a pool has
 * closed, the averages cover the time since the pool was made.
 */
import { maxWaitMicros, oldestActiveAgeMs } from './pool-figures.js';
import type { PoolView, ServerView } from './pool-view.js';
import type { ClientTraffic, PoolTraffic } from './traffic.js';

export const STATS_PERIOD_MS = 15_000;

interface Totals {
  transactions: number;
  queries: number;
  received: number;
  sent: number;
  errors: number;
  transactionMicros: number;
  queryMicros: number;
  waitMicros: number;
  waits: number;
}

export interface Averages {
  avg_xact_count: number;
  avg_query_count: number;
  avg_recv: number;
  avg_sent: number;
  avg_errors: number;
  avg_xact_time: number;
  avg_query_time: number;
  avg_wait_time: number;
}

interface Period {
  startedAt: number;
  base: Totals;
  closed: Averages | null;
}

const periods = new WeakMap<PoolTraffic, Period>();

function totals(t: PoolTraffic): Totals {
  return {
    transactions: t.transactions,
    queries: t.queries,
    received: t.received,
    sent: t.sent,
    errors: t.errors,
    transactionMicros: t.transactionMicros,
    queryMicros: t.queryMicros,
    waitMicros: t.waitMicros,
    waits: t.waitDurations.count,
  };
}

const ZERO: Totals = { transactions: 0, queries: 0, received: 0, sent: 0, errors: 0, transactionMicros: 0, queryMicros: 0, waitMicros: 0, waits: 0 };

function averages(now: Totals, base: Totals, ms: number): Averages {
  const seconds = ms / 1000;
  const rate = (v: number) => (seconds > 0 ? Math.round(v / seconds) : 0);
  const per = (v: number, n: number) => (n > 0 ? Math.round(v / n) : 0);
  const d = (k: keyof Totals) => now[k] - base[k];
  return {
    avg_xact_count: rate(d('transactions')),
    avg_query_count: rate(d('queries')),
    avg_recv: rate(d('received')),
    avg_sent: rate(d('sent')),
    avg_errors: rate(d('errors')),
    avg_xact_time: per(d('transactionMicros'), d('transactions')),
    avg_query_time: per(d('queryMicros'), d('queries')),
    avg_wait_time: per(d('waitMicros'), d('waits')),
  };
}

/** The averages of the last closed period (closing the current one when it ran out). */
export function periodAverages(t: PoolTraffic, now = performance.now()): Averages {
  let period = periods.get(t);
  if (!period) periods.set(t, (period = { startedAt: t.createdAt, base: ZERO, closed: null }));
  const current = totals(t);
  if (now - period.startedAt >= STATS_PERIOD_MS) {
    period.closed = averages(current, period.base, now - period.startedAt);
    period.startedAt = now;
    period.base = current;
  }
  return period.closed ?? averages(current, period.base, now - period.startedAt);
}

export interface StatsRow extends Averages {
  database: string;
  user: string;
  total_xact_count: number;
  total_query_count: number;
  total_received: number;
  total_sent: number;
  total_xact_time: number;
  total_query_time: number;
  total_wait_time: number;
  total_errors: number;
}

/** SHOW STATS: one row per pool, in PgDoorman's column order. */
export function showStats(pools: Iterable<PoolView>, now = performance.now()): StatsRow[] {
  const rows: StatsRow[] = [];
  for (const pool of pools) {
    const t = pool.traffic;
    rows.push({
      database: pool.opts.name,
      user: pool.opts.user,
      total_xact_count: t.transactions,
      total_query_count: t.queries,
      total_received: t.received,
      total_sent: t.sent,
      total_xact_time: Math.round(t.transactionMicros),
      total_query_time: Math.round(t.queryMicros),
      total_wait_time: Math.round(t.waitMicros),
      total_errors: t.errors,
      ...periodAverages(t, now),
    });
  }
  return rows;
}

export interface PoolsTrafficColumns {
  /** Whole seconds of the longest wait (see maxWaitMicros), and the microseconds beyond them. */
  maxwait: number;
  maxwait_us: number;
  avg_xact_time: number;
  oldest_active_age_ms: number;
}

/** SHOW POOLS' columns that come from traffic (the others are the pool's state). */
export function showPoolsTraffic(pool: PoolView, now = performance.now()): PoolsTrafficColumns {
  const wait = maxWaitMicros(pool, now);
  return {
    maxwait: Math.floor(wait / 1e6),
    maxwait_us: wait % 1e6,
    avg_xact_time: periodAverages(pool.traffic, now).avg_xact_time,
    oldest_active_age_ms: oldestActiveAgeMs(pool, now),
  };
}

export interface PoolsExtendedTraffic {
  /** PgDoorman's spelling. */
  bytes_recieved: number;
  bytes_sent: number;
  'query_0.99': number;
  'transaction_0.99': number;
  'query_0.95': number;
  'transaction_0.95': number;
  'query_0.5': number;
  'transaction_0.5': number;
}

/** SHOW POOLS_EXTENDED's traffic columns; percentiles (µs) of the last 1024 queries and transactions. */
export function showPoolsExtendedTraffic(pool: PoolView): PoolsExtendedTraffic {
  const { received, sent, queryDurations: q, transactionDurations: x } = pool.traffic;
  const p = (h: typeof q, quantile: number) => Math.round(h.percentile(quantile));
  return {
    bytes_recieved: received,
    bytes_sent: sent,
    'query_0.99': p(q, 0.99),
    'transaction_0.99': p(x, 0.99),
    'query_0.95': p(q, 0.95),
    'transaction_0.95': p(x, 0.95),
    'query_0.5': p(q, 0.5),
    'transaction_0.5': p(x, 0.5),
  };
}

/** SHOW CLIENTS' counters for one client session (Session.traffic). */
export function clientCounters(t: ClientTraffic): { transaction_count: number; query_count: number; error_count: number } {
  return { transaction_count: t.transactions, query_count: t.queries, error_count: t.errors };
}

export interface ServerCounters {
  transaction_count: number;
  query_count: number;
  /** To the server, and from it. */
  bytes_sent: number;
  bytes_received: number;
  prepare_cache_hit: number;
  prepare_cache_miss: number;
  prepare_cache_size: number;
}

/** SHOW SERVERS' counters for one server connection (a pool's `connections`). */
export function serverCounters(s: ServerView): ServerCounters {
  const t = s.traffic;
  return {
    transaction_count: t.transactions,
    query_count: t.queries,
    bytes_sent: t.sent,
    bytes_received: t.received,
    prepare_cache_hit: t.preparedHits,
    prepare_cache_miss: t.preparedMisses,
    prepare_cache_size: s.statements.size,
  };
}
