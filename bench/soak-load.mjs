#!/usr/bin/env node
// bench/soak-load.mjs — the load half of bench/soak.sh: mixed clients through gatehouse's two soak pools for
// --seconds, a sample of gatehouse's health every --interval seconds (samples.csv), and every error, classified
// (errors.csv, and the totals in load-summary.json). SIGUSR1: PostgreSQL is being restarted; SIGUSR2: it is back.
// Errors a restart causes (below) are "expected" from SIGUSR1 until RESTART_GRACE_MS after SIGUSR2; any other
// error anywhere is "unexpected". Environment: the variables of bench/setup.mjs's state.env (--soak) and
// GATEHOUSE_PID.
//
//   node bench/soak-load.mjs --seconds 1800 --out DIR [--interval 5] [--clk-tck 100]
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import postgres from 'postgres';
import { SAMPLE_COLUMNS, gatehouseSampler } from './soak-sample.mjs';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string' },
    out: { type: 'string' },
    interval: { type: 'string', default: '5' },
    'clk-tck': { type: 'string', default: '100' },
  },
});
const env = process.env;
const SECONDS = Number(opts.seconds);
const OUT = opts.out;
const INTERVAL_MS = Number(opts.interval) * 1000;
if (!(SECONDS > 0) || !OUT || !env.SOAK_PORT || !env.GATEHOUSE_PID) {
  process.stderr.write('soak-load.mjs: --seconds N --out DIR and the state.env variables (SOAK_PORT, …, GATEHOUSE_PID) are required\n');
  process.exit(2);
}

const PG_WORKERS_PER_POOL = 3;
const POSTGRES_JS_CONCURRENCY = 4;
const COPY_ROWS = 30_000; // ≈ 3 MB in, the same out, per round
const COPY_PAUSE_MS = 10_000;
const CANCEL_EVERY_MS = 5_000;
const CANCEL_AFTER_MS = 300;
const STORM_EVERY_MS = 60_000;
const STORM_CLIENTS = 50;
const ADMIN_EVERY_MS = 30_000;
const RESTART_GRACE_MS = 20_000;
const ERROR_LINES_KEPT = 2000;

/** What a PostgreSQL fast shutdown and the minutes after it look like to a client of gatehouse. */
const EXPECTED_CODES = new Set([
  '57P01', // admin_shutdown: terminating connection due to administrator command (fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the database system is starting up / shutting down
  '08006', // connection_failure (gatehouse's answer when its server connection drops)
  '08001', // sqlclient_unable_to_establish_sqlconnection (gatehouse cannot reach PostgreSQL yet)
  '08003', // connection_does_not_exist
  '08000', // connection_exception
  'CONNECTION_CLOSED', // postgres.js: the socket closed under a query
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNRESET',
  'EPIPE',
]);
const EXPECTED_TEXT = /Connection terminated|terminating connection|server closed the connection|database system is (shutting down|starting up)/i;

const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stopping = false;
/** sleep(ms), cut short when the run ends. */
async function pause(ms) {
  const until = performance.now() + ms;
  while (!stopping && performance.now() < until) await sleep(Math.min(200, until - performance.now()));
}
let restartBegin = null;
let restartEnd = null;
process.on('SIGUSR1', () => (restartBegin = performance.now()));
process.on('SIGUSR2', () => (restartEnd = performance.now()));
process.on('SIGTERM', () => (stopping = true));
process.on('SIGINT', () => (stopping = true));
const inRestart = () => restartBegin !== null && (restartEnd === null || performance.now() < restartEnd + RESTART_GRACE_MS);

// --- counters and errors ---------------------------------------------------------------------------------------------
const counts = { queries: 0, copyBytes: 0, cancelsOk: 0, stormsOk: 0, stormClientsOk: 0, adminOk: 0, copiesOk: 0 };
const errorTotals = { expected: new Map(), unexpected: new Map() };
let errorsExpected = 0;
let errorsUnexpected = 0;
let errorLines = 0;
const errorsCsv = fs.createWriteStream(path.join(OUT, 'errors.csv'));
errorsCsv.write('t_s,worker,class,code,message\n');

function errorCode(err) {
  return String(err?.code ?? err?.errno ?? '');
}

function record(worker, err) {
  const code = errorCode(err);
  const message = String(err?.message ?? err).split('\n')[0];
  const expected = inRestart() && (EXPECTED_CODES.has(code) || EXPECTED_TEXT.test(message));
  const cls = expected ? 'expected' : 'unexpected';
  if (expected) errorsExpected++;
  else errorsUnexpected++;
  const key = `${code || '-'} ${message.replace(/\d+/g, 'N')}`;
  const totals = errorTotals[cls];
  totals.set(key, (totals.get(key) ?? 0) + 1);
  if (errorLines++ < ERROR_LINES_KEPT) {
    errorsCsv.write(`${elapsed().toFixed(1)},${worker},${cls},${code},"${message.replace(/"/g, '""')}"\n`);
  }
  if (!expected) process.stderr.write(`soak-load.mjs: unexpected error at ${elapsed().toFixed(1)} s in ${worker}: ${code} ${message}\n`);
}

function check(condition, what) {
  if (!condition) throw new Error(`wrong result: ${what}`);
}

// postgres.js 3.4 can throw from a setImmediate after its socket closed (connection.js nextWrite: `socket` is null),
// seen once during a PostgreSQL restart. It is the client library's own race, not an answer from gatehouse: inside
// the restart window it is counted as expected under its own name; anywhere else it is unexpected.
process.on('uncaughtException', (err) => {
  if (!/node_modules\/postgres\//.test(err?.stack ?? '')) {
    process.stderr.write(`soak-load.mjs: ${err?.stack ?? err}\n`);
    process.exit(1);
  }
  const wrapped = Object.assign(new Error(`postgres.js internal ${err.name}: ${err.message}`), {
    code: inRestart() ? 'CONNECTION_CLOSED' : 'POSTGRES_JS_INTERNAL',
  });
  record('postgres.js', wrapped);
});

// --- connections ---------------------------------------------------------------------------------------------------
const ca = fs.readFileSync(env.CA_FILE, 'utf8');
const DATABASES = { session: env.SOAK_SESSION_DB, transaction: env.SOAK_TRANSACTION_DB };
const pgConfig = (database, name) => ({
  host: '127.0.0.1',
  port: Number(env.SOAK_PORT),
  database,
  user: env.BENCH_USER,
  password: env.BENCH_PASSWORD,
  ssl: { ca, rejectUnauthorized: true },
  application_name: `soak-${name}`,
  connectionTimeoutMillis: 15_000,
});

/** A connected pg.Client whose asynchronous 'error' (a server-side close while idle) is kept as `broken`. */
async function pgClient(config) {
  const client = new pg.Client(config);
  client.on('error', (err) => (client.broken ??= err));
  await client.connect();
  return client;
}

const postgresJs = (mode, max, name) =>
  postgres({
    host: '127.0.0.1',
    port: Number(env.SOAK_PORT),
    database: DATABASES[mode],
    username: env.BENCH_USER,
    password: env.BENCH_PASSWORD,
    ssl: { ca, rejectUnauthorized: true },
    max,
    prepare: true,
    connect_timeout: 15,
    connection: { application_name: `soak-${name}` },
    onnotice: () => {},
  });

// --- workers ---------------------------------------------------------------------------------------------------------
/** node-postgres, one client: a named prepared statement, a simple query and every 20th round a transaction. */
async function pgWorker(mode, id) {
  const name = `pg-${mode}-${id}`;
  let n = 0;
  while (!stopping) {
    let client;
    try {
      client = await pgClient(pgConfig(DATABASES[mode], name));
      while (!stopping) {
        n++;
        const a = await client.query({ name: 'soak_add', text: 'SELECT $1::int + 1 AS n', values: [n] });
        check(a.rows[0].n === n + 1, `${name} prepared SELECT`);
        const b = await client.query('SELECT count(*)::int AS c FROM generate_series(1, 100)');
        check(b.rows[0].c === 100, `${name} simple SELECT`);
        counts.queries += 2;
        if (n % 20 === 0) {
          await client.query('BEGIN');
          await client.query('INSERT INTO soak_kv (worker, n) VALUES ($1, $2)', [name, n]);
          const c = await client.query('SELECT count(*)::int AS c FROM soak_kv WHERE worker = $1 AND n = $2', [name, n]);
          check(c.rows[0].c === 1, `${name} INSERT visible in its transaction`);
          await client.query('COMMIT');
          counts.queries += 4;
        }
      }
    } catch (err) {
      record(name, client?.broken ?? err);
      await sleep(inRestart() ? 1000 : 250);
    } finally {
      await client?.end().catch(() => {});
    }
  }
}

/** postgres.js in transaction pooling: concurrent prepared statements and short transactions on one pool of 4. */
async function postgresJsWorker() {
  const sql = postgresJs('transaction', POSTGRES_JS_CONCURRENCY, 'postgresjs');
  const loop = async (id) => {
    const name = `postgresjs-${id}`;
    let n = 0;
    while (!stopping) {
      try {
        n++;
        const [row] = await sql`SELECT ${n}::int * 2 AS n`;
        check(row.n === 2 * n, `${name} SELECT`);
        counts.queries++;
        if (n % 10 === 0) {
          const [{ c }] = await sql.begin(async (tx) => {
            await tx`INSERT INTO soak_kv (worker, n) VALUES (${name}, ${n})`;
            return tx`SELECT count(*)::int AS c FROM soak_kv WHERE worker = ${name} AND n = ${n}`;
          });
          check(c === 1, `${name} transaction`);
          counts.queries += 4;
        }
      } catch (err) {
        record(name, err);
        await sleep(inRestart() ? 1000 : 250);
      }
    }
  };
  await Promise.all(Array.from({ length: POSTGRES_JS_CONCURRENCY }, (_, i) => loop(i)));
  await sql.end({ timeout: 5 });
}

function* copyRows() {
  const payload = 'x'.repeat(90);
  for (let i = 0; i < COPY_ROWS; i++) yield `${i}\t${payload}\n`;
}

/** COPY FROM STDIN then COPY TO STDOUT of ≈ 3 MB each way, every COPY_PAUSE_MS, through one pool. */
async function copyWorker(mode) {
  const name = `copy-${mode}`;
  const table = `soak_copy_${mode}`;
  const sql = postgresJs(mode, 1, name);
  while (!stopping) {
    try {
      await sql`TRUNCATE ${sql(table)}`;
      const writable = await sql`COPY ${sql(table)} (id, payload) FROM STDIN`.writable();
      await pipeline(Readable.from(copyRows()), writable);
      const [{ c }] = await sql`SELECT count(*)::int AS c FROM ${sql(table)}`;
      check(c === COPY_ROWS, `${name} rows after COPY FROM STDIN (${c})`);
      const readable = await sql`COPY ${sql(table)} TO STDOUT`.readable();
      let bytes = 0;
      let lines = 0;
      for await (const chunk of readable) {
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 10) lines++;
      }
      check(lines === COPY_ROWS, `${name} rows from COPY TO STDOUT (${lines})`);
      counts.copyBytes += 2 * bytes;
      counts.copiesOk++;
      counts.queries += 4;
    } catch (err) {
      record(name, err);
    }
    await pause(COPY_PAUSE_MS);
  }
  await sql.end({ timeout: 5 });
}

/** pg_sleep(5) cancelled after CANCEL_AFTER_MS with the client's CancelRequest, every CANCEL_EVERY_MS. postgres.js
 *  sends it over TLS on a new connection; gatehouse must route it to the server that runs the query. */
async function cancelWorker(mode) {
  const name = `cancel-${mode}`;
  const sql = postgresJs(mode, 1, name);
  while (!stopping) {
    try {
      const query = sql`SELECT pg_sleep(5)`;
      const timer = setTimeout(() => query.cancel(), CANCEL_AFTER_MS);
      try {
        await query;
        throw new Error('pg_sleep(5) finished: the cancel was not honoured');
      } catch (err) {
        if (err.code !== '57014') throw err;
        counts.cancelsOk++;
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      record(name, err);
    }
    await pause(CANCEL_EVERY_MS);
  }
  await sql.end({ timeout: 5 });
}

/** STORM_CLIENTS clients at once, half per pool: connect, SELECT 1, leave; every STORM_EVERY_MS. */
async function stormWorker() {
  await pause(15_000);
  while (!stopping) {
    const storm = Array.from({ length: STORM_CLIENTS }, async (_, i) => {
      const mode = i % 2 === 0 ? 'session' : 'transaction';
      let client;
      try {
        client = await pgClient(pgConfig(DATABASES[mode], `storm-${mode}`));
        const r = await client.query('SELECT 1 AS one');
        check(r.rows[0].one === 1, 'storm SELECT 1');
        counts.queries++;
        counts.stormClientsOk++;
      } catch (err) {
        record(`storm-${mode}`, client?.broken ?? err);
      } finally {
        await client?.end().catch(() => {});
      }
    });
    await Promise.all(storm);
    counts.stormsOk++;
    await pause(STORM_EVERY_MS);
  }
}

/** The admin console: SHOW POOLS, SHOW SERVERS and SHOW CLIENTS on a new connection every ADMIN_EVERY_MS. */
async function adminWorker() {
  while (!stopping) {
    let client;
    try {
      client = await pgClient({ ...pgConfig('pgdoorman', 'admin'), user: 'admin', password: env.SOAK_ADMIN_PASSWORD });
      const pools = await client.query('SHOW POOLS');
      check(pools.rows.length >= 2, `SHOW POOLS returned ${pools.rows.length} rows`);
      await client.query('SHOW SERVERS');
      await client.query('SHOW CLIENTS');
      counts.adminOk++;
    } catch (err) {
      record('admin', client?.broken ?? err);
    } finally {
      await client?.end().catch(() => {});
    }
    await pause(ADMIN_EVERY_MS);
  }
}

// --- sampler ----------------------------------------------------------------------------------------------------------
async function samplerLoop() {
  const sample = gatehouseSampler({
    pid: Number(env.GATEHOUSE_PID),
    metricsUrl: `http://127.0.0.1:${env.SOAK_WEB_PORT}/metrics`,
    clkTck: Number(opts['clk-tck']),
  });
  const csv = fs.createWriteStream(path.join(OUT, 'samples.csv'));
  csv.write(`${SAMPLE_COLUMNS.join(',')}\n`);
  let last = { queries: 0, at: performance.now() };
  let next = performance.now();
  while (!stopping) {
    next += INTERVAL_MS;
    await sleep(Math.max(0, next - performance.now()));
    if (stopping) break;
    let row;
    try {
      row = await sample();
    } catch (err) {
      record('sampler', err);
      if (!fs.existsSync(`/proc/${env.GATEHOUSE_PID}`)) stopping = true;
      continue;
    }
    const now = performance.now();
    Object.assign(row, {
      t_s: elapsed(),
      queries: counts.queries,
      qps: ((counts.queries - last.queries) * 1000) / (now - last.at),
      copy_mb: counts.copyBytes / 2 ** 20,
      expected_errors: errorsExpected,
      unexpected_errors: errorsUnexpected,
      in_restart: inRestart() ? 1 : 0,
    });
    last = { queries: counts.queries, at: now };
    csv.write(`${SAMPLE_COLUMNS.map((c) => (Number.isFinite(row[c]) ? +row[c].toFixed(3) : '')).join(',')}\n`);
  }
  await new Promise((resolve) => csv.end(resolve));
}

// --- main -------------------------------------------------------------------------------------------------------------
async function prepareTables() {
  const client = await pgClient(pgConfig(DATABASES.session, 'setup'));
  await client.query(`
    CREATE TABLE IF NOT EXISTS soak_kv (worker text NOT NULL, n int NOT NULL);
    CREATE TABLE IF NOT EXISTS soak_copy_session (id int, payload text);
    CREATE TABLE IF NOT EXISTS soak_copy_transaction (id int, payload text)`);
  await client.end();
}

async function main() {
  await prepareTables();
  setTimeout(() => (stopping = true), SECONDS * 1000).unref();
  const workers = [samplerLoop(), postgresJsWorker(), stormWorker(), adminWorker()];
  for (const mode of ['session', 'transaction']) {
    for (let i = 0; i < PG_WORKERS_PER_POOL; i++) workers.push(pgWorker(mode, i));
    workers.push(copyWorker(mode), cancelWorker(mode));
  }
  const done = Promise.all(workers);
  // The end: every worker finishes its round (a pg_sleep, a storm); 60 s at most.
  const wait = async () => {
    while (!stopping) await sleep(200);
    await Promise.race([done, sleep(60_000).then(() => record('driver', new Error('workers did not finish within 60 s of the end')))]);
  };
  await wait();
  const summary = {
    seconds: elapsed(),
    counts,
    errors: {
      expected: errorsExpected,
      unexpected: errorsUnexpected,
      expectedByKind: Object.fromEntries(errorTotals.expected),
      unexpectedByKind: Object.fromEntries(errorTotals.unexpected),
    },
  };
  fs.writeFileSync(path.join(OUT, 'load-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await new Promise((resolve) => errorsCsv.end(resolve));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`soak-load.mjs: ${err.stack ?? err}\n`);
  process.exit(1);
});
