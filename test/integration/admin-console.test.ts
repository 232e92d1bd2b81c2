/**
 * The admin console as PgDoorman's and PgBouncer's operators use it: psql, psycopg2 and node-postgres
 * on database pgdoorman (or pgbouncer), SHOW tables with PgDoorman's columns that count what the test
 * opened, and PAUSE, RESUME, RECONNECT, KILL, SET log_level, SHUTDOWN acting on real connections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ADMIN_SETTINGS, adminPg, psqlAdmin } from '../fixtures/admin.js';
import { backendPid, connectError, connectPg, settledWithin } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, backendsOf, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { psycopg2ConnectError, psycopg2Session } from '../fixtures/psycopg2.js';
import { waitUntil } from '../fixtures/wait.js';

const SESSION = 'sess';
const TX = 'tx';

/** PgDoorman's columns, in order (notes §5), which scripts written for it parse. */
const COLUMNS: Record<string, string> = {
  HELP: 'item',
  CONFIG: 'key value default changeable',
  DATABASES: 'name host port database force_user pool_size min_pool_size reserve_pool pool_mode max_connections current_connections',
  POOLS:
    'database user pool_mode cl_idle cl_active cl_waiting cl_cancel_req sv_active sv_idle sv_used sv_login pool_size maxwait maxwait_us avg_xact_time paused fallback_active oldest_active_age_ms',
  POOLS_EXTENDED:
    'database user cl_active cl_waiting sv_active sv_idle sv_used sv_login pool_size maxwait maxwait_us pool_mode bytes_recieved bytes_sent query_0.99 transaction_0.99 query_0.95 transaction_0.95 query_0.5 transaction_0.5',
  STATS:
    'database user total_xact_count total_query_count total_received total_sent total_xact_time total_query_time total_wait_time total_errors avg_xact_count avg_query_count avg_recv avg_sent avg_errors avg_xact_time avg_query_time avg_wait_time',
  CLIENTS: 'client_id database user application_name addr tls state wait transaction_count query_count error_count age_seconds',
  SERVERS:
    'server_id server_process_id database_name user application_name tls state wait transaction_count query_count bytes_sent bytes_received age_seconds prepare_cache_hit prepare_cache_miss prepare_cache_size',
  LISTS: 'list items',
  USERS: 'name pool_mode',
  PEERS: 'peer_id host port pool_size',
  CONNECTIONS: 'total errors tls plain cancel',
  PREPARED_STATEMENTS: 'pool hash name query count_used kind',
  VERSION: 'version',
  LOG_LEVEL: 'log_level',
  MACHINES: 'connection machine state age_seconds last_event events',
};

const flavor = FLAVORS[0];

describe(`admin console in front of ${flavor}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  const show = (what: string) => psqlAdmin(gh, pki, `SHOW ${what}`);
  const poolRow = async (database: string) => (await show('POOLS')).rows.find((r) => r.database === database)!;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    const users = [{ username: APP_USER.name, password: APP_USER.password, pool_size: 2 }];
    gh = await startGatehouse({
      general: { ...clientTls(pki), ...ADMIN_SETTINGS, query_wait_timeout: '20s' },
      pools: {
        [SESSION]: poolFor(cluster, pki, { server_database: APP_DATABASE, users }),
        [TX]: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it.each(Object.entries(COLUMNS))('SHOW %s answers with PgDoorman\'s columns in order', async (what, columns) => {
    expect((await show(what)).columns).toEqual(columns.split(' '));
  });

  it('SHOW POOLS, CLIENTS and SERVERS count the connections a test opened, as pg_stat_activity does', async () => {
    const clients = [await connectPg(gh, pki, { database: SESSION, applicationName: 'counted' }), await connectPg(gh, pki, { database: SESSION })];
    try {
      const pids = await Promise.all(clients.map(backendPid));
      const pool = await poolRow(SESSION);
      expect({ cl_idle: pool.cl_idle, sv_active: pool.sv_active, pool_size: pool.pool_size, pool_mode: pool.pool_mode }).toEqual({
        cl_idle: '2',
        sv_active: '2',
        pool_size: '2',
        pool_mode: 'session',
      });
      const listed = (await show('CLIENTS')).rows.filter((r) => r.database === SESSION);
      expect(listed.map((r) => r.application_name).sort()).toEqual(['', 'counted']);
      expect(listed.every((r) => r.tls === 'true' && r.user === APP_USER.name)).toBe(true);
      const servers = (await show('SERVERS')).rows.filter((r) => r.database_name === SESSION);
      const backends = (await backendsOf(cluster, APP_DATABASE)).map((b) => b.pid);
      expect(servers.map((s) => Number(s.server_process_id)).sort()).toEqual([...pids].sort());
      for (const pid of pids) expect(backends).toContain(pid);
      expect(servers.every((s) => s.tls === 'true' && s.state === 'active')).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('SHOW STATS, CLIENTS and SERVERS count the transactions, queries and errors a client ran', async () => {
    const statsOf = async () => (await show('STATS')).rows.find((r) => r.database === TX)!;
    const before = await statsOf();
    const client = await connectPg(gh, pki, { database: TX, applicationName: 'counting' });
    try {
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await client.query('COMMIT');
      await client.query('SELECT 2');
      await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
      const row = (await show('CLIENTS')).rows.find((r) => r.application_name === 'counting')!;
      // BEGIN…COMMIT is one transaction of three queries; SELECT 2 and the failed SELECT are one each.
      expect({ transactions: row.transaction_count, queries: row.query_count, errors: row.error_count }).toEqual({ transactions: '3', queries: '5', errors: '1' });
      const after = await statsOf();
      expect(Number(after.total_xact_count) - Number(before.total_xact_count)).toBe(3);
      expect(Number(after.total_query_count) - Number(before.total_query_count)).toBe(5);
      expect(Number(after.total_errors) - Number(before.total_errors)).toBe(1);
      expect(Number(after.total_received)).toBeGreaterThan(Number(before.total_received));
      const servers = (await show('SERVERS')).rows.filter((r) => r.database_name === TX);
      expect(servers.reduce((n, r) => n + Number(r.query_count), 0)).toBeGreaterThanOrEqual(5);
    } finally {
      await client.end();
    }
  });

  it('SHOW LISTS, DATABASES and USERS describe the configured pools', async () => {
    const lists = Object.fromEntries((await show('LISTS')).rows.map((r) => [r.list, Number(r.items)]));
    expect(lists.databases).toBe(2);
    const databases = (await show('DATABASES')).rows;
    expect(databases.map((d) => [d.name, d.port, d.database, d.force_user, d.pool_mode])).toEqual([
      [SESSION, String(cluster.port), APP_DATABASE, APP_USER.name, 'session'],
      [TX, String(cluster.port), APP_DATABASE, APP_USER.name, 'transaction'],
    ]);
    expect((await show('USERS')).rows).toEqual([
      { name: APP_USER.name, pool_mode: 'session' },
      { name: APP_USER.name, pool_mode: 'transaction' },
    ]);
  });

  it('SHOW CONFIG shows the settings in force, never a password, and which need a restart', async () => {
    const config = Object.fromEntries((await show('CONFIG')).rows.map((r) => [r.key, r]));
    expect(config['general.query_wait_timeout'].value).toBe('20000');
    expect(config['general.query_wait_timeout'].default).toBe('5000');
    expect(config['general.port'].changeable).toBe('no');
    expect(config['general.admin_password'].value).toBe('********');
    expect(config[`pools.${TX}.pool_mode`].value).toBe('transaction');
    const text = JSON.stringify(config);
    expect(text).not.toContain(APP_USER.password);
    expect(text).not.toContain(ADMIN.password);
  });

  it('psycopg2 reads SHOW POOLS and SHOW VERSION through database pgbouncer, PgBouncer tooling\'s name', async () => {
    const connect = { host: gh.host, port: gh.port, dbname: 'pgbouncer', user: ADMIN.name, password: ADMIN.password, sslmode: 'verify-full', sslrootcert: pki.caFile };
    const result = await psycopg2Session(connect, ['SHOW POOLS', 'SHOW VERSION'], 1, { autocommit: true, columns: true });
    if (!result.ok) throw new Error(result.message);
    const [pools, version] = result.sessions[0].rows;
    expect(result.sessions[0].columns![0]).toEqual(COLUMNS.POOLS.split(' '));
    expect(pools!.map((r) => r[0])).toEqual([SESSION, TX]);
    expect(String(version![0][0])).toMatch(/^gatehouse \d+\.\d+\.\d+/);
  });

  it('a user other than admin_username is refused the console with 28000, a wrong admin password with 28P01', async () => {
    const other = await connectError(gh, pki, { database: 'pgdoorman' });
    expect(other.code).toBe('28000');
    const wrong = await connectError(gh, pki, { database: 'pgdoorman', user: ADMIN.name, password: 'not-it' });
    expect(wrong.code).toBe('28P01');
    const viaPsycopg2 = await psycopg2ConnectError({ host: gh.host, port: gh.port, dbname: 'pgbouncer', user: APP_USER.name, password: APP_USER.password, sslmode: 'require' });
    expect(viaPsycopg2.message).toContain('not allowed to use the admin console');
  });

  it('an unknown command gets ERROR 58000 and the console session goes on', async () => {
    const admin = await adminPg(gh, pki);
    try {
      await expect(admin.query('SELECT 1')).rejects.toMatchObject({ code: '58000' });
      await expect(admin.query('SHOW NOTHING')).rejects.toMatchObject({ code: '58000' });
      await expect(admin.query('PAUSE nowhere')).rejects.toMatchObject({ code: '3D000' });
      expect((await admin.query('SHOW LOG_LEVEL')).rows).toEqual([{ log_level: 'info' }]);
    } finally {
      await admin.end();
    }
  });

  it('PAUSE holds a transaction-pooled query until RESUME', async () => {
    const client = await connectPg(gh, pki, { database: TX });
    const admin = await adminPg(gh, pki);
    try {
      await admin.query(`PAUSE ${TX}`);
      expect((await poolRow(TX)).paused).toBe('1');
      const held = client.query('SELECT 42 AS answer');
      expect(await settledWithin(held, 500)).toBe('pending');
      await waitUntil('the held client is counted as waiting', async () => (await poolRow(TX)).cl_waiting === '1');
      await admin.query(`RESUME ${TX}`);
      expect((await held).rows).toEqual([{ answer: 42 }]);
      expect((await poolRow(TX)).paused).toBe('0');
    } finally {
      await admin.end();
      await client.end();
    }
  });

  it('RECONNECT gives the next transaction a new backend', async () => {
    const client = await connectPg(gh, pki, { database: TX });
    const admin = await adminPg(gh, pki);
    try {
      const before = await backendPid(client);
      await admin.query(`RECONNECT ${TX}`);
      const after = await backendPid(client);
      expect(after).not.toBe(before);
      await waitUntil('the old backend is gone', async () => !(await backendsOf(cluster, APP_DATABASE)).some((b) => b.pid === before));
    } finally {
      await admin.end();
      await client.end();
    }
  });

  it('KILL drops every client of a pool with 57P01, journaled on each client', async () => {
    const victims = [await connectPg(gh, pki, { database: SESSION }), await connectPg(gh, pki, { database: SESSION })];
    const bystander = await connectPg(gh, pki, { database: TX });
    const errors = victims.map((v) => new Promise<Error & { code?: string }>((resolve) => v.on('error', resolve)));
    const admin = await adminPg(gh, pki);
    try {
      await admin.query(`KILL ${SESSION}`);
      for (const err of await Promise.all(errors)) expect(err.code).toBe('57P01');
      expect((await bystander.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      const killed = gh.gateway.journals.endedRecords().filter((r) => r.entries.some((e) => e.event.type === 'admin.kill'));
      expect(killed).toHaveLength(2);
    } finally {
      await admin.end();
      await bystander.end();
      await Promise.all(victims.map((v) => v.end().catch(() => {})));
    }
  });

  it('SHOW MACHINES lists live connections and SHOW JOURNAL replays one of them', async () => {
    const client = await connectPg(gh, pki, { database: SESSION });
    try {
      const clientsNow = (await show('CLIENTS')).rows.filter((r) => r.database === SESSION);
      const id = clientsNow[0].client_id;
      const machine = (await show('MACHINES')).rows.find((r) => r.connection === id)!;
      expect(machine).toMatchObject({ machine: 'client-session', state: 'connected.ready', last_event: 'pool.acquired' });
      const journal = await psqlAdmin(gh, pki, `SHOW JOURNAL ${id}`);
      expect(journal.columns).toEqual(['seq', 'at', 'event', 'detail', 'guard', 'state']);
      expect(journal.rows.map((r) => r.event)).toEqual(['client.sslRequest', 'tls.slotGranted', 'tls.established', 'client.startup', 'auth.succeeded', 'pool.acquired']);
      expect(journal.rows.at(-1)!.state).toBe('connected.ready');
      await expect(psqlAdmin(gh, pki, 'SHOW JOURNAL c999999')).rejects.toThrow(/no journal for connection "c999999"/);
    } finally {
      await client.end();
    }
  });

  it('SET log_level changes what SHOW LOG_LEVEL says and what is logged', async () => {
    const admin = await adminPg(gh, pki);
    try {
      await admin.query("SET log_level = 'debug'");
      expect((await admin.query('SHOW LOG_LEVEL')).rows).toEqual([{ log_level: 'debug' }]);
      await expect(admin.query("SET log_level = 'chatty'")).rejects.toMatchObject({ code: '22023' });
      await admin.query("SET log_level TO 'info'");
      expect((await admin.query('SHOW LOG_LEVEL')).rows).toEqual([{ log_level: 'info' }]);
    } finally {
      await admin.end();
    }
  });
});

describe('admin console SHUTDOWN', () => {
  it('answers success and then stops gatehouse', async () => {
    const pki = await createPki();
    const cluster = await startTestCluster(flavor, pki);
    const gh = await startGatehouse({ general: { ...clientTls(pki), ...ADMIN_SETTINGS }, pools: { [SESSION]: poolFor(cluster, pki, { server_database: APP_DATABASE }) } });
    try {
      const stopped = new Promise<void>((resolve) => gh.gateway.once('shutdown', resolve));
      const result = await psqlAdmin(gh, pki, 'SHUTDOWN');
      expect(result.rows).toEqual([{ success: 't' }]);
      await stopped;
    } finally {
      await gh.stop();
      await cluster.stop();
      await pki.remove();
    }
  });
});
