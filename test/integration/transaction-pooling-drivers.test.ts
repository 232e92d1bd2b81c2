/**
 * Issue 9's driver matrix: the drivers applications use, through a transaction pool of size 2 with
 * more client connections than servers, with named/prepared statements across many transactions.
 *
 * Each driver runs the plan of test/fixtures/drivers/plan.ts: 4 client connections and 2 holders.
 * The holders keep one server each in an open transaction and let go of one at a time, so every
 * client connection's consecutive transactions alternate between the two servers (whatever order
 * the pool hands idle servers out in) and every connection prepares its statements on a server the
 * others prepared theirs on; then the client connections run concurrently. Every value a statement
 * returns is compared with what the test computes, and every row it inserted is read back.
 * pgbench runs -M prepared and -M extended (select-only and TPC-B) with 8 clients on 2 servers.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import type { RunningGatehouse } from '../fixtures/gatehouse.js';
import { startTransactionPool } from '../fixtures/drivers/transaction-pool.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { runNodePg, runPostgresJs } from '../fixtures/drivers/node-drivers.js';
import { failedTransactions, pgbench, pgbenchInit, processedTransactions } from '../fixtures/drivers/pgbench.js';
import {
  directedPids,
  DRIVER_LOG_DDL,
  expectedLogRows,
  expectedValues,
  pidsOf,
  pidsPerConnection,
  valuesOf,
  type DriverRun,
  type Plan,
  type Target,
} from '../fixtures/drivers/plan.js';
import { compileJavaDriver, driverInput, runJavaDriver, runPythonDriver, type CompiledJava, type DriverOutcome } from '../fixtures/drivers/run-driver.js';

const POOL = 'tx';
const POOL_SIZE = 2;

function plan(driver: string): Plan {
  return { driver, conns: 4, rounds: 3, free: 6 };
}

let java: CompiledJava;

beforeAll(async () => {
  java = await compileJavaDriver();
});

afterAll(async () => {
  await java?.remove();
});

describe.each(FLAVORS)('transaction pooling (pool_size 2) with real drivers in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    await cluster.query(`${DRIVER_LOG_DDL}; ALTER TABLE driver_log OWNER TO ${APP_USER.name}`, APP_DATABASE);
    // pgbench's tables, made directly on PostgreSQL (not through gatehouse), owned by the application user.
    await pgbenchInit({ host: cluster.host, port: cluster.port, caFile: pki.caFile });
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  // A gatehouse per test: no server carries what an earlier driver left on it.
  beforeEach(async () => {
    gh = await startTransactionPool(cluster, pki, { pool: POOL, poolSize: POOL_SIZE, queryWaitTimeout: '5s' });
  });

  afterEach(async () => {
    await gh?.stop();
  });

  function target(): Target {
    return { host: gh.host, port: gh.port, database: POOL, user: APP_USER.name, password: APP_USER.password, caFile: pki.caFile };
  }

  /** An external driver exited 0 with nothing on stderr: the error it reports otherwise is the failure message. */
  function ranCleanly(outcome: DriverOutcome): DriverRun {
    expect({ code: outcome.code, signal: outcome.signal, stderr: outcome.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    return outcome.run!;
  }

  async function expectPlanRan(p: Plan, run: DriverRun): Promise<void> {
    // Every value every statement returned, in every transaction of every connection.
    expect(valuesOf(run)).toEqual(expectedValues(p));
    // The rows the log statement inserted (committed, each exactly once: driver_log's primary key).
    const logged = await cluster.query(`SELECT conn, step, note FROM driver_log WHERE driver = '${p.driver}' ORDER BY conn, step`, APP_DATABASE);
    expect(logged).toEqual(expectedLogRows(p));
    // An explicit transaction ran on one server from BEGIN to COMMIT.
    const split = run.transactions.filter((t) => t.kind === 'explicit' && new Set(pidsOf(t)).size !== 1);
    expect(split).toEqual([]);
    // The servers rotated: the holders held two different servers, each directed step ran on the one
    // not held, and so every connection ran on both of the pool's servers.
    const [first, second] = run.holders;
    expect(first.pid).not.toBe(second.pid);
    const steps = directedPids(p, run).map((d) => ({ step: d.step, servers: d.seen.length, onHeldServer: d.seen.includes(d.blocked!) }));
    expect(steps).toEqual(steps.map((d) => ({ step: d.step, servers: 1, onHeldServer: false })));
    expect(pidsPerConnection(p, run).map((pids) => pids.length)).toEqual(Array.from({ length: p.conns }, () => POOL_SIZE));
    const everyPid = new Set([...run.holders.map((h) => h.pid), ...run.transactions.flatMap(pidsOf)]);
    expect(everyPid.size).toBe(POOL_SIZE);
  }

  it('pgjdbc with prepareThreshold=1: connections sharing two servers get every PreparedStatement result right, autocommit and in transactions', async () => {
    const p = plan('pgjdbc');
    const run = ranCleanly(await runJavaDriver(java, driverInput(target(), p)));
    await expectPlanRan(p, run);
  });

  it('node-postgres named queries: connections sharing two servers get every result right, autocommit and in transactions', async () => {
    const p = plan('node-postgres');
    await expectPlanRan(p, await runNodePg(p, target(), pki.ca.certPem));
  });

  it('postgres.js with prepare: true: connections sharing two servers get every result right, autocommit and in sql.begin', async () => {
    const p = plan('postgres.js');
    await expectPlanRan(p, await runPostgresJs(p, target(), pki.ca.certPem));
  });

  it('psycopg 3 with prepare=True: connections sharing two servers get every result right, autocommit and in conn.transaction()', async () => {
    const p = plan('psycopg');
    const run = ranCleanly(await runPythonDriver('psycopg_driver.py', driverInput(target(), p)));
    await expectPlanRan(p, run);
  });

  it('asyncpg prepared statements and statement cache: connections sharing two servers get every result right, autocommit and in transactions', async () => {
    const p = plan('asyncpg');
    const run = ranCleanly(await runPythonDriver('asyncpg_driver.py', driverInput(target(), p)));
    await expectPlanRan(p, run);
  });

  const CLIENTS = 8;
  const PER_CLIENT = 50;

  // pgbench 15 prepares each command the first time a client runs it, with a blocking PQprepare that stalls
  // the other clients of its thread. With 4 clients a thread (-j 2), a client can prepare BEGIN while a
  // client of its own thread and one of the other thread hold both servers in their transactions: gatehouse
  // must answer that Parse+Sync without a server of its own (the pool knows the statement) or the two threads
  // wait on each other until query_wait_timeout. With a thread per client (-j 8) no client waits on another's.
  it.each([
    ['prepared', 'select-only (-S)', 2, ['-S']],
    ['prepared', 'TPC-B-like', 2, []],
    ['prepared', 'TPC-B-like', 8, []],
    ['extended', 'select-only (-S)', 2, ['-S']],
    ['extended', 'TPC-B-like', 2, []],
  ] as const)('pgbench -M %s, %s, -j %i: 8 clients on two servers process all 400 transactions without an error', async (protocol, _script, threads, scriptArgs) => {
    const balances = `SELECT (SELECT count(*) FROM pgbench_history), (SELECT sum(abalance) FROM pgbench_accounts),
      (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)`;
    const [before] = await cluster.query(balances, APP_DATABASE);
    const result = await pgbench({ host: gh.host, port: gh.port, database: POOL, caFile: pki.caFile }, [
      '-n',
      '-M',
      protocol,
      ...scriptArgs,
      '-c',
      String(CLIENTS),
      '-j',
      String(threads),
      '-t',
      String(PER_CLIENT),
    ]);
    const output = `${result.stdout}\n${result.stderr}`;
    const errorLines = output.split('\n').filter((line) => /ERROR|FATAL|error:/.test(line));
    expect({ code: result.code, errorLines }).toEqual({ code: 0, errorLines: [] });
    expect(processedTransactions(result.stdout)).toBe(`${CLIENTS * PER_CLIENT}/${CLIENTS * PER_CLIENT}`);
    expect(failedTransactions(result.stdout)).toBe('0');
    const [after] = await cluster.query(balances, APP_DATABASE);
    const [historyBefore, ...sumsBefore] = before.map(Number);
    const [history, accounts, branches, tellers, deltas] = after.map(Number);
    if (scriptArgs.length > 0) {
      // Select-only: nothing written.
      expect([history, accounts, branches, tellers, deltas]).toEqual([historyBefore, ...sumsBefore]);
    } else {
      // TPC-B: one history row per transaction, and every balance moved by the same deltas.
      expect(history - historyBefore).toBe(CLIENTS * PER_CLIENT);
      expect([accounts, branches, tellers]).toEqual([deltas, deltas, deltas]);
    }
  });
});
