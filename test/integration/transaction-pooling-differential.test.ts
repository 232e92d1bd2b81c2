// Transaction pooling with PostgreSQL as the oracle: several clients' Parse/Bind/Describe/Execute/Close/
// Flush/Sync and simple queries, interleaved, get through gatehouse (pool_size 2, so servers rotate
// under the clients) exactly the answers the same clients get on PostgreSQL directly, one connection
// each: statement names are each client's own, wherever its next transaction lands.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import {
  firstDifference,
  program,
  runSchedule,
  scheduleText,
  type RunResult,
  type Scheduled,
  type SqlKey,
  type Step,
} from '../fixtures/pooling-programs.js';
import type { WireTarget } from '../fixtures/wire-client.js';

const TX = 'tx';
const POOL_SIZE = 2;
const NUM_RUNS = 30;

// Steps and batches of the fixed examples.
const parse = (name: string, sql: SqlKey, types: number[] = []): Step => ({ kind: 'parse', name, sql, types });
const bind = (statement: string, values: Array<string | null>, portal = ''): Step => ({ kind: 'bind', portal, statement, values });
const execute = (portal = '', rows = 0): Step => ({ kind: 'execute', portal, rows });
const describeStatement = (name: string): Step => ({ kind: 'describe', target: 'S', name });
const describePortal = (name = ''): Step => ({ kind: 'describe', target: 'P', name });
const flush: Step = { kind: 'flush' };
const on = (client: number, ...steps: Step[]): Scheduled => ({ client, batch: { kind: 'extended', steps } });
const query = (client: number, sql: string): Scheduled => ({ client, batch: { kind: 'query', sql } });
/** The backend pid of the client's current transaction: not compared, it differs by nature. */
const pidProbe = (client: number): Scheduled => ({ client, batch: { kind: 'query', sql: 'SELECT pg_backend_pid() AS pid', probe: true } });
const clientsOf = (schedule: Scheduled[]) => Math.max(...schedule.map((s) => s.client)) + 1;
const probedPid = (run: RunResult, i: number) => {
  const row = run.answers[i].find((m) => m.startsWith('DataRow '));
  if (!row) throw new Error(`probe ${i + 1} got no row: ${run.answers[i].join(' | ')}`);
  return (JSON.parse(row.slice('DataRow '.length)) as string[])[0];
};

const RFQ_IDLE = 'ReadyForQuery I';
const selected = (row: string) => [`DataRow ${JSON.stringify([row])}`, 'CommandComplete SELECT 1'];

describe.each(FLAVORS)('transaction pooling in front of %s answers as PostgreSQL does', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let direct: WireTarget;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    direct = {
      host: '127.0.0.1',
      port: cluster.port,
      database: APP_DATABASE,
      user: APP_USER.name,
      password: APP_USER.password,
      ssl: { ca: pki.ca.certPem, servername: 'localhost' },
    };
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  /** Plays the schedule through a fresh gatehouse (a transaction pool of POOL_SIZE servers), so every run starts from empty servers. */
  async function throughGatehouse(schedule: Scheduled[], clients = clientsOf(schedule)): Promise<RunResult> {
    const gh = await startGatehouse({
      general: clientTls(pki),
      pools: {
        [TX]: poolFor(cluster, pki, {
          server_database: APP_DATABASE,
          pool_mode: 'transaction',
          users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: POOL_SIZE }],
        }),
      },
    });
    try {
      return await runSchedule({ ...direct, host: gh.host, port: gh.port, database: TX }, clients, schedule);
    } finally {
      await gh.stop();
    }
  }

  /** PostgreSQL's answers (checked against `expected` where given), then gatehouse's, which must be the same. */
  async function differential(schedule: Scheduled[], expected?: string[][]): Promise<{ postgres: RunResult; gatehouse: RunResult }> {
    const postgres = await runSchedule(direct, clientsOf(schedule), schedule);
    if (expected) expect(postgres.answers, `PostgreSQL itself:\n${scheduleText(schedule)}`).toEqual(expected);
    const gatehouse = await throughGatehouse(schedule);
    const difference = firstDifference(schedule, postgres, gatehouse);
    if (difference) throw new Error(difference);
    return { postgres, gatehouse };
  }

  it('the oracle is stable: the same program played twice on PostgreSQL gets the same answers', async () => {
    await fc.assert(
      fc.asyncProperty(program(POOL_SIZE), async ({ programs, schedule }) => {
        const first = await runSchedule(direct, programs.length, schedule);
        const second = await runSchedule(direct, programs.length, schedule);
        const difference = firstDifference(schedule, first, second, ['first run', 'second run']);
        if (difference) throw new Error(difference);
      }),
      { numRuns: 8, skipAllAfterTimeLimit: 20_000, maxSkipsPerRun: 1000 },
    );
  });

  it('random interleavings of several clients’ extended-protocol batches and simple queries get the answers PostgreSQL gives them directly', async () => {
    await fc.assert(
      fc.asyncProperty(program(POOL_SIZE), async ({ programs, schedule }) => {
        const postgres = await runSchedule(direct, programs.length, schedule);
        const gatehouse = await throughGatehouse(schedule, programs.length);
        const difference = firstDifference(schedule, postgres, gatehouse);
        if (difference) throw new Error(difference);
      }),
      // Shrinking plays every candidate on both sides: capped so that a regression fails in a minute, not ten. Runs
      // skipped for time on a busy machine are fewer examples, not a failure (maxSkipsPerRun).
      { numRuns: NUM_RUNS, skipAllAfterTimeLimit: 25_000, maxSkipsPerRun: 1000 },
    );
  });

  // The pool hands out its most recently idle server first: a client inside BEGIN holds the server the
  // previous transaction used, so the next transaction of another client lands on the other one.
  it('a statement prepared in one transaction executes in the next on another server', async () => {
    const schedule: Scheduled[] = [
      query(0, 'BEGIN'),
      pidProbe(0),
      on(0, parse('a', 'inc')),
      query(0, 'COMMIT'),
      query(1, 'BEGIN'),
      query(0, 'BEGIN'),
      pidProbe(0),
      on(0, bind('a', ['1']), execute()),
      query(0, 'COMMIT'),
      query(1, 'COMMIT'),
    ];
    const { gatehouse } = await differential(schedule);
    expect(probedPid(gatehouse, 6), 'the second transaction ran on another server').not.toBe(probedPid(gatehouse, 1));
    expect(gatehouse.answers[7]).toEqual(['BindComplete', ...selected('2'), 'ReadyForQuery T']);
  });

  it('a statement prepared in one implicit transaction is described and executed, with Flush, in the next on another server', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc'), parse('b', 'cat', [25])),
      query(1, 'BEGIN'),
      on(0, describeStatement('b'), flush, bind('a', ['1']), flush, execute(), flush),
      query(1, 'COMMIT'),
    ];
    await differential(schedule, [
      ['ParseComplete', 'ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['ParameterDescription 25', 'RowDescription s:25', 'BindComplete', ...selected('2'), RFQ_IDLE],
      ['CommandComplete COMMIT', RFQ_IDLE],
    ]);
  });

  it('a duplicate Parse of a client’s name fails with 42P05 and the pipeline skips to Sync', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc')),
      query(1, 'BEGIN'),
      on(0, parse('a', 'cat'), bind('a', ['1']), execute()),
      on(0, bind('a', ['1']), execute()),
      query(1, 'COMMIT'),
    ];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['ErrorResponse ERROR 42P05', RFQ_IDLE],
      ['BindComplete', ...selected('2'), RFQ_IDLE],
      ['CommandComplete COMMIT', RFQ_IDLE],
    ]);
  });

  it('a duplicate Parse in a pipeline is answered at Flush, before any Sync', async () => {
    const schedule: Scheduled[] = [on(0, parse('a', 'inc'), parse('a', 'inc'), flush)];
    await differential(schedule, [['ParseComplete', 'ErrorResponse ERROR 42P05', RFQ_IDLE]]);
  });

  it('a duplicate Parse inside a transaction aborts it, as PostgreSQL does: later commands fail with 25P02 and COMMIT rolls back', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc')),
      query(0, 'BEGIN'),
      on(0, parse('a', 'cat')),
      query(0, 'SELECT 1'),
      query(0, 'COMMIT'),
    ];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['ErrorResponse ERROR 42P05', 'ReadyForQuery E'],
      ['ErrorResponse ERROR 25P02', 'ReadyForQuery E'],
      ['CommandComplete ROLLBACK', RFQ_IDLE],
    ]);
  });

  it('in a failed transaction every Parse fails with 25P02: of a name the client has, and of a new name for a query the server already knows', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc')),
      query(0, 'BEGIN'),
      query(0, 'SELECT 1/0'),
      on(0, parse('a', 'cat')),
      on(0, parse('b', 'inc')),
      query(0, 'COMMIT'),
      on(0, describeStatement('b')),
    ];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['ErrorResponse ERROR 22012', 'ReadyForQuery E'],
      ['ErrorResponse ERROR 25P02', 'ReadyForQuery E'],
      ['ErrorResponse ERROR 25P02', 'ReadyForQuery E'],
      ['CommandComplete ROLLBACK', RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
    ]);
  });

  // PostgreSQL parses and analyses the query before it looks the name up.
  it('a Parse of a name the client has, with a query that does not parse, fails with the syntax error (42601), not 42P05', async () => {
    const schedule: Scheduled[] = [on(0, parse('a', 'inc')), on(0, parse('a', 'bad'))];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['ErrorResponse ERROR 42601', RFQ_IDLE],
    ]);
  });

  it('an error inside a pipeline leaves the statements prepared before it usable, and the ones after it unprepared', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc'), parse('b', 'div'), bind('b', ['0']), execute(), parse('c', 'cat')),
      query(1, 'BEGIN'),
      on(0, bind('a', ['1']), execute(), bind('b', ['1']), execute()),
      on(0, describeStatement('c')),
      query(1, 'COMMIT'),
    ];
    await differential(schedule, [
      // PostgreSQL plans the unnamed portal with its parameter at Bind: 1/0 already fails there.
      ['ParseComplete', 'ParseComplete', 'ErrorResponse ERROR 22012', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['BindComplete', ...selected('2'), 'BindComplete', ...selected('1'), RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
      ['CommandComplete COMMIT', RFQ_IDLE],
    ]);
  });

  it('two clients use the same statement name for different queries, each gets its own', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc')),
      on(1, parse('a', 'cat')),
      query(2, 'BEGIN'),
      on(0, bind('a', ['1']), execute()),
      on(1, bind('a', ['1']), execute()),
      query(2, 'COMMIT'),
      on(1, bind('a', ['2']), execute()),
    ];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['BindComplete', ...selected('2'), RFQ_IDLE],
      ['BindComplete', ...selected('x1'), RFQ_IDLE],
      ['CommandComplete COMMIT', RFQ_IDLE],
      ['BindComplete', ...selected('x2'), RFQ_IDLE],
    ]);
  });

  // PostgreSQL keeps the unnamed statement past Sync, until the next Parse of "" or simple Query.
  it('the unnamed statement outlives its transaction, wherever the client’s next transaction lands', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('', 'inc')),
      query(1, 'BEGIN'),
      on(0, bind('', ['1']), execute()),
      query(1, 'COMMIT'),
    ];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['BindComplete', ...selected('2'), RFQ_IDLE],
      ['CommandComplete COMMIT', RFQ_IDLE],
    ]);
  });

  it('a client’s unnamed statement is its own: another client binding the unnamed statement does not run it', async () => {
    const schedule: Scheduled[] = [on(0, parse('', 'cat')), on(1, bind('', ['1']), execute())];
    await differential(schedule, [
      ['ParseComplete', RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
    ]);
  });

  it('DEALLOCATE, DEALLOCATE ALL and DISCARD ALL forget the client’s own statements and no other client’s; the name can be prepared again', async () => {
    const schedule: Scheduled[] = [
      on(0, parse('a', 'inc'), parse('b', 'div')),
      on(1, parse('a', 'cat')),
      query(0, 'DEALLOCATE a'),
      on(0, bind('a', ['1']), execute()),
      on(0, bind('b', ['1']), execute()),
      query(0, 'DISCARD ALL'),
      on(0, describeStatement('b')),
      on(1, bind('a', ['1']), execute()),
      on(0, parse('a', 'cat')),
      query(1, 'DEALLOCATE ALL'),
      on(1, describeStatement('a')),
      on(0, bind('a', ['2']), execute()),
    ];
    await differential(schedule, [
      ['ParseComplete', 'ParseComplete', RFQ_IDLE],
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete DEALLOCATE', RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
      ['BindComplete', ...selected('1'), RFQ_IDLE],
      ['CommandComplete DISCARD ALL', RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
      ['BindComplete', ...selected('x1'), RFQ_IDLE],
      ['ParseComplete', RFQ_IDLE],
      ['CommandComplete DEALLOCATE ALL', RFQ_IDLE],
      ['ErrorResponse ERROR 26000', RFQ_IDLE],
      ['BindComplete', ...selected('x2'), RFQ_IDLE],
    ]);
  });

  it('DEALLOCATE of a client’s statement inside a transaction also drops the unnamed portal, as any simple query does', async () => {
    const schedule: Scheduled[] = [
      query(0, 'BEGIN'),
      on(0, parse('a', 'answer'), bind('a', []), execute()),
      query(0, 'DEALLOCATE a'),
      on(0, describePortal()),
      query(0, 'COMMIT'),
    ];
    await differential(schedule, [
      ['CommandComplete BEGIN', 'ReadyForQuery T'],
      ['ParseComplete', 'BindComplete', 'DataRow ["42"]', 'CommandComplete SELECT 1', 'ReadyForQuery T'],
      ['CommandComplete DEALLOCATE', 'ReadyForQuery T'],
      ['ErrorResponse ERROR 34000', 'ReadyForQuery E'],
      ['CommandComplete ROLLBACK', RFQ_IDLE],
    ]);
  });
});
