// Pooling as a client notices it: backends reused, session state reset between clients, waiting for
// a busy pool, query_wait_timeout, and transaction pooling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, backendsOf, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectError, connectPg, pgClient, settledWithin } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

const SINGLE = 'single'; // session pool of size 1
const TX = 'tx'; // transaction pool of size 2
const TX_SINGLE = 'tx_single'; // transaction pool of size 1

describe.each(FLAVORS)('pooling in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  describe('with query_wait_timeout 10 s', () => {
    let gh: RunningGatehouse;
    const user = (pool_size: number) => [{ username: APP_USER.name, password: APP_USER.password, pool_size }];

    beforeAll(async () => {
      gh = await startGatehouse({
        general: { ...clientTls(pki), query_wait_timeout: '10s' },
        pools: {
          [SINGLE]: poolFor(cluster, pki, { server_database: APP_DATABASE, users: user(1) }),
          [TX]: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users: user(2) }),
          [TX_SINGLE]: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users: user(1) }),
        },
      });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it('two clients one after the other get the same PostgreSQL backend', async () => {
      const first = await connectPg(gh, pki, { database: SINGLE });
      const pid = await backendPid(first);
      await first.end();
      const second = await connectPg(gh, pki, { database: SINGLE });
      try {
        expect(await backendPid(second)).toBe(pid);
      } finally {
        await second.end();
      }
    });

    it('the next client of a reused backend sees none of the previous session state (DISCARD ALL)', async () => {
      const first = await connectPg(gh, pki, { database: SINGLE });
      const pid = await backendPid(first);
      await first.query(`SET application_name = 'leaked-name'`);
      await first.query('SET search_path = pg_catalog');
      await first.query('CREATE TEMP TABLE leaked_temp (x int)');
      await first.query('PREPARE leaked_statement AS SELECT 1');
      await first.query('SELECT pg_advisory_lock(4242)');
      expect((await first.query('SHOW application_name')).rows[0].application_name).toBe('leaked-name');
      await first.end();

      const second = await connectPg(gh, pki, { database: SINGLE });
      try {
        expect(await backendPid(second)).toBe(pid);
        const { rows } = await second.query(`SELECT current_setting('application_name') AS app,
            current_setting('search_path') AS path,
            (SELECT count(*)::int FROM pg_class WHERE relname = 'leaked_temp') AS temps,
            (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
            (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory') AS locks`);
        expect(rows[0]).toEqual({ app: '', path: '"$user", public', temps: 0, prepared: 0, locks: 0 });
      } finally {
        await second.end();
      }
    });

    it('with pool_size 1 a second client waits for the first to leave, then gets its backend', async () => {
      const first = await connectPg(gh, pki, { database: SINGLE });
      const pid = await backendPid(first);
      const second = pgClient(gh, pki, { database: SINGLE });
      const connecting = second.connect();
      try {
        expect(await settledWithin(connecting, 700)).toBe('pending');
        await first.end();
        await connecting;
        expect(await backendPid(second)).toBe(pid);
      } finally {
        await second.end();
      }
    });

    it('transaction pooling: five clients share at most two backends', async () => {
      const clients = await Promise.all(Array.from({ length: 5 }, () => connectPg(gh, pki, { database: TX })));
      try {
        const pids = new Set<number>();
        for (let round = 0; round < 3; round++) {
          for (const pid of await Promise.all(clients.map(backendPid))) pids.add(pid);
        }
        const backends = await backendsOf(cluster, APP_DATABASE);
        expect(pids.size).toBeGreaterThanOrEqual(1);
        expect(pids.size).toBeLessThanOrEqual(2);
        for (const pid of pids) expect(backends.map((b) => b.pid)).toContain(pid);
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
    });

    it('transaction pooling: an open transaction keeps its backend until COMMIT, others wait for it', async () => {
      const holder = await connectPg(gh, pki, { database: TX_SINGLE });
      const other = await connectPg(gh, pki, { database: TX_SINGLE });
      try {
        await holder.query('BEGIN');
        const pid = await backendPid(holder);
        await holder.query('CREATE TEMP TABLE tx_probe (x int) ON COMMIT DROP');
        const waiting = other.query('SELECT pg_backend_pid() AS pid');
        expect(await settledWithin(waiting, 700)).toBe('pending');
        expect(await backendPid(holder)).toBe(pid);
        await holder.query('INSERT INTO tx_probe VALUES (1)');
        await holder.query('COMMIT');
        expect((await waiting).rows[0].pid).toBe(pid);
      } finally {
        await Promise.all([holder.end(), other.end()]);
      }
    });
  });

  describe('with query_wait_timeout 600 ms', () => {
    let gh: RunningGatehouse;

    beforeAll(async () => {
      gh = await startGatehouse({
        general: { ...clientTls(pki), query_wait_timeout: '600ms' },
        pools: {
          [SINGLE]: poolFor(cluster, pki, { server_database: APP_DATABASE, users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 1 }] }),
          [TX_SINGLE]: poolFor(cluster, pki, {
            server_database: APP_DATABASE,
            pool_mode: 'transaction',
            users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 1 }],
          }),
        },
      });
    });

    afterAll(async () => {
      await gh?.stop();
    });

    it('a client waiting longer than query_wait_timeout gets FATAL 53300 and the holder keeps working', async () => {
      const holder = await connectPg(gh, pki, { database: SINGLE });
      try {
        await backendPid(holder);
        const started = Date.now();
        const err = await connectError(gh, pki, { database: SINGLE });
        const waited = Date.now() - started;
        expect(err).toMatchObject({ code: '53300', severity: 'FATAL' });
        expect(err.message).toMatch(/query_wait_timeout/);
        expect(waited).toBeGreaterThanOrEqual(500);
        expect(waited).toBeLessThan(5000);
        expect((await holder.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await holder.end();
      }
    });

    it('transaction pooling: a query that finds no server within query_wait_timeout ends that session with FATAL 53300, as its journal says', async () => {
      const holder = await connectPg(gh, pki, { database: TX_SINGLE });
      const waiter = await connectPg(gh, pki, { database: TX_SINGLE });
      const errors: Error[] = [];
      waiter.on('error', (e) => errors.push(e));
      try {
        await holder.query('BEGIN');
        const err = await waiter.query('SELECT 1').catch((e) => e);
        expect(err).toMatchObject({ code: '53300', severity: 'FATAL' });
        expect(err.message).toMatch(/query_wait_timeout \(600 ms\)/);
        // The session that held its server is untouched.
        expect((await holder.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
        await holder.query('COMMIT');
        const refused = gh.gateway.journals
          .endedRecords()
          // Refused after its session started (pool.acquired at login), not at login like the test above.
          .filter((r) => r.machine === 'client-session' && r.entries.some((e) => e.event.type === 'pool.acquired'))
          .filter((r) => r.entries.at(-1)?.event.type === 'pool.failed');
        expect(refused).toHaveLength(1);
        expect(refused[0].final?.context).toMatchObject({ failure: { reason: 'server_unavailable', sqlstate: '53300' } });
      } finally {
        await holder.end();
        await waiter.end().catch(() => undefined);
      }
    });
  });
});
