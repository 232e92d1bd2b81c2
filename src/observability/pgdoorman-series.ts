/**
 * The series gatehouse computes at scrape time under PgDoorman's names: process facts, every pool's traffic and
 * state, and auth_query's counters. The gateway registers them once with the pools it serves.
 */
import type { Config } from '../config/types.js';
import type { Exposition } from './exposition.js';
import type { Metrics } from './metrics.js';
import { writePoolSeries } from './pool-series.js';
import type { PoolView } from './pool-view.js';
import { writeProcessSeries, type ProcessFacts } from './process-series.js';

export interface PgDoormanSources extends ProcessFacts {
  /** Every backend pool, read at each scrape. */
  pools: () => Iterable<PoolView>;
}

/** Pools an auth_query made for looked-up users (passthrough mode): neither listed users nor its executors. */
function dynamicPools(config: Config, pools: PoolView[], database: string): number {
  const pool = config.pools[database];
  const aq = pool?.auth_query;
  if (!aq) return 0;
  const fixed = new Set([...pool.users.map((u) => u.username), aq.user, aq.server_user]);
  return pools.filter((p) => p.opts.name === database && !fixed.has(p.opts.user)).length;
}

function writeAuthQuerySeries(out: Exposition, metrics: Metrics, config: Config, pools: PoolView[]): void {
  const P = 'pg_doorman_auth_query_';
  const rows = [...metrics.authQueries].map(([database, c]) => ({ database, c, dynamic: dynamicPools(config, pools, database) }));
  type Row = (typeof rows)[number];
  // PgDoorman exports each as a gauge (every value) and as a _total counter (the cumulative ones).
  const write = (suffix: string, label: 'type' | 'result', help: string, gaugeValues: (r: Row) => Array<[string, number]>, counterKeys: string[]) => {
    out.family(P + suffix, 'gauge', help);
    for (const r of rows) for (const [k, v] of gaugeValues(r)) out.sample(P + suffix, { [label]: k, database: r.database }, v);
    out.family(`${P}${suffix}_total`, 'counter', help);
    for (const r of rows) {
      for (const [k, v] of gaugeValues(r)) if (counterKeys.includes(k)) out.sample(`${P}${suffix}_total`, { [label]: k, database: r.database }, v);
    }
  };
  write(
    'cache',
    'type',
    "auth_query cache: 'entries' (users cached now), 'hits', 'misses' (the query ran), 'refetches' (dropped after a rejected password), 'rate_limited' (kept: fetched within min_interval).",
    ({ c }) => [
      ['entries', c.entries()],
      ['hits', c.hits],
      ['misses', c.misses],
      ['refetches', c.refetches],
      ['rate_limited', c.rateLimited],
    ],
    ['hits', 'misses', 'refetches', 'rate_limited'],
  );
  write(
    'auth',
    'result',
    "Logins of looked-up users: 'success' (a session opened), 'failure' (password refused).",
    ({ c }) => [
      ['success', c.success],
      ['failure', c.failure],
    ],
    ['success', 'failure'],
  );
  write(
    'executor',
    'type',
    "auth_query executor: 'queries' run, 'errors' (no executor connection, or the query failed).",
    ({ c }) => [
      ['queries', c.queries],
      ['errors', c.errors],
    ],
    ['queries', 'errors'],
  );
  // gatehouse never drops a looked-up user's pool while it runs: created equals current, destroyed is 0.
  write(
    'dynamic_pools',
    'type',
    "Pools made for looked-up users (passthrough mode): 'current', 'created', 'destroyed'.",
    ({ dynamic }) => [
      ['current', dynamic],
      ['created', dynamic],
      ['destroyed', 0],
    ],
    ['created', 'destroyed'],
  );
}

/** PgDoorman labels this one by `pool` (the pool's name), not `database`. */
function writeStartupParameterSeries(out: Exposition, metrics: Metrics): void {
  const name = 'pg_doorman_startup_parameters_dropped_total';
  out.family(name, 'counter', "auth_query startup parameters not sent to PostgreSQL, by reason (the whole value: oversize, invalid_json, invalid_shape; one entry: bad_type, invalid_entry; the column in dedicated mode).");
  for (const [pool, c] of metrics.authQueries) for (const [reason, n] of Object.entries(c.startupParametersDropped)) out.sample(name, { pool, reason }, n);
}

export function registerPgDoormanSeries(metrics: Metrics, sources: PgDoormanSources): void {
  metrics.exposeAtScrape((out) => {
    const pools = [...sources.pools()];
    writeProcessSeries(out, sources);
    writePoolSeries(out, pools);
    writeAuthQuerySeries(out, metrics, sources.config, pools);
    writeStartupParameterSeries(out, metrics);
  });
}
