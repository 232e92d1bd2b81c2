/**
 * Issue 13: PostgreSQL restarted (fast shutdown), crashed (SIGKILL to the postmaster and every backend at once) and
 * one backend terminated with pg_terminate_backend, while clients of a session pool and of a transaction pool keep
 * it busy. What a user notices: a client inside a transaction gets an error with a real SQLSTATE (PostgreSQL's own
 * 57P01 when it said why, 08006 from gatehouse when it died without a word), never a bare close; a transaction-pooled
 * client that was idle carries on on the same connection; both pools serve again once PostgreSQL is back, without
 * a restart of gatehouse; and nothing waits for ever.
 */
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectPg, settledWithin } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { NO_SQLSTATE, QueryLoad } from '../fixtures/query-load.js';
import { waitUntil } from '../fixtures/wait.js';

const SESSION = 'session_pool';
const TRANSACTION = 'tx_pool';
/**
 * What a client of gatehouse may be told while PostgreSQL goes away and comes back: the server's FATAL (57P01),
 * gatehouse's "server closed the connection unexpectedly" (08006), "could not connect" (08001), the server refusing
 * logins while it shuts down or recovers (57P03).
 */
const OUTAGE_SQLSTATES = ['57P01', '08006', '08001', '57P03'];

/** A client inside a transaction: one waiting for a long query's answer, one idle between its statements. */
interface InTransaction {
  busy: pg.Client;
  /** The busy client's query, settled. */
  busyOutcome: Promise<{ code: string; message: string } | 'answered'>;
  idle: pg.Client;
  /** The first 'error' the idle one hears (PostgreSQL's or gatehouse's FATAL, or the close). */
  idleError: Promise<{ code: string; message: string }>;
}

const codeOf = (err: unknown) => ({ code: (err as { code?: string }).code ?? NO_SQLSTATE, message: (err as Error).message });

describe.each(FLAVORS)('faults of PostgreSQL under load, session and transaction pooling, in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  /** The load of the running test, stopped after it even when it failed (so that it cannot fail the next one). */
  let loads: QueryLoad[] = [];

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    const pool = (mode: string, size: number) =>
      poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: mode, users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: size }] });
    gh = await startGatehouse({
      general: { ...clientTls(pki), connect_timeout: 2000, query_wait_timeout: 5000 },
      // Session: 3 load clients and 2 in a transaction. Transaction: the 2 in a transaction hold 2 servers; 3 load and 3 idle clients share 2.
      pools: { [SESSION]: pool('session', 6), [TRANSACTION]: pool('transaction', 4) },
    });
  });

  afterEach(async () => {
    await Promise.all(loads.splice(0).map((l) => l.stop()));
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  async function inTransaction(database: string): Promise<InTransaction> {
    const busy = await connectPg(gh, pki, { database });
    await busy.query('BEGIN');
    await busy.query('SELECT txid_current()');
    const busyOutcome = busy.query('SELECT pg_sleep(60)').then(() => 'answered' as const, codeOf);
    const idle = await connectPg(gh, pki, { database });
    await idle.query('BEGIN');
    await idle.query('SELECT txid_current()');
    const idleError = new Promise<{ code: string; message: string }>((resolve) => idle.once('error', (err) => resolve(codeOf(err))));
    // The long query has reached its backend before anything breaks.
    await waitUntil('pg_sleep(60) to run', async () => (await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'`))[0][0] !== '0');
    return { busy, busyOutcome, idle, idleError };
  }

  /** Waits (bounded) for what the clients in a transaction were told. */
  async function told(t: InTransaction): Promise<{ busy: string; idle: string }> {
    expect(await settledWithin(t.busyOutcome, 10_000), 'the busy client is answered, not left waiting').not.toBe('pending');
    expect(await settledWithin(t.idleError, 10_000), 'the idle client in a transaction hears of it').not.toBe('pending');
    const [busy, idle] = await Promise.all([t.busyOutcome, t.idleError]);
    void t.busy.end().catch(() => {});
    void t.idle.end().catch(() => {});
    return { busy: typeof busy === 'string' ? busy : busy.code, idle: idle.code };
  }

  async function idleTransactionClients(): Promise<pg.Client[]> {
    const clients = await Promise.all([1, 2, 3].map(() => connectPg(gh, pki, { database: TRANSACTION })));
    for (const c of clients) await c.query('SELECT 1');
    return clients;
  }

  /** Every idle transaction-pooled client answers on its old connection; new clients of both pools are served. */
  async function poolsServeAgain(idleClients: pg.Client[]): Promise<void> {
    for (const c of idleClients) expect((await c.query('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }]);
    await Promise.all(idleClients.map((c) => c.end()));
    for (const database of [SESSION, TRANSACTION]) {
      const fresh = await connectPg(gh, pki, { database });
      expect((await fresh.query(`SELECT current_setting('port')::int AS port`)).rows).toEqual([{ port: cluster.port }]);
      await fresh.end();
    }
  }

  /** Load on both pools until every load client has been answered again after the outage; then it must stop promptly. */
  async function recovered(): Promise<void> {
    for (const load of loads) load.mark();
    await waitUntil('every load client to be answered again', () => loads.every((l) => l.everyWorkerAnswered), 20_000);
    const stopped = Promise.all(loads.map((l) => l.stop()));
    expect(await settledWithin(stopped, 5_000), 'no load client hangs').toBe('resolved');
  }

  it.each([
    ['restarted fast', 'busy 57P01, idle 57P01', 'fast', { busy: '57P01', idle: '57P01' }],
    // The idle backend notices first and says FATAL 57P01 "unexpected postmaster exit"; pg_sleep's exits without a word.
    ['killed (kill -9 of the postmaster)', 'busy 08006, idle 57P01', 'kill-postmaster', { busy: '08006', idle: '57P01' }],
    ['killed with every backend (SIGKILL to all its processes)', 'busy 08006, idle 08006', 'kill-all', { busy: '08006', idle: '08006' }],
  ] as const)('PostgreSQL %s under load: clients in a transaction get an error with a real SQLSTATE (%s), idle transaction-pooled clients carry on, both pools recover', async (_what, _codes, how, expected) => {
    const sessionTx = await inTransaction(SESSION);
    const poolTx = await inTransaction(TRANSACTION);
    const idleClients = await idleTransactionClients();
    loads = [new QueryLoad(gh, pki, SESSION, 3), new QueryLoad(gh, pki, TRANSACTION, 3)];
    await waitUntil('the load to run', () => loads.every((l) => l.everyWorkerAnswered));

    await cluster.restart(how);

    expect(await told(sessionTx), 'session pooling').toEqual(expected);
    expect(await told(poolTx), 'transaction pooling').toEqual(expected);
    await recovered();
    await poolsServeAgain(idleClients);
    // A load client may be refused while PostgreSQL is down, always with a reason.
    const unexplained = loads.flatMap((l) => l.errors).filter((e) => !OUTAGE_SQLSTATES.includes(e.code));
    expect(unexplained, 'errors the load clients got without an outage SQLSTATE').toEqual([]);
  });

  it('backends terminated with pg_terminate_backend: their clients in a transaction get 57P01, an idle transaction-pooled client carries on', async () => {
    const sessionTx = await inTransaction(SESSION);
    const poolTx = await inTransaction(TRANSACTION);
    const idleClients = await idleTransactionClients();
    // The idle ones say who they are; the busy ones are found by their query.
    const pids = [await backendPid(sessionTx.idle), await backendPid(poolTx.idle)];
    await cluster.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE pid IN (${pids.join(', ')}) OR query = 'SELECT pg_sleep(60)'`,
    );
    expect(await told(sessionTx), 'session pooling').toEqual({ busy: '57P01', idle: '57P01' });
    expect(await told(poolTx), 'transaction pooling').toEqual({ busy: '57P01', idle: '57P01' });
    await poolsServeAgain(idleClients);
  });
});
