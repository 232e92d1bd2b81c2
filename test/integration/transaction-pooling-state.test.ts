// Transaction pooling as two clients of one pool notice it: what a client sets for its session (SET, set_config,
// SET ROLE, SET SESSION AUTHORIZATION, reported settings) follows that client to whichever backend runs its next
// transaction, and never reaches the other client, whichever backend that one gets. What a transaction undoes
// (ROLLBACK, SET LOCAL) leaves nothing behind. pool_size 2; ServerSteering puts each probe on the backend named.
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import type { PgClientOptions } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { OpenClients, ServerSteering, type WatchedClient } from '../fixtures/transaction-pool.js';

const TX = 'tx'; // transaction pool of app_user, pool_size 2
const TX_SU = 'tx_su'; // transaction pool of a superuser, pool_size 2
const SUPERUSER = { name: 'su_user', password: 'su-pass-1' } as const;
const OTHER_ROLE = 'other_role';
const APP = { database: TX } satisfies PgClientOptions;
const SU = { database: TX_SU, user: SUPERUSER.name, password: SUPERUSER.password } satisfies PgClientOptions;

const DEFAULT_SEARCH_PATH = '"$user", public';

type Row = Record<string, unknown> & { pid: number };
type Probe = (client: pg.Client) => Promise<Row>;

/** One simple Query (one implicit transaction): the backend's pid, then SHOW of each setting. */
function shown(...settings: string[]): Probe {
  return async (client) => {
    const results = (await client.query(['SELECT pg_backend_pid() AS pid', ...settings.map((s) => `SHOW ${s}`)].join('; '))) as unknown as pg.QueryResult[];
    return Object.assign({ pid: results[0].rows[0].pid as number }, ...results.slice(1).map((r) => r.rows[0]));
  };
}

/** The same in an explicit transaction: BEGIN, SHOW of each setting, the pid, COMMIT, each its own message. */
function shownInTransaction(...settings: string[]): Probe {
  return async (client) => {
    await client.query('BEGIN');
    const values: Record<string, unknown> = {};
    for (const s of settings) Object.assign(values, (await client.query(`SHOW ${s}`)).rows[0]);
    const { pid } = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0];
    await client.query('COMMIT');
    return { pid, ...values };
  };
}

/** current_user and session_user, in a lone statement and in an explicit transaction. */
const whoAmI: Probe = async (client) =>
  (await client.query<Row>('SELECT pg_backend_pid() AS pid, current_user AS current, session_user AS session')).rows[0];
const whoAmIInTransaction: Probe = async (client) => {
  await client.query('BEGIN');
  const row = (await client.query<Row>('SELECT pg_backend_pid() AS pid, current_user AS current, session_user AS session')).rows[0];
  await client.query('COMMIT');
  return row;
};

describe.each(FLAVORS)('transaction pooling in front of %s: session state stays with its client', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let defaultTimeZone: string;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki, { users: [{ ...APP_USER }, { ...SUPERUSER, superuser: true }] });
    await cluster.query(`CREATE ROLE ${OTHER_ROLE} NOLOGIN`);
    await cluster.query(`GRANT ${OTHER_ROLE} TO ${APP_USER.name}`);
    defaultTimeZone = (await cluster.query('SHOW TimeZone', APP_DATABASE))[0][0];
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  // A gatehouse (and so two fresh backends) per test: what one test leaks cannot fail the next one.
  let gh: RunningGatehouse;
  let steering: ServerSteering;
  let clients: OpenClients;

  beforeEach(async () => {
    const pool = (username: string, password: string) =>
      poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users: [{ username, password, pool_size: 2 }] });
    gh = await startGatehouse({
      general: clientTls(pki),
      pools: { [TX]: pool(APP_USER.name, APP_USER.password), [TX_SU]: pool(SUPERUSER.name, SUPERUSER.password) },
    });
    steering = await ServerSteering.start(gh, pki, APP);
    clients = new OpenClients(gh, pki);
  });

  afterEach(async () => {
    await clients?.endAll();
    await steering?.end();
    await gh?.stop();
  });

  const connect = (opts: PgClientOptions = APP): Promise<pg.Client> => clients.connect(opts);
  const watched = (opts: PgClientOptions): Promise<WatchedClient> => clients.watched(opts);

  /** `probe` run by `client` on each backend of the pool in turn (the first, then the second). */
  async function onEachBackend(client: pg.Client, probe: Probe, via: ServerSteering = steering): Promise<Row[]> {
    const seen: Row[] = [];
    for (const pid of via.pids) seen.push(await via.on(pid, () => probe(client)));
    return seen;
  }

  /** What onEachBackend returns when every backend shows `fields`. */
  function onBoth(fields: Record<string, unknown>, via: ServerSteering = steering): Row[] {
    return via.pids.map((pid) => ({ pid, ...fields }));
  }

  /**
   * Asserts that `client` sees `fields` through `probes` on both backends. Soft: a test goes on after a mismatch,
   * so one run shows every place where state did not follow its client or reached another one.
   */
  async function expectEverywhere(client: pg.Client, probes: Probe[], fields: Record<string, unknown>, via: ServerSteering = steering): Promise<void> {
    for (const probe of probes) expect.soft(await onEachBackend(client, probe, via)).toEqual(onBoth(fields, via));
  }

  it("a client's SET statement_timeout follows it to every backend, no other client ever sees it, and RESET brings the default back", async () => {
    const a = await connect();
    const b = await connect();
    const [x] = steering.pids;
    const probes = [shown('statement_timeout'), shownInTransaction('statement_timeout')];

    await steering.on(x, () => a.query(`SET statement_timeout = '1234ms'`));
    await expectEverywhere(a, probes, { statement_timeout: '1234ms' });
    // x is where A ran its SET; the other backend is where gatehouse applied A's setting for A.
    await expectEverywhere(b, probes, { statement_timeout: '0' });
    await expectEverywhere(a, probes, { statement_timeout: '1234ms' });

    await steering.on(steering.other(x), () => a.query('RESET statement_timeout'));
    await expectEverywhere(a, probes, { statement_timeout: '0' });
    await expectEverywhere(b, probes, { statement_timeout: '0' });
  });

  it("a client's SET search_path follows it to every backend and never reaches another client", async () => {
    const a = await watched(APP);
    const b = await watched(APP);
    const [x] = steering.pids;
    const probes = [shown('search_path'), shownInTransaction('search_path')];

    await steering.on(x, () => a.client.query('SET search_path = pg_catalog, public'));
    await expectEverywhere(a.client, probes, { search_path: 'pg_catalog, public' });
    await expectEverywhere(b.client, probes, { search_path: DEFAULT_SEARCH_PATH });
    await expectEverywhere(a.client, probes, { search_path: 'pg_catalog, public' });
    // PostgreSQL 18 reports search_path in ParameterStatus; 15 does not.
    const reportsSearchPath = flavor !== 'system15';
    expect.soft(a.reported.search_path).toBe(reportsSearchPath ? 'pg_catalog, public' : undefined);
    expect.soft(b.reported).toEqual(b.atLogin);
    expect.soft(b.atLogin.search_path).toBe(reportsSearchPath ? DEFAULT_SEARCH_PATH : undefined);

    await steering.on(x, () => a.client.query('RESET search_path'));
    await expectEverywhere(a.client, probes, { search_path: DEFAULT_SEARCH_PATH });
  });

  it("set_config(…, false) is a session setting like SET: it follows its client and never reaches another one", async () => {
    const a = await connect();
    const b = await connect();
    const [x] = steering.pids;
    const probes = [shown('statement_timeout'), shownInTransaction('statement_timeout')];

    const set = await steering.on(x, () => a.query(`SELECT set_config('statement_timeout', '2s', false)`));
    expect(set.rows).toEqual([{ set_config: '2s' }]);
    await expectEverywhere(a, probes, { statement_timeout: '2s' });
    await expectEverywhere(b, probes, { statement_timeout: '0' });
    await expectEverywhere(a, probes, { statement_timeout: '2s' });

    await steering.on(x, () => a.query('RESET statement_timeout'));
    await expectEverywhere(a, probes, { statement_timeout: '0' });
  });

  it('a SET inside an explicit transaction that commits follows its client like one outside a transaction', async () => {
    const a = await connect();
    const b = await connect();
    const [x] = steering.pids;
    const probes = [shown('statement_timeout'), shownInTransaction('statement_timeout')];

    await steering.on(x, async () => {
      await a.query('BEGIN');
      await a.query(`SET statement_timeout = '7s'`);
      await a.query('COMMIT');
    });
    await expectEverywhere(a, probes, { statement_timeout: '7s' });
    await expectEverywhere(b, probes, { statement_timeout: '0' });
  });

  it("SET ROLE changes current_user in its client's later transactions on every backend, not the other client's; RESET ROLE undoes it", async () => {
    const a = await connect();
    const b = await connect();
    const [x] = steering.pids;
    const probes = [whoAmI, whoAmIInTransaction];

    await steering.on(x, () => a.query(`SET ROLE ${OTHER_ROLE}`));
    await expectEverywhere(a, probes, { current: OTHER_ROLE, session: APP_USER.name });
    await expectEverywhere(b, probes, { current: APP_USER.name, session: APP_USER.name });
    await expectEverywhere(a, probes, { current: OTHER_ROLE, session: APP_USER.name });

    await steering.on(x, () => a.query('RESET ROLE'));
    await expectEverywhere(a, probes, { current: APP_USER.name, session: APP_USER.name });
    await expectEverywhere(b, probes, { current: APP_USER.name, session: APP_USER.name });
  });

  it("SET SESSION AUTHORIZATION (a superuser's login) follows its client to every backend; the other client's session_user never changes", async () => {
    const su = await ServerSteering.start(gh, pki, SU);
    try {
      const a = await watched(SU);
      const b = await watched(SU);
      const [x] = su.pids;
      const probes = [whoAmI, whoAmIInTransaction];

      await su.on(x, () => a.client.query(`SET SESSION AUTHORIZATION ${APP_USER.name}`));
      await expectEverywhere(a.client, probes, { current: APP_USER.name, session: APP_USER.name }, su);
      await expectEverywhere(b.client, probes, { current: SUPERUSER.name, session: SUPERUSER.name }, su);
      await expectEverywhere(a.client, probes, { current: APP_USER.name, session: APP_USER.name }, su);
      // session_authorization and is_superuser are reported settings: A was told of the change, B of nothing.
      expect.soft(a.reported).toEqual({ ...a.atLogin, session_authorization: APP_USER.name, is_superuser: 'off' });
      expect.soft(b.reported).toEqual(b.atLogin);
      expect.soft(b.atLogin).toMatchObject({ session_authorization: SUPERUSER.name, is_superuser: 'on' });

      await su.on(su.other(x), () => a.client.query('RESET SESSION AUTHORIZATION'));
      await expectEverywhere(a.client, probes, { current: SUPERUSER.name, session: SUPERUSER.name }, su);
      await expectEverywhere(b.client, probes, { current: SUPERUSER.name, session: SUPERUSER.name }, su);
      expect.soft(a.reported).toEqual(a.atLogin);
    } finally {
      await su.end();
    }
  });

  it('a SET in a transaction that rolls back, and SET LOCAL, leave nothing behind for their client or another', async () => {
    const a = await connect();
    const b = await connect();
    const [x] = steering.pids;
    const probes = [shown('statement_timeout', 'search_path'), shownInTransaction('statement_timeout', 'search_path')];
    const defaults = { statement_timeout: '0', search_path: DEFAULT_SEARCH_PATH };

    const insideRolledBack = await steering.on(x, async () => {
      await a.query('BEGIN');
      await a.query(`SET statement_timeout = '5s'`);
      await a.query('SET search_path = pg_catalog');
      const inside = await shown('statement_timeout', 'search_path')(a);
      await a.query('ROLLBACK');
      return inside;
    });
    expect(insideRolledBack).toEqual({ pid: x, statement_timeout: '5s', search_path: 'pg_catalog' });
    await expectEverywhere(a, probes, defaults);
    await expectEverywhere(b, probes, defaults);

    const insideLocal = await steering.on(x, async () => {
      await a.query('BEGIN');
      await a.query(`SET LOCAL statement_timeout = '6s'`);
      await a.query('SET LOCAL search_path = pg_catalog');
      const inside = await shown('statement_timeout', 'search_path')(a);
      await a.query('COMMIT');
      return inside;
    });
    expect(insideLocal).toEqual({ pid: x, statement_timeout: '6s', search_path: 'pg_catalog' });
    await expectEverywhere(a, probes, defaults);
    await expectEverywhere(b, probes, defaults);
  });

  it("reported settings follow their client: SET application_name and TimeZone stay with it on every backend, in SHOW and in the ParameterStatus node-postgres received, and the other client's do not change", async () => {
    const a = await watched({ ...APP, applicationName: 'a-start' });
    const b = await watched({ ...APP, applicationName: 'b-app' });
    const [x] = steering.pids;
    const probes = [shown('application_name', 'TimeZone'), shownInTransaction('application_name', 'TimeZone')];
    expect.soft(a.atLogin).toMatchObject({ application_name: 'a-start', TimeZone: defaultTimeZone });
    expect.soft(b.atLogin).toMatchObject({ application_name: 'b-app', TimeZone: defaultTimeZone });

    await steering.on(x, async () => {
      await a.client.query(`SET application_name = 'a-app'`);
      await a.client.query(`SET TimeZone = 'Asia/Tokyo'`);
    });
    expect.soft(a.reported).toEqual({ ...a.atLogin, application_name: 'a-app', TimeZone: 'Asia/Tokyo' });
    await expectEverywhere(a.client, probes, { application_name: 'a-app', TimeZone: 'Asia/Tokyo' });
    await expectEverywhere(b.client, probes, { application_name: 'b-app', TimeZone: defaultTimeZone });
    await expectEverywhere(a.client, probes, { application_name: 'a-app', TimeZone: 'Asia/Tokyo' });
    expect.soft(a.reported).toEqual({ ...a.atLogin, application_name: 'a-app', TimeZone: 'Asia/Tokyo' });
    expect.soft(b.reported).toEqual(b.atLogin);
  });
});
