// TLS on both hops with real clients: psql (libpq 15 and 18), node-postgres and porsager's postgres;
// errors and cancellation travel through gatehouse; /metrics agrees with pg_stat_ssl.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, backendsOf, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectPg } from '../fixtures/clients.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psql, psqlQuery, psqlResult, psqlValue, spawnPsql, type Libpq } from '../fixtures/psql.js';
import { waitUntil } from '../fixtures/wait.js';

describe.each(FLAVORS)('TLS sessions through gatehouse to %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let verifyFull: string;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    gh = await startGatehouse({
      general: clientTls(pki),
      pools: { [APP_DATABASE]: poolFor(cluster, pki) },
      web: { enabled: true },
    });
    verifyFull = gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: pki.caFile });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it.each([15, 18] as Libpq[])('psql with libpq %i connects with sslmode=verify-full and \\conninfo reports SSL', async (libpq) => {
    const result = await psql(verifyFull, ['-c', '\\conninfo'], { libpq });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/You are connected to database "appdb" as user "app_user"/);
    expect(result.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
  });

  it('libpq 18 with sslnegotiation=direct (TLS without SSLRequest, ALPN postgresql) connects', async () => {
    const result = await psql(`${verifyFull} sslnegotiation=direct`, ['-c', '\\conninfo'], { libpq: 18 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
  });

  it('the backend connection is TLS too: pg_stat_ssl says ssl = t for the session backend', async () => {
    expect(await psqlValue(verifyFull, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe('t');
    expect(await psqlValue(verifyFull, 'SELECT current_user || \'@\' || current_database()')).toBe('app_user@appdb');
  });

  it('psql refuses gatehouse under verify-full when it trusts another CA', async () => {
    const result = await psqlQuery(
      gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: pki.otherCaFile }),
      'SELECT 1',
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/certificate verify failed/);
  });

  it('node-postgres over TLS runs queries, gets SQLSTATE 22012 for 1/0 and keeps working afterwards', async () => {
    const client = await connectPg(gh, pki);
    try {
      const ok = await client.query('SELECT $1::int + 1 AS n, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', [41]);
      expect(ok.rows).toEqual([{ n: 42, ssl: true }]);
      await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012', message: 'division by zero' });
      const after = await client.query('SELECT 7 AS n');
      expect(after.rows).toEqual([{ n: 7 }]);
    } finally {
      await client.end();
    }
  });

  it('porsager postgres over TLS runs queries, gets SQLSTATE 22012 for 1/0 and keeps working afterwards', async () => {
    const sql = postgres({
      host: '127.0.0.1',
      port: gh.port,
      database: APP_DATABASE,
      username: APP_USER.name,
      password: APP_USER.password,
      ssl: { ca: pki.ca.certPem, servername: 'localhost' },
      max: 1,
      onnotice: () => {},
    });
    try {
      const [row] = await sql<{ n: number; ssl: boolean }[]>`SELECT ${41}::int + 1 AS n, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`;
      expect(row).toEqual({ n: 42, ssl: true });
      await expect(sql`SELECT 1/0`).rejects.toMatchObject({ code: '22012' });
      const [again] = await sql<{ n: number }[]>`SELECT 7 AS n`;
      expect(again.n).toBe(7);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('/metrics counts open backend TLS connections as pg_stat_ssl does, and times the handshakes', async () => {
    const client = await connectPg(gh, pki);
    try {
      await client.query('SELECT 1');
      const text = await gh.scrape();
      const tlsBackends = (await backendsOf(cluster, APP_DATABASE)).filter((b) => b.ssl);
      expect(tlsBackends.length).toBeGreaterThan(0);
      expect(metricValue(text, 'pg_doorman_server_tls_connections', { pool: APP_DATABASE })).toBe(tlsBackends.length);
      expect(metricValue(text, 'pg_doorman_server_tls_handshake_duration_seconds_count', { pool: APP_DATABASE })).toBeGreaterThan(0);
      expect(metricValue(text, 'pg_doorman_server_tls_handshake_errors_total', { pool: APP_DATABASE })).toBe(0);
    } finally {
      await client.end();
    }
  });

  it.each([15, 18] as Libpq[])('psql (libpq %i) interrupted during pg_sleep(30) cancels the query through gatehouse: 57014', async (libpq) => {
    const sleeping = `SELECT pg_sleep(30) -- libpq ${libpq}`;
    const child = spawnPsql(verifyFull, ['-v', 'VERBOSITY=verbose', '-c', sleeping], { libpq });
    const result = psqlResult(child, 25_000);
    await waitUntil('pg_sleep to run on the backend', async () => {
      const rows = await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '${sleeping}'`);
      return rows[0][0] === '1';
    });
    const interruptedAt = Date.now();
    child.kill('SIGINT'); // psql answers SIGINT with a CancelRequest on a new connection
    const { code, stderr } = await result;
    expect(Date.now() - interruptedAt).toBeLessThan(5000);
    expect(stderr).toMatch(/ERROR: {2}57014: canceling statement due to user request/);
    expect(code).toBe(1);
  });
});
