#!/usr/bin/env node
// Cost of the relay's traffic counting (traffic.ts, duration-histogram.ts), per transaction, against what the same
// counting would cost through prom-client on the hot path; and the cost of writing the pool series at scrape time
// with gatehouse's own exposition against a prom-client registry holding the same series.
// Per transaction the relay reads the clock twice (round trip start and its ReadyForQuery), adds to plain fields
// of three objects (pool, client, server) and observes three durations (query, transaction, wait).
// Usage: npm run build && node bench/traffic-counting-cost.mjs [--ms 200] [--rounds 7] [--pools 100]
import { Counter, Histogram, Registry } from 'prom-client';
import { Exposition } from '../dist/src/observability/exposition.js';
import { writePoolSeries } from '../dist/src/observability/pool-series.js';
import { QUERY_BUCKETS, TRANSACTION_BUCKETS, WAIT_BUCKETS } from '../dist/src/observability/duration-histogram.js';
import { ClientTraffic, PoolTraffic, ServerTraffic } from '../dist/src/observability/traffic.js';
import { RelayCounters } from '../dist/src/proxy/relay-counters.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MS = arg('--ms', 200);
const ROUNDS = arg('--rounds', 7);
const POOLS = arg('--pools', 100);

/** Median ns per call of `fn` over ROUNDS rounds of about MS ms each. */
function measure(fn) {
  const results = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const until = start + BigInt(MS) * 1_000_000n;
    let now = start;
    while (now < until) {
      for (let i = 0; i < 1000; i++) fn(i);
      n += 1000;
      now = process.hrtime.bigint();
    }
    results.push(Number(now - start) / n);
  }
  return results.sort((a, b) => a - b)[ROUNDS >> 1];
}

// ---- per transaction ---------------------------------------------------------------------------------------
const pool = new PoolTraffic();
const client = new ClientTraffic('c1');
const server = new ServerTraffic();
let sink = 0;

const counters = new RelayCounters(pool, client);

/** What the relay does for one single-query transaction (Query in, answer out), through RelayCounters as relay.ts does. */
function countedTransaction(i) {
  client.waited(0, pool);
  counters.sent(server, true);
  counters.received(40 + (i & 1));
  server.sent += 40;
  server.received += 120;
  counters.delivered(120);
  counters.readyForQuery(0x49, server, false);
}

const registry = new Registry();
const labels = { user: 'app_user', database: 'appdb' };
const h = (name, buckets) => new Histogram({ name, help: name, labelNames: ['user', 'database'], buckets: [...buckets], registers: [registry] });
const c = (name, extra = []) => new Counter({ name, help: name, labelNames: ['user', 'database', ...extra], registers: [registry] });
const promQuery = h('q_seconds', QUERY_BUCKETS);
const promXact = h('x_seconds', TRANSACTION_BUCKETS);
const promWait = h('w_seconds', WAIT_BUCKETS);
const promQueries = c('queries_total');
const promXacts = c('xacts_total');
const promBytes = c('bytes_total', ['direction']);
const received = { ...labels, direction: 'received' };
const sent = { ...labels, direction: 'sent' };

/** The same counting through prom-client calls with label objects (the pool totals only). */
function promTransaction(i) {
  promWait.observe(labels, 0);
  const started = performance.now();
  promBytes.inc(received, 40);
  promBytes.inc(sent, 120);
  const micros = (performance.now() - started) * 1000 + (i & 1023);
  promQueries.inc(labels);
  promQuery.observe(labels, micros / 1e6);
  promXacts.inc(labels);
  promXact.observe(labels, micros / 1e6);
  sink += micros;
}

function nothing(i) {
  sink += i;
}

const base = measure(nothing);
const ours = measure(countedTransaction);
const prom = measure(promTransaction);

// ---- per scrape ----------------------------------------------------------------------------------------------
const views = [];
for (let p = 0; p < POOLS; p++) {
  const t = new PoolTraffic();
  for (let i = 0; i < 2000; i++) {
    t.queryDurations.observe(i * 3);
    t.transactionDurations.observe(i * 5);
    t.waitDurations.observe(i);
  }
  views.push({
    opts: { name: `db${p}`, user: 'app_user', size: 20 },
    stats: { idle: 3, active: 2, resetting: 0, connecting: 0, waiting: 0 },
    traffic: t,
    paused: false,
    statements: { size: 10, bytes: 2000 },
    connections: [],
  });
}
/** Mean ns per call of an expensive `fn` over about MS × ROUNDS ms. */
async function measureSlow(fn) {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < MS * ROUNDS) {
    await fn();
    n++;
  }
  return ((performance.now() - t0) * 1e6) / n;
}
// Every pool was busy since the last scrape (its percentiles are sorted again).
const scrapeOurs = await measureSlow(() => {
  for (const v of views) {
    v.traffic.queryDurations.observe(7);
    v.traffic.transactionDurations.observe(9);
  }
  const out = new Exposition();
  writePoolSeries(out, views);
  sink += out.text().length;
});
const scrapeRegistry = new Registry();
for (const [name, buckets] of [
  ['q', QUERY_BUCKETS],
  ['x', TRANSACTION_BUCKETS],
  ['w', WAIT_BUCKETS],
]) {
  const hist = new Histogram({ name: `s_${name}_seconds`, help: name, labelNames: ['user', 'database'], buckets: [...buckets], registers: [scrapeRegistry] });
  for (const v of views) hist.observe({ user: v.opts.user, database: v.opts.name }, 0.001);
}
const scrapeProm = await measureSlow(async () => {
  sink += (await scrapeRegistry.metrics()).length;
});

const fmt = (ns) => `${ns.toFixed(0)} ns`;
console.log(`per transaction (median of ${ROUNDS} rounds of ${MS} ms; loop overhead ${fmt(base)} subtracted):`);
console.log(`  gatehouse counters (3 objects, 3 durations, 2 clock reads): ${fmt(ours - base)}`);
console.log(`  prom-client calls for the pool totals only:                 ${fmt(prom - base)}  (${((prom - base) / (ours - base)).toFixed(1)}x)`);
console.log(`per scrape, ${POOLS} pools:`);
console.log(`  gatehouse exposition, every pool series (about 60 per pool): ${(scrapeOurs / 1e6).toFixed(2)} ms`);
console.log(`  prom-client registry, the three histograms only:             ${(scrapeProm / 1e6).toFixed(2)} ms`);
if (sink === 42 || pool.transactions === 0) console.log('');
