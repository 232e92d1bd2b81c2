// PgDoorman's Prometheus series, scraped over HTTP from /metrics after clients did known work through a session pool
// and a transaction pool (server TLS verify-full, client TLS required): every promised name has PgDoorman's type and
// label set, and its value is what the clients did — queries, transactions, errors by SQLSTATE class, bytes,
// prepared-statement hits and misses, waits, refused connections with PgDoorman's reason values.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectError, connectPg } from '../fixtures/clients.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';
import { encodeSslRequest } from '../../src/protocol/index.js';

const SESSION = 'sess';
const TX = 'tx';
const WAIT = 'wait';
const AQ = 'aq';
const EXECUTOR = { name: 'metrics_auth', password: 'metrics-auth-pass' };
const LOOKED_UP = { name: 'metrics_looked_up', password: 'metrics-looked-up-pass' };
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Each family's `# TYPE`, and the label names of its samples (histogram samples without `le`). */
function families(text: string): Map<string, { type: string; labelSets: Set<string> }> {
  const found = new Map<string, { type: string; labelSets: Set<string> }>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) found.set(type[1], { type: type[2], labelSets: new Set() });
  }
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? \S+$/.exec(line);
    if (!m) continue;
    const family = found.get(m[1]) ?? found.get(m[1].replace(/_(bucket|sum|count)$/, ''));
    if (!family) continue;
    const names = [...(m[2] ?? '').matchAll(/(\w+)="/g)].map((l) => l[1]).filter((n) => n !== 'le');
    family.labelSets.add(names.sort().join(','));
  }
  return found;
}

/** Promised families: type and the label names every sample carries. */
const POOL = 'database,user';
const PROMISED: Array<[string, string, string]> = [
  ['pg_doorman_build_info', 'gauge', 'version'],
  ['pg_doorman_users_configured', 'gauge', 'database,pool_mode,user'],
  ['pg_doorman_log_level', 'gauge', 'level'],
  ['pg_doorman_total_memory', 'gauge', ''],
  ['pg_doorman_connections_total', 'counter', 'type'],
  ['pg_doorman_sockets', 'gauge', 'type'],
  ['pg_doorman_pools_clients', 'gauge', 'database,status,user'],
  ['pg_doorman_pools_servers', 'gauge', 'database,status,user'],
  ['pg_doorman_pool_size', 'gauge', POOL],
  ['pg_doorman_pools_oldest_active_age_ms', 'gauge', POOL],
  ['pg_doorman_pools_paused', 'gauge', POOL],
  ['pg_doorman_pools_maxwait_microseconds', 'gauge', POOL],
  ['pg_doorman_pools_errors_total', 'counter', 'database,sqlstate,user'],
  ['pg_doorman_pools_bytes_total', 'counter', 'database,direction,user'],
  ['pg_doorman_pools_transactions_total', 'counter', POOL],
  ['pg_doorman_pools_queries_total', 'counter', POOL],
  ['pg_doorman_pools_query_duration_seconds', 'histogram', POOL],
  ['pg_doorman_pools_transaction_duration_seconds', 'histogram', POOL],
  ['pg_doorman_pools_wait_duration_seconds', 'histogram', POOL],
  ['pg_doorman_pool_prepared_cache_entries', 'gauge', POOL],
  ['pg_doorman_pool_prepared_cache_bytes', 'gauge', POOL],
  ['pg_doorman_clients_prepared_cache_entries', 'gauge', POOL],
  ['pg_doorman_clients_prepared_cache_bytes', 'gauge', POOL],
  ['pg_doorman_clients_prepared_named_entries', 'gauge', POOL],
  ['pg_doorman_clients_prepared_anonymous_entries', 'gauge', POOL],
  ['pg_doorman_servers_prepared_hits_total', 'counter', POOL],
  ['pg_doorman_servers_prepared_misses_total', 'counter', POOL],
  ['pg_doorman_backend_create_duration_seconds', 'histogram', 'phase'],
  ['pg_doorman_listener_rejections_total', 'counter', 'reason'],
  ['pg_doorman_server_tls_connections', 'gauge', 'pool'],
  ['pg_doorman_server_tls_handshake_duration_seconds', 'histogram', 'pool'],
  ['gatehouse_clients', 'gauge', ''],
];

/** Bytes of a simple Query message carrying `sql`. */
const queryBytes = (sql: string) => 1 + 4 + Buffer.byteLength(sql) + 1;

/** A raw client that sends an SSLRequest and, after the 'S', bytes that are not a TLS ClientHello. */
function brokenTlsHandshake(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(encodeSslRequest()));
    socket.once('data', (reply) => {
      if (reply.toString('latin1') !== 'S') return reject(new Error(`expected 'S', got ${reply.toString('latin1')}`));
      socket.write('GET / HTTP/1.1\r\n\r\n');
    });
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

/** A raw client that sends plaintext right behind its SSLRequest (CVE-2021-23214's injection). */
function bytesAfterSslRequest(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(Buffer.concat([encodeSslRequest(), Buffer.from('Q\0\0\0\x0dSELECT 1\0')])));
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

describe.each(FLAVORS)('PgDoorman metrics in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  const open: pg.Client[] = [];

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    await cluster.query(
      `CREATE ROLE ${EXECUTOR.name} LOGIN PASSWORD '${EXECUTOR.password}';
       CREATE ROLE ${LOOKED_UP.name} LOGIN PASSWORD '${LOOKED_UP.password}';
       -- Two startup parameters gatehouse cannot send: a number (bad_type) and a reserved name (invalid_entry).
       CREATE FUNCTION public.metrics_auth(name text) RETURNS TABLE (usename name, passwd text, startup_parameters jsonb)
         LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT usename, passwd, '{"work_mem": 5, "user": "x", "application_name": "via_auth_query"}'::jsonb
               FROM pg_catalog.pg_shadow WHERE usename = name $$;
       REVOKE ALL ON FUNCTION public.metrics_auth(text) FROM PUBLIC;
       GRANT EXECUTE ON FUNCTION public.metrics_auth(text) TO ${EXECUTOR.name};`,
      APP_DATABASE,
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  beforeEach(async () => {
    const pool = (mode: string) => poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: mode, users: [{ username: 'app_user', password: 'app-pass-1', pool_size: 1 }] });
    gh = await startGatehouse({
      general: { ...clientTls(pki), query_wait_timeout: 10_000 },
      pools: {
        [SESSION]: pool('session'),
        [TX]: pool('transaction'),
        [WAIT]: pool('session'),
        [AQ]: poolFor(cluster, pki, {
          server_database: APP_DATABASE,
          users: [],
          auth_query: { query: 'SELECT * FROM public.metrics_auth($1)', user: EXECUTOR.name, password: EXECUTOR.password, min_interval: '0ms' },
        }),
      },
      web: { enabled: true },
    });
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end().catch(() => {})));
    await gh?.stop();
  });

  const connect = async (database: string) => {
    const client = await connectPg(gh, pki, { database });
    open.push(client);
    return client;
  };

  it('exports every promised name with its type and labels, and counts what the clients did', async () => {
    // Session pool: 8 round trips, 3 transactions, errors 22012 (other) and 25P02.
    const a = await connect(SESSION);
    const sessionSql = ['BEGIN', 'SELECT 1', 'COMMIT', 'SELECT 2', 'BEGIN', 'SELECT 1/0', 'SELECT 1', 'ROLLBACK'];
    for (const sql of sessionSql) await a.query(sql).catch((err: Error & { code?: string }) => expect(['22012', '25P02']).toContain(err.code));

    // Transaction pool: a named statement executed twice (one miss, one hit), a simple query and a 26000 error.
    const b = await connect(TX);
    for (const v of [1, 2]) expect((await b.query({ name: 'p', text: 'SELECT $1::int AS v', values: [v] })).rows).toEqual([{ v }]);
    await b.query('SELECT 3');
    await expect(b.query('EXECUTE never_prepared')).rejects.toMatchObject({ code: '26000' });

    // Refused before login: plain text under tls_mode require, a wrong password, bytes after SSLRequest, a broken handshake.
    expect((await connectError(gh, pki, { database: SESSION, ssl: false })).code).toBe('28000');
    expect((await connectError(gh, pki, { database: SESSION, password: 'wrong' })).code).toBe('28P01');
    await bytesAfterSslRequest(gh.port);
    await brokenTlsHandshake(gh.port);

    const text = await gh.scrape();
    const found = families(text);
    for (const [name, type, labels] of PROMISED) {
      expect(found.get(name)?.type, `# TYPE of ${name}`).toBe(type);
      expect([...(found.get(name)?.labelSets ?? [])], `label names of ${name}`).toEqual([labels]);
    }
    const v = (name: string, labels: Record<string, string> = {}) => metricValue(text, name, labels);
    const sess = { database: SESSION, user: 'app_user' };
    const tx = { database: TX, user: 'app_user' };

    expect(v('pg_doorman_build_info', { version: VERSION })).toBe(1);
    expect(v('pg_doorman_users_configured', { ...sess, pool_mode: 'session' })).toBe(1);
    expect(v('pg_doorman_users_configured', { ...tx, pool_mode: 'transaction' })).toBe(1);
    expect(v('pg_doorman_log_level', { level: 'info' })).toBe(1);
    expect(v('pg_doorman_total_memory')).toBeGreaterThan(10_000_000);
    // The listener, the web listener, two backends and the two clients at least.
    expect(v('pg_doorman_sockets', { type: 'tcp' }) + v('pg_doorman_sockets', { type: 'tcp6' })).toBeGreaterThanOrEqual(6);

    expect(v('pg_doorman_pools_queries_total', sess)).toBe(8);
    expect(v('pg_doorman_pools_transactions_total', sess)).toBe(3);
    expect(v('pg_doorman_pools_errors_total', { ...sess, sqlstate: 'other' })).toBe(1);
    expect(v('pg_doorman_pools_errors_total', { ...sess, sqlstate: '25P02' })).toBe(1);
    expect(v('pg_doorman_pools_errors_total', { ...sess, sqlstate: '26000' })).toBe(0);
    expect(v('pg_doorman_pools_bytes_total', { ...sess, direction: 'received' })).toBe(sessionSql.reduce((n, sql) => n + queryBytes(sql), 0));
    expect(v('pg_doorman_pools_bytes_total', { ...sess, direction: 'sent' })).toBeGreaterThan(8 * 6); // a ReadyForQuery each at least

    expect(v('pg_doorman_pools_queries_total', tx)).toBe(4);
    expect(v('pg_doorman_pools_transactions_total', tx)).toBe(4);
    expect(v('pg_doorman_pools_errors_total', { ...tx, sqlstate: '26000' })).toBe(1);
    expect(v('pg_doorman_pools_errors_total', { ...tx, sqlstate: 'other' })).toBe(0);
    expect(v('pg_doorman_servers_prepared_misses_total', tx)).toBe(1);
    expect(v('pg_doorman_servers_prepared_hits_total', tx)).toBe(1);
    expect(v('pg_doorman_pool_prepared_cache_entries', tx)).toBe(1);
    expect(v('pg_doorman_pool_prepared_cache_bytes', tx)).toBeGreaterThan(Buffer.byteLength('SELECT $1::int AS v'));
    expect(v('pg_doorman_clients_prepared_named_entries', tx)).toBe(1);
    expect(v('pg_doorman_clients_prepared_cache_entries', tx)).toBe(1);
    expect(v('pg_doorman_clients_prepared_anonymous_entries', tx)).toBe(0);
    expect(v('pg_doorman_servers_prepared_hits_total', sess)).toBe(0);

    // Histograms: one observation per query, transaction and checkout (tx: the welcome's, then one per transaction).
    expect(v('pg_doorman_pools_query_duration_seconds_count', sess)).toBe(8);
    expect(v('pg_doorman_pools_query_duration_seconds_bucket', { ...sess, le: '+Inf' })).toBe(8);
    expect(v('pg_doorman_pools_transaction_duration_seconds_count', tx)).toBe(4);
    expect(v('pg_doorman_pools_wait_duration_seconds_count', sess)).toBe(1);
    expect(v('pg_doorman_pools_wait_duration_seconds_count', tx)).toBe(5);
    expect(v('pg_doorman_pools_query_duration_seconds_sum', sess)).toBeGreaterThan(0);
    const buckets = ['0.0005', '0.005', '0.05', '0.5', '5', '+Inf'].map((le) => v('pg_doorman_pools_query_duration_seconds_bucket', { ...sess, le }));
    expect([...buckets].sort((x, y) => x - y), 'cumulative').toEqual(buckets);

    // Both clients are connected: a's session holds its server, b's transactions gave theirs back.
    expect(v('pg_doorman_pools_clients', { ...sess, status: 'active' })).toBe(1);
    expect(v('pg_doorman_pools_clients', { ...tx, status: 'idle' })).toBe(1);
    expect(v('pg_doorman_pools_clients', { ...tx, status: 'waiting' })).toBe(0);
    expect(v('pg_doorman_pools_servers', { ...sess, status: 'active' })).toBe(1);
    expect(v('pg_doorman_pools_servers', { ...tx, status: 'idle' })).toBe(1);
    expect(v('pg_doorman_pools_oldest_active_age_ms', sess)).toBeGreaterThan(0);
    expect(v('pg_doorman_pools_oldest_active_age_ms', tx)).toBe(0);
    expect(v('pg_doorman_pool_size', sess)).toBe(1);
    expect(v('pg_doorman_pools_paused', sess)).toBe(0);
    // a's login waited for its backend to be opened.
    expect(v('pg_doorman_pools_maxwait_microseconds', sess)).toBeGreaterThan(0);

    for (const phase of ['tcp_connect', 'tls', 'auth', 'startup']) expect(v('pg_doorman_backend_create_duration_seconds_count', { phase })).toBe(2);
    expect(v('pg_doorman_server_tls_connections', { pool: SESSION })).toBe(1);
    expect(v('pg_doorman_connections_total', { type: 'total' })).toBe(6);
    expect(v('pg_doorman_connections_total', { type: 'tls' })).toBe(3);
    expect(v('pg_doorman_connections_total', { type: 'plain' })).toBe(1);
    for (const reason of ['tls_required', 'protocol_error', 'tls_handshake_fail', 'auth_failed']) {
      expect(v('pg_doorman_listener_rejections_total', { reason }), reason).toBe(1);
    }
    expect(text).not.toMatch(/reason="tls_handshake_failed"/);
  });

  it('shows a client waiting for a server, how long it has waited, and its wait once served', async () => {
    const holder = await connect(WAIT);
    await holder.query('SELECT 1');
    const waiting = connectPg(gh, pki, { database: WAIT });
    const pool = { database: WAIT, user: 'app_user' };
    await waitUntil('a client waiting in the scrape', async () => metricValue(await gh.scrape(), 'pg_doorman_pools_clients', { ...pool, status: 'waiting' }) === 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const during = await gh.scrape();
    expect(metricValue(during, 'pg_doorman_pools_maxwait_microseconds', pool)).toBeGreaterThanOrEqual(300_000);
    expect(metricValue(during, 'pg_doorman_pools_clients', { ...pool, status: 'active' })).toBe(1);
    await holder.end();
    open.splice(open.indexOf(holder), 1);
    const served = await waiting;
    open.push(served);
    await served.query('SELECT 1');
    const after = await gh.scrape();
    expect(metricValue(after, 'pg_doorman_pools_clients', { ...pool, status: 'waiting' })).toBe(0);
    expect(metricValue(after, 'pg_doorman_pools_wait_duration_seconds_count', pool)).toBe(2);
    expect(metricValue(after, 'pg_doorman_pools_wait_duration_seconds_sum', pool)).toBeGreaterThanOrEqual(0.3);
    // The waiter's wait (≥ 300 ms) lies above the 0.1 s bound.
    const bucket = (le: string) => metricValue(after, 'pg_doorman_pools_wait_duration_seconds_bucket', { ...pool, le });
    expect(bucket('+Inf') - bucket('0.1')).toBeGreaterThanOrEqual(1);
    // The waiter is still connected: its wait keeps pools_maxwait up, as in PgDoorman.
    expect(metricValue(after, 'pg_doorman_pools_maxwait_microseconds', pool)).toBeGreaterThanOrEqual(300_000);
  });

  it('counts a session that fails after login as a session failure, not a listener rejection, and its FATAL 57P01 in group 57', async () => {
    const client = await connect(SESSION);
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await cluster.query(`SELECT pg_terminate_backend(${pid})`, APP_DATABASE);
    await waitUntil('the session to end', () => gh.gateway.clientCount === 0, 5000);
    const text = await gh.scrape();
    expect(metricValue(text, 'gatehouse_session_failures_total', { reason: 'server_lost' })).toBe(1);
    expect(text).not.toMatch(/pg_doorman_listener_rejections_total\{reason="server_lost"\}/);
    expect(metricValue(text, 'pg_doorman_pools_errors_total', { database: SESSION, user: 'app_user', sqlstate: '57' })).toBe(1);
  });

  it("counts auth_query's cache hits and misses, its queries, logins and the pools it made", async () => {
    const login = { database: AQ, user: LOOKED_UP.name, password: LOOKED_UP.password };
    for (let i = 0; i < 2; i++) {
      const c = await connectPg(gh, pki, login);
      await c.query('SELECT 1');
      await c.end();
    }
    // A wrong password: answered from the cache, then the entry is dropped so that the next login fetches again.
    expect((await connectError(gh, pki, { ...login, password: 'wrong' })).code).toBe('28P01');
    const text = await gh.scrape();
    const v = (name: string, labels: Record<string, string>) => metricValue(text, name, { database: AQ, ...labels });
    const found = families(text);
    for (const [family, type, labels] of [
      ['pg_doorman_auth_query_cache', 'gauge', 'database,type'],
      ['pg_doorman_auth_query_cache_total', 'counter', 'database,type'],
      ['pg_doorman_auth_query_auth_total', 'counter', 'database,result'],
      ['pg_doorman_auth_query_executor_total', 'counter', 'database,type'],
      ['pg_doorman_auth_query_dynamic_pools', 'gauge', 'database,type'],
      ['pg_doorman_startup_parameters_dropped_total', 'counter', 'pool,reason'],
    ]) {
      expect(found.get(family)?.type, family).toBe(type);
      expect([...(found.get(family)?.labelSets ?? [])], family).toEqual([labels]);
    }
    expect(v('pg_doorman_auth_query_cache_total', { type: 'misses' })).toBe(1);
    expect(v('pg_doorman_auth_query_cache_total', { type: 'hits' })).toBe(2);
    expect(v('pg_doorman_auth_query_cache_total', { type: 'refetches' })).toBe(1);
    expect(v('pg_doorman_auth_query_cache_total', { type: 'rate_limited' })).toBe(0);
    expect(v('pg_doorman_auth_query_cache', { type: 'entries' })).toBe(0);
    expect(v('pg_doorman_auth_query_executor_total', { type: 'queries' })).toBe(1);
    expect(v('pg_doorman_auth_query_executor_total', { type: 'errors' })).toBe(0);
    expect(v('pg_doorman_auth_query_auth_total', { result: 'success' })).toBe(2);
    expect(v('pg_doorman_auth_query_auth_total', { result: 'failure' })).toBe(1);
    expect(v('pg_doorman_auth_query_dynamic_pools', { type: 'current' })).toBe(1);
    // One fetch, two of its three entries dropped.
    expect(metricValue(text, 'pg_doorman_startup_parameters_dropped_total', { pool: AQ, reason: 'auth_query_bad_type' })).toBe(1);
    expect(metricValue(text, 'pg_doorman_startup_parameters_dropped_total', { pool: AQ, reason: 'auth_query_invalid_entry' })).toBe(1);
    expect(metricValue(text, 'pg_doorman_startup_parameters_dropped_total', { pool: AQ, reason: 'auth_query_invalid_json' })).toBe(0);
    // The looked-up user's pool is a pool like the others.
    expect(metricValue(text, 'pg_doorman_pools_queries_total', { database: AQ, user: LOOKED_UP.name })).toBe(2);
  });
});
