/**
 * PgDoorman's per-pool series, labelled user and database (the pool's user and the pool's name), written at
 * scrape time from the pools' traffic counters and state. Names, types and labels are PgDoorman's; the
 * deprecated ones it still exports are exported too, so that older dashboards keep working.
 */
import { Exposition, type Labels } from './exposition.js';
import { clientPrepared, clientStates, livePrepared, maxWaitMicros, oldestActiveAgeMs } from './pool-figures.js';
import type { PoolView } from './pool-view.js';
import { ERROR_GROUPS } from './traffic.js';

const P = 'pg_doorman_';

type PoolRow = { labels: Labels; pool: PoolView };

function gauge(out: Exposition, rows: PoolRow[], name: string, help: string, value: (p: PoolView) => number): void {
  out.family(P + name, 'gauge', help);
  for (const { labels, pool } of rows) out.sample(P + name, labels, value(pool));
}

function counter(out: Exposition, rows: PoolRow[], name: string, help: string, value: (p: PoolView) => number): void {
  out.family(P + name, 'counter', help);
  for (const { labels, pool } of rows) out.sample(P + name, labels, value(pool));
}

export function writePoolSeries(out: Exposition, pools: Iterable<PoolView>, now = performance.now()): void {
  const rows: PoolRow[] = [];
  for (const pool of pools) rows.push({ labels: { user: pool.opts.user, database: pool.opts.name }, pool });

  out.family(`${P}pools_clients`, 'gauge', "Clients by status: 'idle' (connected, no server), 'waiting' (for a server), 'active' (a server attached).");
  for (const { labels, pool } of rows) {
    const states = clientStates(pool);
    for (const status of ['idle', 'waiting', 'active'] as const) out.sample(`${P}pools_clients`, { status, ...labels }, states[status]);
  }
  out.family(`${P}pools_servers`, 'gauge', "Server connections by status: 'active' (handed to a client), 'idle' (parked in the pool).");
  for (const { labels, pool } of rows) {
    const { active, idle } = pool.stats;
    out.sample(`${P}pools_servers`, { status: 'active', ...labels }, active);
    out.sample(`${P}pools_servers`, { status: 'idle', ...labels }, idle);
  }
  out.family(`${P}pool_scaling`, 'gauge', "'inflight_creates': backend connections being opened now.");
  for (const { labels, pool } of rows) out.sample(`${P}pool_scaling`, { type: 'inflight_creates', ...labels }, pool.stats.connecting);
  gauge(out, rows, 'pool_size', 'Configured maximum number of server connections (pool_size).', (p) => p.opts.size);
  gauge(out, rows, 'pools_oldest_active_age_ms', 'Longest time an active server has been handed out, ms (0 when none is active).', (p) => oldestActiveAgeMs(p, now));
  gauge(out, rows, 'pools_paused', 'Whether the pool is paused (PAUSE): 1, or 0.', (p) => (p.paused ? 1 : 0));
  gauge(out, rows, 'pools_maxwait_microseconds', 'Longest single wait for a server of any client connected now, counting waits under way (µs).', (p) =>
    maxWaitMicros(p, now),
  );

  out.family(`${P}pools_errors_total`, 'counter', "ErrorResponses sent to clients, by SQLSTATE class: '08', '53', '57', '25P02', '26000' or 'other'.");
  for (const { labels, pool } of rows) {
    ERROR_GROUPS.forEach((sqlstate, i) => out.sample(`${P}pools_errors_total`, { ...labels, sqlstate }, pool.traffic.errorsBy[i]));
  }
  for (const [name, type] of [
    ['pools_bytes_total', 'counter'],
    ['pools_bytes', 'gauge'],
  ] as const) {
    const deprecated = type === 'gauge' ? 'DEPRECATED (PgDoorman removes it in 3.10), use pg_doorman_pools_bytes_total: ' : '';
    out.family(P + name, type, `${deprecated}bytes by direction: 'received' (from clients), 'sent' (to clients).`);
    for (const { labels, pool } of rows) {
      out.sample(P + name, { direction: 'received', ...labels }, pool.traffic.received);
      out.sample(P + name, { direction: 'sent', ...labels }, pool.traffic.sent);
    }
  }
  counter(out, rows, 'pools_transactions_total', 'Transactions completed (ReadyForQuery idle after a round trip).', (p) => p.traffic.transactions);
  counter(out, rows, 'pools_queries_total', 'Queries completed (round trips answered by ReadyForQuery).', (p) => p.traffic.queries);
  gauge(out, rows, 'pools_transactions_count', 'DEPRECATED, use pg_doorman_pools_transactions_total.', (p) => p.traffic.transactions);
  gauge(out, rows, 'pools_queries_count', 'DEPRECATED, use pg_doorman_pools_queries_total.', (p) => p.traffic.queries);
  gauge(out, rows, 'pools_transactions_total_time', 'Time spent in transactions, ms.', (p) => p.traffic.transactionMicros / 1000);
  gauge(out, rows, 'pools_queries_total_time', 'Time spent in queries, ms.', (p) => p.traffic.queryMicros / 1000);
  gauge(out, rows, 'pools_avg_wait_time', 'DEPRECATED, use pg_doorman_pools_wait_duration_seconds: mean wait for a server, ms.', (p) =>
    p.traffic.waitDurations.count === 0 ? 0 : p.traffic.waitMicros / p.traffic.waitDurations.count / 1000,
  );
  for (const [name, kind] of [
    ['pools_queries_percentile', 'queryDurations'],
    ['pools_transactions_percentile', 'transactionDurations'],
  ] as const) {
    out.family(P + name, 'gauge', 'DEPRECATED, use the duration histograms: percentiles of the last 1024 durations, ms.');
    for (const { labels, pool } of rows) {
      for (const percentile of [50, 90, 95, 99]) out.sample(P + name, { percentile: String(percentile), ...labels }, pool.traffic[kind].percentile(percentile / 100) / 1000);
    }
  }
  for (const [name, kind, help] of [
    ['pools_query_duration_seconds', 'queryDurations', 'Query durations: first client message of a round trip to its ReadyForQuery.'],
    ['pools_transaction_duration_seconds', 'transactionDurations', 'Transaction durations: start of its first query to the ReadyForQuery that ends it.'],
    ['pools_wait_duration_seconds', 'waitDurations', 'Time clients waited for a server connection (0 when an idle one was ready).'],
  ] as const) {
    out.family(P + name, 'histogram', help);
    for (const { labels, pool } of rows) out.histogram(P + name, labels, pool.traffic[kind]);
  }

  gauge(out, rows, 'pool_prepared_cache_entries', "Statements in the pool's shared prepared-statement cache.", (p) => p.statements.size);
  gauge(out, rows, 'pool_prepared_cache_bytes', "Approximate bytes of the pool's shared prepared-statement cache.", (p) => p.statements.bytes);
  const prepared = new Map(rows.map(({ pool }) => [pool, clientPrepared(pool)]));
  gauge(out, rows, 'clients_prepared_cache_entries', "Prepared statements the pool's clients hold (named and unnamed).", (p) => {
    const c = prepared.get(p)!;
    return c.named + c.anonymous;
  });
  gauge(out, rows, 'clients_prepared_cache_bytes', "Approximate bytes of the pool's clients' prepared statements.", (p) => prepared.get(p)!.bytes);
  gauge(out, rows, 'clients_prepared_named_entries', "Named prepared statements the pool's clients hold.", (p) => prepared.get(p)!.named);
  gauge(out, rows, 'clients_prepared_anonymous_entries', "Unnamed prepared statements the pool's clients hold (at most one each).", (p) => prepared.get(p)!.anonymous);
  counter(out, rows, 'servers_prepared_hits_total', "Clients' Binds whose statement the server already had.", (p) => p.traffic.preparedHits);
  counter(out, rows, 'servers_prepared_misses_total', "Statements gatehouse had to prepare on a server (a Parse sent for a client's statement).", (p) => p.traffic.preparedMisses);
  gauge(out, rows, 'servers_prepared_hits', 'Prepared-statement hits of the servers open now (drops when servers close).', (p) => livePrepared(p).hits);
  gauge(out, rows, 'servers_prepared_misses', 'Prepared-statement misses of the servers open now (drops when servers close).', (p) => livePrepared(p).misses);
}
