// The pool limits PgDoorman users set, seen from PostgreSQL: pg_stat_activity counts what gatehouse keeps open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, storedPassword, type Cluster } from '../fixtures/clusters.js';
import { connectPg } from '../fixtures/clients.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

const OTHER_USER = { name: 'other_user', password: 'other-pass-1' } as const;
const DATABASES = ['warmdb', 'warmscramdb', 'capdb', 'reservedb'];

async function backendCount(cluster: Cluster, database: string): Promise<number> {
  const rows = await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}' AND backend_type = 'client backend'`);
  return Number(rows[0][0]);
}

describe.each(FLAVORS)('pool limits with %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki, {
      users: [{ ...APP_USER }, { ...OTHER_USER }],
      databases: [{ name: APP_DATABASE, owner: APP_USER.name }, ...DATABASES.map((name) => ({ name, owner: APP_USER.name }))],
    });
    const scramSecret = await storedPassword(cluster, APP_USER.name);
    const user = (name: string, password: string, more: Record<string, unknown>) => ({ username: name, password, ...more });
    gh = await startGatehouse({
      general: { ...clientTls(pki), idle_timeout: '1s', query_wait_timeout: '10s' },
      web: { enabled: true },
      pools: {
        warm: poolFor(cluster, pki, { server_database: 'warmdb', users: [user(APP_USER.name, APP_USER.password, { pool_size: 5, min_pool_size: 2 })] }),
        // No server_password and the stored SCRAM secret: passthrough, so nothing can log in before a client did.
        warm_scram: poolFor(cluster, pki, { server_database: 'warmscramdb', users: [user(APP_USER.name, scramSecret, { pool_size: 3, min_pool_size: 2 })] }),
        cap: poolFor(cluster, pki, {
          server_database: 'capdb',
          pool_mode: 'transaction',
          max_db_connections: 3,
          users: [user(APP_USER.name, APP_USER.password, { pool_size: 3 }), user(OTHER_USER.name, OTHER_USER.password, { pool_size: 3 })],
        }),
        reserve: poolFor(cluster, pki, {
          server_database: 'reservedb',
          reserve_pool_size: 1,
          reserve_pool_timeout: '300ms',
          users: [user(APP_USER.name, APP_USER.password, { pool_size: 1 })],
        }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('min_pool_size backends are open before any client comes, stay after idle_timeout, and are replaced when one dies', async () => {
    await waitUntil('two warm backends', async () => (await backendCount(cluster, 'warmdb')) === 2, 5000);
    const clients = await Promise.all([1, 2, 3, 4].map(() => connectPg(gh, pki, { database: 'warm' })));
    expect(await backendCount(cluster, 'warmdb')).toBe(4);
    await Promise.all(clients.map((c) => c.end()));
    // idle_timeout is 1 s: the two beyond min_pool_size go, the two within it stay.
    await waitUntil('reaped down to min_pool_size', async () => (await backendCount(cluster, 'warmdb')) === 2, 5000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await backendCount(cluster, 'warmdb')).toBe(2);
    const [[victim]] = await cluster.query(`SELECT pid FROM pg_stat_activity WHERE datname = 'warmdb' AND backend_type = 'client backend' LIMIT 1`);
    await cluster.query(`SELECT pg_terminate_backend(${victim})`);
    await waitUntil('the terminated backend replaced', async () => {
      const rows = await cluster.query(`SELECT pid FROM pg_stat_activity WHERE datname = 'warmdb' AND backend_type = 'client backend'`);
      return rows.length === 2 && !rows.some(([p]) => p === victim);
    }, 5000);
  });

  it('a SCRAM passthrough user is kept warm only once a client logged in and taught gatehouse its key', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    expect(await backendCount(cluster, 'warmscramdb'), 'no login is possible yet: nothing is opened').toBe(0);
    const client = await connectPg(gh, pki, { database: 'warm_scram' });
    await client.query('SELECT 1');
    await client.end();
    await waitUntil('min_pool_size reached after the first login', async () => (await backendCount(cluster, 'warmscramdb')) === 2, 5000);
  });

  it('with max_db_connections 3, two users of pool_size 3 under concurrent load never have more than 3 backends together', async () => {
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, await backendCount(cluster, 'capdb'));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const worker = async (u: { name: string; password: string }) => {
      const c = await connectPg(gh, pki, { database: 'cap', user: u.name, password: u.password });
      try {
        for (let i = 0; i < 8; i++) await c.query('SELECT pg_sleep(0.02)');
      } finally {
        await c.end();
      }
    };
    const users = [APP_USER, OTHER_USER];
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => worker(users[i % 2])));
    const metrics = await gh.scrape();
    sampling = false;
    await sampler;
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(most, 'pg_stat_activity never showed more than max_db_connections').toBeLessThanOrEqual(3);
    expect(most, 'the load did use the whole cap').toBe(3);
    expect(metricValue(metrics, 'pg_doorman_pool_coordinator', { type: 'max_connections', database: 'cap' })).toBe(3);
    expect(metricValue(metrics, 'pg_doorman_pool_coordinator', { type: 'connections', database: 'cap' })).toBeLessThanOrEqual(3);
  });

  it('a client that waited reserve_pool_timeout gets a reserve backend beyond pool_size, closed again when it leaves', async () => {
    const first = await connectPg(gh, pki, { database: 'reserve' });
    const started = Date.now();
    const second = await connectPg(gh, pki, { database: 'reserve' });
    expect(Date.now() - started, 'it waited reserve_pool_timeout first').toBeGreaterThanOrEqual(280);
    expect(await backendCount(cluster, 'reservedb')).toBe(2);
    const metrics = await gh.scrape();
    expect(metricValue(metrics, 'pg_doorman_pool_coordinator', { type: 'reserve_in_use', database: 'reserve' })).toBe(1);
    expect(metricValue(metrics, 'pg_doorman_pool_coordinator', { type: 'reserve_pool_size', database: 'reserve' })).toBe(1);
    expect(gh.logs.some((l) => l.msg === 'taking connection from reserve_pool')).toBe(true);
    await second.end();
    await waitUntil('the reserve backend closed', async () => (await backendCount(cluster, 'reservedb')) === 1, 5000);
    expect((await first.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await first.end();
  });
});
