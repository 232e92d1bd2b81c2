/**
 * Issue 9, item 6: a client that goes away in the middle of a transaction, of an extended-protocol
 * pipeline, of a message or of a COPY never hands its server, with its open transaction or half its
 * pipeline, to the next client. With pool_size 1 the next client necessarily gets the same server or
 * a new one: it must see no open transaction (no transaction id, now() is its own statement's
 * time), none of the leaver's uncommitted rows (not even after the next client commits its own
 * work), and the leaver's locks gone; its queries, named statements included, must work.
 * The leaver is a hand-driven TLS session (fixtures/drivers/raw-session.ts) or node-postgres.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BackendType, query, sync } from '../../src/protocol/index.js';
import { connectPg } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { bindMsg, copyDataMsg, executeMsg, flushMsg, openRawSession, parseMsg, txStatus, typesOf, type RawSession } from '../fixtures/drivers/raw-session.js';
import type { RunningGatehouse } from '../fixtures/gatehouse.js';
import { startTransactionPool } from '../fixtures/drivers/transaction-pool.js';
import { createPki, type Pki } from '../fixtures/pki.js';

const POOL = 'tx_one';
const INSERT_TAG = 'INSERT INTO disconnect_probe (tag) VALUES ($1)';

describe.each(FLAVORS)('transaction pooling (pool_size 1) after a client leaves mid-transaction, in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    await cluster.query(`CREATE TABLE disconnect_probe (tag text NOT NULL); ALTER TABLE disconnect_probe OWNER TO ${APP_USER.name}`, APP_DATABASE);
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
  });

  beforeEach(async () => {
    gh = await startTransactionPool(cluster, pki, { pool: POOL, poolSize: 1, queryWaitTimeout: '10s' });
  });

  afterEach(async () => {
    await gh?.stop();
  });

  const leaver = (): Promise<RawSession> => openRawSession(gh, pki, POOL);

  /**
   * The next client of the pool: what its first statement sees, then a transaction that locks the
   * table (it waits for the leaver's locks to go; lock_timeout turns a leaked server into an error,
   * not a hang) and commits a row of its own.
   */
  async function nextClient(tag: string): Promise<Record<string, unknown>> {
    const client = await connectPg(gh, pki, { database: POOL });
    try {
      // Simple protocol: the statement starts the transaction, so now() = statement_timestamp() unless one was open already.
      const { rows } = await client.query(`SELECT pg_current_xact_id_if_assigned() IS NULL AS no_transaction_id,
          now() = statement_timestamp() AS own_transaction,
          (SELECT count(*)::int FROM disconnect_probe WHERE tag = '${tag}') AS leavers_rows`);
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = '10s'`);
      await client.query('LOCK TABLE disconnect_probe IN ACCESS EXCLUSIVE MODE');
      await client.query(INSERT_TAG, [`${tag}-next`]);
      await client.query('COMMIT');
      return rows[0];
    } finally {
      await client.end();
    }
  }

  const CLEAN = { no_transaction_id: true, own_transaction: true, leavers_rows: 0 };

  /** Committed rows whose tag starts with `tag`, as [tag, count], read directly on PostgreSQL. */
  const committed = (tag: string) =>
    cluster.query(`SELECT tag, count(*) FROM disconnect_probe WHERE tag LIKE '${tag}%' GROUP BY tag ORDER BY tag`, APP_DATABASE);

  it('a client that drops its connection after BEGIN and an INSERT: the next client sees no open transaction and not the row', async () => {
    const tag = 'dropped-in-transaction';
    const s = await leaver();
    await s.write(query('BEGIN'));
    expect(txStatus((await s.until(BackendType.ReadyForQuery)).at(-1)!)).toBe('T');
    await s.write(query(`INSERT INTO disconnect_probe (tag) VALUES ('${tag}')`));
    const inserted = await s.until(BackendType.ReadyForQuery);
    expect([typesOf(inserted), txStatus(inserted.at(-1)!)]).toEqual(['CZ', 'T']);
    s.destroy();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });

  it('a client that sends Terminate after BEGIN and an INSERT (node-postgres end()): the row is never committed', async () => {
    const tag = 'terminated-in-transaction';
    const client = await connectPg(gh, pki, { database: POOL });
    await client.query('BEGIN');
    await client.query(INSERT_TAG, [tag]);
    await client.end();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });

  it('a client that drops its connection in a failed transaction: the next client is not in it (no "current transaction is aborted")', async () => {
    const tag = 'dropped-in-failed-transaction';
    const s = await leaver();
    await s.write(query(`BEGIN; INSERT INTO disconnect_probe (tag) VALUES ('${tag}')`));
    await s.until(BackendType.ReadyForQuery);
    await s.write(query('SELECT 1/0'));
    const failed = await s.until(BackendType.ReadyForQuery);
    expect([typesOf(failed), txStatus(failed.at(-1)!)]).toEqual(['EZ', 'E']);
    s.destroy();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });

  it('a client that drops its connection in an extended-protocol pipeline without Sync: what it synced is committed, what it did not is not, and its statement name is free', async () => {
    const tag = 'dropped-before-sync';
    const s = await leaver();
    await s.write(parseMsg('leaver_insert', INSERT_TAG), bindMsg('', 'leaver_insert', [`${tag}-synced`]), executeMsg(''), sync());
    const synced = await s.until(BackendType.ReadyForQuery);
    expect([typesOf(synced), txStatus(synced.at(-1)!)]).toEqual(['12CZ', 'I']);
    // The same statement again, executed but never synced: the server is in an implicit transaction.
    await s.write(bindMsg('', 'leaver_insert', [tag]), executeMsg(''), flushMsg());
    expect(typesOf(await s.until(BackendType.CommandComplete))).toBe('2C');
    s.destroy();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([
      [`${tag}-next`, '1'],
      [`${tag}-synced`, '1'],
    ]);
    // The next client's own statement of that name is its own: a SELECT, not the leaver's INSERT.
    const client = await connectPg(gh, pki, { database: POOL });
    try {
      const { rows } = await client.query({ name: 'leaver_insert', text: 'SELECT $1::text AS echoed', values: ['mine'] });
      expect(rows).toEqual([{ echoed: 'mine' }]);
    } finally {
      await client.end();
    }
  });

  it('a client that drops its connection halfway through a message (after an unsynced INSERT): the next client is not desynchronized', async () => {
    const tag = 'dropped-mid-message';
    const s = await leaver();
    await s.write(parseMsg('', INSERT_TAG), bindMsg('', '', [tag]), executeMsg(''), flushMsg());
    expect(typesOf(await s.until(BackendType.CommandComplete))).toBe('12C');
    // Three of a Sync's five bytes: if they reached a server handed on, the next client's first bytes would complete it.
    await s.write(sync().subarray(0, 3));
    s.destroy();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });

  it('a client that drops its connection in the middle of COPY FROM STDIN: none of its rows arrive and the next client works', async () => {
    const tag = 'dropped-mid-copy';
    const s = await leaver();
    await s.write(query('COPY disconnect_probe (tag) FROM STDIN'));
    expect(typesOf(await s.until(BackendType.CopyInResponse))).toBe('G');
    await s.write(copyDataMsg(`${tag}\n`), copyDataMsg(`${tag}\n`), copyDataMsg(`${tag}\n`));
    s.destroy();

    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });

  it('a client that leaves before the answer to its transaction arrives: the next client gets its own answers, not the leftover ones', async () => {
    const tag = 'left-before-answer';
    const s = await leaver();
    await s.write(query(`BEGIN; INSERT INTO disconnect_probe (tag) VALUES ('${tag}'); SELECT pg_sleep(0.2), 'leftover' AS marker`));
    s.destroy();

    const client = await connectPg(gh, pki, { database: POOL });
    try {
      const { rows } = await client.query(`SELECT 'mine' AS marker`);
      expect(rows).toEqual([{ marker: 'mine' }]);
    } finally {
      await client.end();
    }
    expect(await nextClient(tag)).toEqual(CLEAN);
    expect(await committed(tag)).toEqual([[`${tag}-next`, '1']]);
  });
});
