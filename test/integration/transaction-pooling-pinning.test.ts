// Transaction pooling with what cannot move between backends: a client that LISTENs, holds a session advisory
// lock, has a temporary table, a WITH HOLD cursor or an SQL-level prepared statement keeps its backend (is pinned)
// until it lets go, so those features work as on a direct connection; the other clients share the rest of the
// pool meanwhile, and gatehouse_pinned_clients counts the pinned ones. pool_size 2. Between a pinned client's
// transactions another client holds a server in an open transaction, so an unpinned client would move.
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectPg } from '../fixtures/clients.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { OpenClients, ServerSteering } from '../fixtures/transaction-pool.js';
import { waitUntil } from '../fixtures/wait.js';

const TX = 'tx'; // transaction pool of app_user, pool_size 2

/** A query whose SQL holds several statements: node-postgres answers with one result per statement. */
async function multi(client: pg.Client, sql: string): Promise<pg.QueryResult[]> {
  return (await client.query(sql)) as unknown as pg.QueryResult[];
}

/** `work` while `busy` holds a server in an open transaction; returns what `work` returned and the held pid. */
async function whileHolding<T>(busy: pg.Client, work: () => Promise<T>): Promise<{ result: T; held: number }> {
  await busy.query('BEGIN');
  try {
    const held = await backendPid(busy);
    return { result: await work(), held };
  } finally {
    await busy.query('COMMIT');
  }
}

/** A lone statement, then an explicit transaction: the pid and rows of `sql` in each. */
async function inBothKindsOfTransaction(client: pg.Client, sql: string): Promise<Array<{ pid: number; rows: unknown[] }>> {
  const lone = await multi(client, `SELECT pg_backend_pid() AS pid; ${sql}`);
  await client.query('BEGIN');
  const pid = await backendPid(client);
  const { rows } = await client.query(sql);
  await client.query('COMMIT');
  return [
    { pid: lone[0].rows[0].pid as number, rows: lone[1].rows },
    { pid, rows },
  ];
}

describe.each(FLAVORS)('transaction pooling in front of %s: pinning instead of breakage', (flavor) => {
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

  // A gatehouse (and so two fresh backends, and metrics from zero) per test.
  let gh: RunningGatehouse;
  let steering: ServerSteering;
  let clients: OpenClients;

  beforeEach(async () => {
    gh = await startGatehouse({
      general: clientTls(pki),
      web: { enabled: true },
      pools: {
        [TX]: poolFor(cluster, pki, {
          server_database: APP_DATABASE,
          pool_mode: 'transaction',
          users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 2 }],
        }),
      },
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

  const exported = (text: string) => /^# TYPE gatehouse_pinned_clients gauge$/m.test(text);

  /** gatehouse_pinned_clients of the pool, once it reads `expected` (the gauge may be set just after the reply). */
  async function pinnedClientsBecomes(expected: number): Promise<number> {
    let text = '';
    let value = Number.NaN;
    await waitUntil(`gatehouse_pinned_clients{pool="${TX}"} to be ${expected}`, async () => {
      text = await gh.scrape();
      value = metricValue(text, 'gatehouse_pinned_clients', { pool: TX });
      return value === expected;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last value ${value}${exported(text) ? '' : ' (gatehouse_pinned_clients is not exported at all)'}`);
    });
    // metricValue reads an absent series as 0: a 0 means something only if the gauge exists.
    expect(exported(text), 'gatehouse_pinned_clients is exported').toBe(true);
    return value;
  }

  it('LISTEN: the listening client receives every NOTIFY other clients send across their transactions, and UNLISTEN * lets its backend go', async () => {
    const a = await connect();
    const b = await connect();
    const c = await connect();
    const received: Array<{ channel: string; payload: string | undefined; processId: number }> = [];
    a.on('notification', (n) => received.push({ channel: n.channel, payload: n.payload, processId: n.processId }));

    const listen = await multi(a, 'LISTEN ch; SELECT pg_backend_pid() AS pid');
    expect(listen.map((r) => r.command)).toEqual(['LISTEN', 'SELECT']);
    const pinned = listen[1].rows[0].pid as number;

    const sent: Array<{ channel: string; payload: string; processId: number }> = [];
    const others: number[] = [];
    await Promise.all([
      (async () => {
        for (let i = 1; i <= 6; i++) {
          const payload = `hello-${i}`;
          let processId: number;
          if (i % 2 === 1) {
            await b.query('BEGIN');
            await b.query(`NOTIFY ch, '${payload}'`);
            processId = await backendPid(b);
            await b.query('COMMIT');
          } else {
            processId = (await multi(b, `NOTIFY ch, '${payload}'; SELECT pg_backend_pid() AS pid`))[1].rows[0].pid as number;
          }
          sent.push({ channel: 'ch', payload, processId });
        }
      })(),
      (async () => {
        for (let i = 0; i < 12; i++) others.push(await backendPid(c));
      })(),
    ]);
    await waitUntil(`A to receive ${sent.length} notifications (has ${received.length})`, () => received.length >= sent.length);
    expect(received).toEqual(sent);
    // The listener's backend served only the listener.
    expect(new Set([...sent.map((s) => s.processId), ...others])).toEqual(new Set([steering.other(pinned)]));

    const channels = 'SELECT array(SELECT pg_listening_channels()) AS channels';
    expect(await inBothKindsOfTransaction(a, channels)).toEqual([
      { pid: pinned, rows: [{ channels: ['ch'] }] },
      { pid: pinned, rows: [{ channels: ['ch'] }] },
    ]);
    await a.query('UNLISTEN *');
    const moved = steering.other(pinned);
    expect(await steering.on(moved, () => inBothKindsOfTransaction(a, channels))).toEqual([
      { pid: moved, rows: [{ channels: [] }] },
      { pid: moved, rows: [{ channels: [] }] },
    ]);
  });

  it('a session advisory lock stays held across its client\'s transactions on one backend, blocks other clients, and is free for them after pg_advisory_unlock', async () => {
    const a = await connect();
    const b = await connect();
    const busy = await connect();

    const locked = await a.query('SELECT pg_backend_pid() AS pid, pg_advisory_lock(42) AS locked');
    const pinned = locked.rows[0].pid as number;
    expect(locked.rows).toEqual([{ pid: pinned, locked: '' }]);

    const held = `SELECT count(*)::int AS held FROM pg_locks
      WHERE locktype = 'advisory' AND classid = 0 AND objid = 42 AND pid = pg_backend_pid() AND granted`;
    for (let round = 0; round < 3; round++) {
      const seen = await whileHolding(busy, () => inBothKindsOfTransaction(a, held));
      expect(seen).toEqual({
        result: [
          { pid: pinned, rows: [{ held: 1 }] },
          { pid: pinned, rows: [{ held: 1 }] },
        ],
        held: steering.other(pinned),
      });
    }
    expect((await b.query('SELECT pg_try_advisory_lock(42) AS got, pg_backend_pid() AS pid')).rows).toEqual([
      { got: false, pid: steering.other(pinned) },
    ]);

    expect((await a.query('SELECT pg_advisory_unlock(42) AS released, pg_backend_pid() AS pid')).rows).toEqual([{ released: true, pid: pinned }]);
    expect((await b.query('SELECT pg_try_advisory_lock(42) AS got')).rows).toEqual([{ got: true }]);
    expect((await b.query('SELECT pg_advisory_unlock(42) AS released')).rows).toEqual([{ released: true }]);
  });

  it('a temporary table lives across its client\'s transactions (CREATE, INSERT, SELECT each in its own) and other clients cannot see it', async () => {
    const a = await connect();
    const b = await connect();
    const busy = await connect();

    const created = await multi(a, 'CREATE TEMP TABLE t (x int); SELECT pg_backend_pid() AS pid');
    expect(created.map((r) => r.command)).toEqual(['CREATE', 'SELECT']);
    const pinned = created[1].rows[0].pid as number;

    const inserted = await whileHolding(busy, () => multi(a, 'INSERT INTO t VALUES (1), (2), (3); SELECT pg_backend_pid() AS pid'));
    expect({ rowCount: inserted.result[0].rowCount, pid: inserted.result[1].rows[0].pid, held: inserted.held }).toEqual({
      rowCount: 3,
      pid: pinned,
      held: steering.other(pinned),
    });

    const missing = await b.query('SELECT count(*) FROM t').catch((err: Error & { code?: string }) => err);
    expect(missing).toMatchObject({ code: '42P01', message: 'relation "t" does not exist' });
    expect((await b.query(`SELECT to_regclass('pg_temp.t') IS NULL AS invisible, pg_backend_pid() AS pid`)).rows).toEqual([
      { invisible: true, pid: steering.other(pinned) },
    ]);

    const counted = await whileHolding(busy, () => a.query('SELECT count(*)::int AS n, pg_backend_pid() AS pid FROM t'));
    expect({ rows: counted.result.rows, held: counted.held }).toEqual({ rows: [{ n: 3, pid: pinned }], held: steering.other(pinned) });
  });

  it('a WITH HOLD cursor keeps its position across its client\'s transactions, and CLOSE lets the backend go', async () => {
    const a = await connect();
    const b = await connect();
    const busy = await connect();

    const declared = await multi(a, 'DECLARE c CURSOR WITH HOLD FOR SELECT generate_series(1, 10); SELECT pg_backend_pid() AS pid');
    expect(declared.map((r) => r.command)).toEqual(['DECLARE', 'SELECT']);
    const pinned = declared[1].rows[0].pid as number;

    const first = await whileHolding(busy, () => multi(a, 'FETCH 3 FROM c; SELECT pg_backend_pid() AS pid'));
    expect({ rows: first.result[0].rows, pid: first.result[1].rows[0].pid, held: first.held }).toEqual({
      rows: [{ generate_series: 1 }, { generate_series: 2 }, { generate_series: 3 }],
      pid: pinned,
      held: steering.other(pinned),
    });
    const foreign = await b.query('FETCH 1 FROM c').catch((err: Error & { code?: string }) => err);
    expect(foreign).toMatchObject({ code: '34000', message: 'cursor "c" does not exist' });
    const second = await whileHolding(busy, async () => {
      await a.query('BEGIN');
      const fetched = await a.query('FETCH 3 FROM c');
      const pid = await backendPid(a);
      await a.query('COMMIT');
      return { rows: fetched.rows, pid };
    });
    expect(second).toEqual({
      result: { rows: [{ generate_series: 4 }, { generate_series: 5 }, { generate_series: 6 }], pid: pinned },
      held: steering.other(pinned),
    });

    expect((await a.query('CLOSE c')).command).toBe('CLOSE');
    const moved = steering.other(pinned);
    expect(await steering.on(moved, () => backendPid(a))).toBe(moved);
  });

  it('an SQL-level PREPARE stays usable by EXECUTE in its client\'s later transactions, not by other clients, and DEALLOCATE lets the backend go', async () => {
    const a = await connect();
    const b = await connect();
    const busy = await connect();

    const prepared = await multi(a, 'PREPARE p AS SELECT $1::int * 2; SELECT pg_backend_pid() AS pid');
    expect(prepared.map((r) => r.command)).toEqual(['PREPARE', 'SELECT']);
    const pinned = prepared[1].rows[0].pid as number;

    for (let round = 0; round < 3; round++) {
      const seen = await whileHolding(busy, () => inBothKindsOfTransaction(a, 'EXECUTE p(21)'));
      expect(seen).toEqual({
        result: [
          { pid: pinned, rows: [{ '?column?': 42 }] },
          { pid: pinned, rows: [{ '?column?': 42 }] },
        ],
        held: steering.other(pinned),
      });
    }
    const foreign = await b.query('EXECUTE p(21)').catch((err: Error & { code?: string }) => err);
    expect(foreign).toMatchObject({ code: '26000', message: 'prepared statement "p" does not exist' });

    expect((await a.query('DEALLOCATE p')).command).toBe('DEALLOCATE');
    const moved = steering.other(pinned);
    expect(await steering.on(moved, () => backendPid(a))).toBe(moved);
    const gone = await a.query('EXECUTE p(21)').catch((err: Error & { code?: string }) => err);
    expect(gone).toMatchObject({ code: '26000', message: 'prepared statement "p" does not exist' });
  });

  it('while one client is pinned, the other clients keep being served by the remaining backend', async () => {
    const a = await connect();
    const others = [await connect(), await connect(), await connect()];
    const pinned = (await a.query('SELECT pg_backend_pid() AS pid, pg_advisory_lock(43) AS locked')).rows[0].pid as number;

    const runs = await Promise.all([
      ...others.map(async (client) => {
        const pids: number[] = [];
        for (let i = 0; i < 5; i++) pids.push(await backendPid(client));
        for (let i = 0; i < 2; i++) {
          await client.query('BEGIN');
          pids.push(await backendPid(client));
          expect((await client.query('SELECT 1 + $1::int AS v', [i])).rows).toEqual([{ v: 1 + i }]);
          await client.query('COMMIT');
        }
        return pids;
      }),
      (async () => {
        const pids: number[] = [];
        for (let i = 0; i < 5; i++) pids.push(await backendPid(a));
        return pids;
      })(),
    ]);
    const rest = steering.other(pinned);
    expect(runs).toEqual([...others.map(() => Array(7).fill(rest)), Array(5).fill(pinned)]);
    expect((await a.query('SELECT pg_advisory_unlock(43) AS released')).rows).toEqual([{ released: true }]);
  });

  // What the client holds, the statement that pins it, the statement that lets go.
  const PINS: Array<[string, string, string]> = [
    ['LISTEN', 'LISTEN ch', 'UNLISTEN *'],
    ['a session advisory lock', 'SELECT pg_advisory_lock(42)', 'SELECT pg_advisory_unlock(42)'],
    ['a temporary table', 'CREATE TEMP TABLE t (x int)', 'DISCARD TEMP'],
    ['a WITH HOLD cursor', 'DECLARE c CURSOR WITH HOLD FOR SELECT 1', 'CLOSE c'],
    ['an SQL-level prepared statement', 'PREPARE p AS SELECT 1', 'DEALLOCATE p'],
  ];

  it.each(PINS)('gatehouse_pinned_clients counts a client while it holds %s (%s) and not after it lets go (%s)', async (_holds, pin, unpin) => {
    const a = await connect();
    expect(await pinnedClientsBecomes(0)).toBe(0);
    const pinned = (await multi(a, `${pin}; SELECT pg_backend_pid() AS pid`))[1].rows[0].pid as number;
    expect(await pinnedClientsBecomes(1)).toBe(1);
    expect(await backendPid(a)).toBe(pinned);
    await a.query(unpin);
    expect(await pinnedClientsBecomes(0)).toBe(0);
    const moved = steering.other(pinned);
    expect(await steering.on(moved, () => backendPid(a))).toBe(moved);
  });

  it('a pinned client that disconnects is no longer counted, and its lock and temporary table do not outlive it on the backend', async () => {
    const a = await connectPg(gh, pki, { database: TX });
    await multi(a, 'SELECT pg_advisory_lock(42); CREATE TEMP TABLE leftover (x int)');
    expect(await pinnedClientsBecomes(1)).toBe(1);
    await a.end();
    expect(await pinnedClientsBecomes(0)).toBe(0);

    const leftovers = async () =>
      (
        await cluster.query(
          `SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), (SELECT count(*) FROM pg_class WHERE relname = 'leftover' AND relpersistence = 't')`,
          APP_DATABASE,
        )
      )[0];
    await waitUntil('the disconnected client\'s advisory lock and temporary table to be gone', async () => (await leftovers()).join() === '0,0');
    expect(await leftovers()).toEqual(['0', '0']);
    // Both servers can be held at once again (the pinned one came back to the pool, or was replaced).
    const again = await ServerSteering.start(gh, pki, { database: TX });
    await again.end();
    const b = await connect();
    expect((await b.query('SELECT pg_try_advisory_lock(42) AS got')).rows).toEqual([{ got: true }]);
    expect((await b.query('SELECT pg_advisory_unlock(42) AS released')).rows).toEqual([{ released: true }]);
  });
});
