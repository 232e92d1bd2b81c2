// Named prepared statements (node-postgres named queries: Parse once per connection, then Bind/Describe/Execute)
// through transaction pooling, where a client's next transaction may run on another backend: statement names are
// each client's own, a small server-side cache (server_prepared_statements_cache_size) bounds what a backend
// holds without the client noticing, and DDL that changes a statement's result costs one error, not all later
// executions. With prepared_statements off, named statements pass through as the client sent them.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectPg } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { OpenClients, ServerSteering } from '../fixtures/transaction-pool.js';

const TX = 'tx'; // transaction pool of app_user, pool_size 2, server_prepared_statements_cache_size 100
const SERVER_CACHE = 100;

type PgError = Error & { code?: string };

describe.each(FLAVORS)('transaction pooling in front of %s: named prepared statements', (flavor) => {
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

  const txPool = (extra: Record<string, unknown> = {}) =>
    poolFor(cluster, pki, {
      server_database: APP_DATABASE,
      pool_mode: 'transaction',
      users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 2 }],
      ...extra,
    });

  /** A table of the test's own (the cluster outlives each test), one row x = 1, readable by the app user. */
  async function tableWithOneRow(name: string): Promise<void> {
    await cluster.query(`CREATE TABLE ${name} (x int)`, APP_DATABASE);
    await cluster.query(`INSERT INTO ${name} VALUES (1)`, APP_DATABASE);
    await cluster.query(`GRANT SELECT ON ${name} TO ${APP_USER.name}`, APP_DATABASE);
  }

  describe('with prepared_statements on (the default)', () => {
    let gh: RunningGatehouse;
    let steering: ServerSteering;
    let clients: OpenClients;

    beforeEach(async () => {
      gh = await startGatehouse({
        general: clientTls(pki),
        pools: { [TX]: txPool({ server_prepared_statements_cache_size: SERVER_CACHE }) },
      });
      steering = await ServerSteering.start(gh, pki, { database: TX });
      clients = new OpenClients(gh, pki);
    });

    afterEach(async () => {
      await clients?.endAll();
      await steering?.end();
      await gh?.stop();
    });

    const connect = (): Promise<pg.Client> => clients.connect({ database: TX });

    /** `SELECT count(*) FROM pg_prepared_statements` on the backend that runs it: every name that backend holds. */
    async function preparedOnBackend(client: pg.Client): Promise<{ pid: number; n: number }> {
      return (await client.query<{ pid: number; n: number }>('SELECT pg_backend_pid() AS pid, count(*)::int AS n FROM pg_prepared_statements')).rows[0];
    }

    it('two clients using the same statement name for different SQL each always get their own statement, on either backend', async () => {
      const a = await connect();
      const b = await connect();
      const [x, y] = steering.pids;
      type Named = (i: number) => pg.QueryConfig<unknown[]>;
      const forA: Named = (i) => ({ name: 'q', text: 'SELECT $1::int + 1 AS v, pg_backend_pid() AS pid', values: [i] });
      const forB: Named = (i) => ({ name: 'q', text: `SELECT $1::text || '-b' AS v, pg_backend_pid() AS pid`, values: [String(i)] });
      const runA = async (pid: number, i: number) => expect((await steering.on(pid, () => a.query(forA(i)))).rows).toEqual([{ v: i + 1, pid }]);
      const runB = async (pid: number, i: number) => expect((await steering.on(pid, () => b.query(forB(i)))).rows).toEqual([{ v: `${i}-b`, pid }]);

      await runA(x, 1); // A prepares q on x
      await runB(y, 2); // B prepares its q on y
      await runA(y, 3); // A's q on the backend where B's q was prepared
      await runB(x, 4); // and B's where A's was
      await runA(x, 5);
      await runB(x, 6); // both on one backend, one after the other
      await runA(x, 7);
      await runB(y, 8);
      await runA(y, 9);
      await runB(y, 10);
      // In explicit transactions, executed twice in each.
      const rounds: Array<[pg.Client, Named, number]> = [[a, forA, y], [b, forB, x], [a, forA, x], [b, forB, y]];
      for (const [client, run, pid] of rounds) {
        const rows = await steering.on(pid, async () => {
          await client.query('BEGIN');
          const first = (await client.query(run(11))).rows;
          const second = (await client.query(run(12))).rows;
          await client.query('COMMIT');
          return [first, second];
        });
        const expected = client === a ? [11 + 1, 12 + 1] : ['11-b', '12-b'];
        expect(rows).toEqual(expected.map((v) => [{ v, pid }]));
      }
    });

    it(`600 distinct named statements through a server cache of ${SERVER_CACHE}: every execution (and a second pass) returns its own result, and no backend ever holds more than ${SERVER_CACHE}`, async () => {
      const a = await connect();
      const b = await connect();
      const statement = (i: number) => ({ name: `s${i}`, text: `SELECT $1::int + ${i} AS v`, values: [1000] });
      const counts: Array<{ pid: number; n: number }> = [];

      // Two clients at once, 300 statements each, so the pool's two backends both serve both of them.
      const run = async (client: pg.Client, from: number) => {
        const values: number[] = [];
        for (let pass = 0; pass < 2; pass++) {
          for (let i = from; i < from + 300; i++) {
            values.push((await client.query<{ v: number }>(statement(i))).rows[0].v);
            if (i % 50 === 49) counts.push(await preparedOnBackend(client));
          }
        }
        return values;
      };
      const expected = (from: number) => [0, 1].flatMap(() => Array.from({ length: 300 }, (_, k) => 1000 + from + k));
      const [fromA, fromB] = await Promise.all([run(a, 0), run(b, 300)]);
      expect(fromA).toEqual(expected(0));
      expect(fromB).toEqual(expected(300));
      for (const pid of steering.pids) counts.push(await steering.on(pid, () => preparedOnBackend(a)));

      expect(counts).toHaveLength(2 * 2 * 6 + 2);
      expect(new Set(counts.map((c) => c.pid))).toEqual(new Set(steering.pids));
      // The clients prepared nothing with SQL PREPARE: everything listed is gatehouse's, and bounded by its cache.
      expect(counts.filter((c) => c.n > SERVER_CACHE)).toEqual([]);
      expect(Math.max(...counts.map((c) => c.n))).toBe(SERVER_CACHE);
    });

    it('after DDL changes its result, a named SELECT * fails once with 0A000 like on PostgreSQL, then gatehouse re-prepares it and it returns the new column', async () => {
      // Directly on PostgreSQL the statement is broken for good: every later execution fails the same way, until the
      // client deallocates it. Through gatehouse it fails once and then works: gatehouse prepares it again.
      await tableWithOneRow('ddl_direct');
      const direct = new pg.Client({
        host: '127.0.0.1',
        port: cluster.port,
        database: APP_DATABASE,
        user: APP_USER.name,
        password: APP_USER.password,
        ssl: { ca: pki.ca.certPem, servername: 'localhost' },
      });
      await direct.connect();
      try {
        const q = { name: 'select_all', text: 'SELECT * FROM ddl_direct' };
        expect((await direct.query(q)).rows).toEqual([{ x: 1 }]);
        await cluster.query('ALTER TABLE ddl_direct ADD COLUMN y int DEFAULT 7', APP_DATABASE);
        for (let i = 0; i < 3; i++) {
          const err = await direct.query(q).catch((e: PgError) => e);
          expect(err).toMatchObject({ code: '0A000', message: 'cached plan must not change result type' });
        }
      } finally {
        await direct.end();
      }

      await tableWithOneRow('ddl_once');
      const a = await connect();
      const [x] = steering.pids;
      const q = { name: 'select_all', text: 'SELECT * FROM ddl_once' };
      expect((await steering.on(x, () => a.query(q))).rows).toEqual([{ x: 1 }]);
      await cluster.query('ALTER TABLE ddl_once ADD COLUMN y int DEFAULT 7', APP_DATABASE);
      const err = await steering.on(x, () => a.query(q).catch((e: PgError) => e));
      expect(err).toMatchObject({ code: '0A000', message: 'cached plan must not change result type' });
      for (let i = 0; i < 3; i++) expect((await steering.on(x, () => a.query(q))).rows).toEqual([{ x: 1, y: 7 }]);
    });

    it('after DDL, a named statement prepared on both backends fails only once in all: the next execution works on either backend', async () => {
      await tableWithOneRow('ddl_both');
      const a = await connect();
      const [x, y] = steering.pids;
      const q = { name: 'select_all', text: 'SELECT * FROM ddl_both' };
      for (const pid of [x, y]) expect((await steering.on(pid, () => a.query(q))).rows).toEqual([{ x: 1 }]);
      await cluster.query('ALTER TABLE ddl_both ADD COLUMN y int DEFAULT 7', APP_DATABASE);
      const err = await steering.on(x, () => a.query(q).catch((e: PgError) => e));
      expect(err).toMatchObject({ code: '0A000', message: 'cached plan must not change result type' });
      // y still holds the plan from before the ALTER; the failure on x must not be repeated there.
      for (const pid of [y, x, y]) expect((await steering.on(pid, () => a.query(q))).rows).toEqual([{ x: 1, y: 7 }]);
    });
  });

  describe('with prepared_statements: false', () => {
    let gh: RunningGatehouse;

    beforeEach(async () => {
      gh = await startGatehouse({ general: { ...clientTls(pki), prepared_statements: false }, pools: { [TX]: txPool() } });
    });

    afterEach(async () => {
      await gh?.stop();
    });

    it('a named statement is passed through under its own name: the client prepares and executes it within one transaction', async () => {
      const a = await connectPg(gh, pki, { database: TX });
      try {
        const q = (i: number) => ({ name: 'off_q', text: 'SELECT $1::int * 3 AS v', values: [i] });
        await a.query('BEGIN');
        expect((await a.query(q(14))).rows).toEqual([{ v: 42 }]);
        expect((await a.query(q(5))).rows).toEqual([{ v: 15 }]);
        expect((await a.query('SELECT name, statement FROM pg_prepared_statements')).rows).toEqual([
          { name: 'off_q', statement: 'SELECT $1::int * 3 AS v' },
        ]);
        await a.query('COMMIT');
      } finally {
        await a.end();
      }
    });
  });
});
