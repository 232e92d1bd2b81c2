import { describe, expect, it } from 'vitest';
import { clientCounters, serverCounters, showPoolsExtendedTraffic, showPoolsTraffic, showStats, STATS_PERIOD_MS } from '../../../src/observability/admin-snapshot.js';
import type { PoolView, ServerView } from '../../../src/observability/pool-view.js';
import { ClientTraffic, PoolTraffic, ServerTraffic } from '../../../src/observability/traffic.js';

function server(state: ServerView['state'], activeSince: number): ServerView {
  const traffic = Object.assign(new ServerTraffic(), { activeSince, transactions: 2, queries: 5, sent: 100, received: 900, preparedHits: 3, preparedMisses: 1 });
  return { id: 's1', state, createdAt: 0, tls: null, traffic, statements: { size: 4 }, backendKey: null, holder: null };
}

function pool(traffic = new PoolTraffic(), connections: ServerView[] = []): PoolView {
  return {
    opts: { name: 'app', user: 'u', size: 3 },
    stats: { idle: 0, active: 0, resetting: 0, connecting: 0, waiting: 0 },
    traffic,
    paused: false,
    statements: { size: 0, bytes: 0 },
    connections,
  };
}

/** Work done in a period: `n` transactions of one query each, `micros` long, `bytes` each way. */
function work(t: PoolTraffic, n: number, micros: number, bytes: number): void {
  for (let i = 0; i < n; i++) {
    t.transactions++;
    t.queries++;
    t.transactionMicros += micros;
    t.queryMicros += micros;
    t.transactionDurations.observe(micros);
    t.queryDurations.observe(micros);
  }
  t.received += bytes;
  t.sent += bytes;
}

describe('admin snapshot', () => {
  it('SHOW STATS has totals and, per second, the averages of the last stats period', () => {
    const t = new PoolTraffic();
    const p = pool(t);
    work(t, 30, 2_000, 3_000);
    t.error(5);
    const start = t.createdAt;
    // Before the first period closes: averages since the pool was made (10 s).
    expect(showStats([p], start + 10_000)[0]).toMatchObject({ avg_xact_count: 3, avg_recv: 300, avg_xact_time: 2_000 });
    // The first period closes at its first reading after 15 s: 30 transactions in 20 s.
    const [row] = showStats([p], start + 20_000);
    expect(row).toEqual({
      database: 'app',
      user: 'u',
      total_xact_count: 30,
      total_query_count: 30,
      total_received: 3_000,
      total_sent: 3_000,
      total_xact_time: 60_000,
      total_query_time: 60_000,
      total_wait_time: 0,
      total_errors: 1,
      avg_xact_count: 2,
      avg_query_count: 2,
      avg_recv: 150,
      avg_sent: 150,
      avg_errors: 0,
      avg_xact_time: 2_000,
      avg_query_time: 2_000,
      avg_wait_time: 0,
    });
    // Work in the next period shows only once that period closes; until then the closed one's averages stay.
    work(t, 15, 10_000, 0);
    expect(showStats([p], start + 25_000)[0].avg_xact_time).toBe(2_000);
    // A millisecond past the period's end: `start` is a fractional performance.now(), and (start + 35 s) − (start + 20 s)
    // can come out a hair under 15 s in floating point.
    expect(showStats([p], start + 20_000 + STATS_PERIOD_MS + 1)[0]).toMatchObject({ avg_xact_count: 1, avg_xact_time: 10_000, total_xact_count: 45 });
  });

  it("SHOW POOLS' maxwait is whole seconds plus microseconds, counting a wait under way, and the oldest checkout's age", () => {
    const t = new PoolTraffic();
    const waiting = new ClientTraffic('c1');
    waiting.waitingSince = 1_000;
    const served = Object.assign(new ClientTraffic('c2'), { maxWaitMicros: 700 });
    t.clients.add(waiting).add(served);
    const p = pool(t, [server('active', 500), server('idle', 0)]);
    expect(showPoolsTraffic(p, 3_500)).toEqual({ maxwait: 2, maxwait_us: 500_000, avg_xact_time: 0, oldest_active_age_ms: 3_000 });
  });

  it("SHOW POOLS_EXTENDED has PgDoorman's bytes_recieved spelling and percentiles in microseconds", () => {
    const t = new PoolTraffic();
    work(t, 1, 100, 10);
    work(t, 99, 1_000, 0);
    expect(showPoolsExtendedTraffic(pool(t))).toEqual({
      bytes_recieved: 10,
      bytes_sent: 10,
      'query_0.99': 1_000,
      'transaction_0.99': 1_000,
      'query_0.95': 1_000,
      'transaction_0.95': 1_000,
      'query_0.5': 1_000,
      'transaction_0.5': 1_000,
    });
  });

  it('gives SHOW CLIENTS and SHOW SERVERS their counters', () => {
    const c = Object.assign(new ClientTraffic('c9'), { transactions: 4, queries: 9, errors: 1 });
    expect(clientCounters(c)).toEqual({ transaction_count: 4, query_count: 9, error_count: 1 });
    expect(serverCounters(server('idle', 0))).toEqual({
      transaction_count: 2,
      query_count: 5,
      bytes_sent: 100,
      bytes_received: 900,
      prepare_cache_hit: 3,
      prepare_cache_miss: 1,
      prepare_cache_size: 4,
    });
  });
});
