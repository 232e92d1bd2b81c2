// The three server-side TLS series, scraped from /metrics while sessions come and go, checked against
// what PostgreSQL reports in pg_stat_ssl (read as superuser): open TLS backend connections per pool,
// one handshake observation per new TLS backend connection, and handshake errors for a failed
// verify-full and for 'N' under require.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, backendsOf, startTestCluster, type Cluster } from '../../fixtures/clusters.js';
import { metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type Pki } from '../../fixtures/pki.js';
import { waitUntil } from '../../fixtures/wait.js';
import { configureBackend } from './support/backend.js';
import { attempt, backendSsl, connectPlain } from './support/outcome.js';

const HOST = ['host all all 127.0.0.1/32 scram-sha-256'];
const POOLS = ['tls', 'tls_count', 'plain', 'untrusted', 'required'] as const;

describe('server-side TLS metrics agree with pg_stat_ssl, embedded PostgreSQL 18', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  const open: pg.Client[] = [];

  async function hold(pool: string): Promise<pg.Client> {
    const client = await connectPlain(gh, pool);
    open.push(client);
    return client;
  }

  async function series(name: string): Promise<Record<(typeof POOLS)[number], number>> {
    const text = await gh.scrape();
    return Object.fromEntries(POOLS.map((pool) => [pool, metricValue(text, name, { pool })])) as Record<(typeof POOLS)[number], number>;
  }
  const openTls = () => series('pg_doorman_server_tls_connections');
  const handshakes = () => series('pg_doorman_server_tls_handshake_duration_seconds_count');
  const errors = () => series('pg_doorman_server_tls_handshake_errors_total');

  /** app_user's backends by encryption, as PostgreSQL sees them. */
  async function pgStatSsl(): Promise<{ tls: number; plain: number }> {
    const backends = (await backendsOf(cluster, APP_DATABASE)).filter((b) => b.user === APP_USER.name);
    return { tls: backends.filter((b) => b.ssl).length, plain: backends.filter((b) => !b.ssl).length };
  }

  const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    pki = await createPki('server-tls metrics');
    cluster = await startTestCluster('embedded18', pki, { hba: HOST });
    const pool = (overrides: Record<string, unknown>) => poolFor(cluster, pki, { server_database: APP_DATABASE, ...overrides });
    gh = await startGatehouse({
      general: { tls_mode: 'disable' },
      web: { enabled: true },
      pools: {
        tls: pool({}),
        tls_count: pool({}),
        plain: pool({ server_tls_mode: 'disable' }),
        untrusted: pool({ server_tls_ca_cert: pki.otherCaFile }),
        required: pool({ server_tls_mode: 'require' }),
      },
    });
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => {})));
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('the handshake histogram _count grows by one per new TLS backend connection, not for a reused or a plain one', async () => {
    const start = await handshakes();
    const first = await hold('tls_count');
    expect((await handshakes()).tls_count - start.tls_count).toBe(1);
    const second = await hold('tls_count');
    expect((await handshakes()).tls_count - start.tls_count).toBe(2);
    // Session mode: the backend of an ended session is reused by the next one, without a new handshake.
    await second.end();
    const third = await hold('tls_count');
    expect(await backendSsl(third)).toBe(true);
    await hold('plain');
    const end = await handshakes();
    expect({ tls_count: end.tls_count - start.tls_count, plain: end.plain - start.plain }).toEqual({ tls_count: 2, plain: 0 });
    expect(await backendSsl(first)).toBe(true);
  });

  it('pg_doorman_server_tls_connections equals pg_stat_ssl\'s encrypted app_user backends as sessions open, end and are terminated', async () => {
    const agree = async () => {
      const [gauge, pgSide] = await Promise.all([openTls(), pgStatSsl()]);
      return { gauge: sum(gauge), pgStatSsl: pgSide.tls };
    };
    const clients = [await hold('tls'), await hold('tls'), await hold('tls'), await hold('plain')];
    let now = await agree();
    expect(now.gauge).toBe(now.pgStatSsl);
    expect((await openTls()).tls).toBe(3);
    expect((await openTls()).plain).toBe(0);
    expect((await pgStatSsl()).plain).toBe(2);

    // An ended session leaves its backend connection open in the pool: both sides still count it.
    await clients[0].end();
    now = await agree();
    expect(now.gauge).toBe(now.pgStatSsl);
    expect((await openTls()).tls).toBe(3);

    // PostgreSQL closing TLS backends: the gauge follows.
    const tlsPids = (await backendsOf(cluster, APP_DATABASE)).filter((b) => b.ssl).map((b) => b.pid);
    const victims = tlsPids.slice(0, 2);
    for (const pid of victims) await cluster.query(`SELECT pg_terminate_backend(${pid})`);
    await waitUntil('the gauge to follow pg_stat_ssl after pg_terminate_backend', async () => {
      const { gauge, pgStatSsl } = await agree();
      return gauge === pgStatSsl && pgStatSsl === tlsPids.length - victims.length;
    });
  });

  it('pg_doorman_server_tls_handshake_errors_total counts a verify-full against an untrusted certificate', async () => {
    const before = await errors();
    const outcome = await attempt(gh, 'untrusted');
    expect(outcome).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '08001' });
    const after = await errors();
    expect({ untrusted: after.untrusted - before.untrusted, others: sum(after) - sum(before) }).toEqual({ untrusted: 1, others: 1 });
  });

  it('pg_doorman_server_tls_handshake_errors_total counts N under require (PostgreSQL with ssl = off)', async () => {
    await configureBackend(cluster, pki, 'off', HOST);
    const before = await errors();
    const outcome = await attempt(gh, 'required');
    expect(outcome).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '08001', message: 'server does not support TLS' });
    const after = await errors();
    expect({ required: after.required - before.required, others: sum(after) - sum(before) }).toEqual({ required: 1, others: 1 });
    expect((await openTls()).required).toBe(0);
  });
});
