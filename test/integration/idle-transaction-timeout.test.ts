// idle_transaction_timeout in both pool modes: what the client reads, what happens to its backend, and who is left alone.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectPg } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

const TIMEOUT_MS = 400;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The error node-postgres reports for what the server said while the client was not asking (or for its next query). */
function nextError(client: pg.Client): Promise<Error & { code?: string; severity?: string }> {
  return new Promise((resolve) => client.once('error', resolve));
}

describe.each(FLAVORS)('idle_transaction_timeout with %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    gh = await startGatehouse({
      general: { ...clientTls(pki), idle_transaction_timeout: TIMEOUT_MS },
      pools: {
        session: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'session', users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 2 }] }),
        transaction: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 2 }] }),
        // A pool that turns it off again for itself.
        patient: poolFor(cluster, pki, { server_database: APP_DATABASE, idle_transaction_timeout: 0 }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  describe.each(['session', 'transaction'])('in %s pooling', (database) => {
    it('a client idle in a transaction past idle_transaction_timeout is disconnected with FATAL 25P03 and its server is rolled back and closed', async () => {
      const client = await connectPg(gh, pki, { database });
      await client.query('BEGIN');
      await client.query(`CREATE TEMP TABLE IF NOT EXISTS left_open (x int)`);
      const pid = await backendPid(client);
      const error = nextError(client);
      const started = Date.now();
      const err = await error;
      expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect({ code: err.code, severity: err.severity, message: err.message }).toEqual({
        code: '25P03',
        severity: 'FATAL',
        message: 'terminating connection due to idle-in-transaction timeout',
      });
      // The backend is gone (PostgreSQL rolled its transaction back), never handed to another client mid-transaction.
      await waitUntil('the backend closed', async () => (await cluster.query(`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`)).length === 0, 5000);
      const next = await connectPg(gh, pki, { database });
      try {
        expect((await next.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'left_open'`)).rows).toEqual([{ n: 0 }]);
        expect(await backendPid(next)).not.toBe(pid);
      } finally {
        await next.end();
      }
      const journaled = [...gh.gateway.journals.endedRecords(), ...gh.gateway.journals.liveRecords()].some((r) =>
        r.entries.some((e) => (e.event as { type: string }).type === 'client.idleInTransaction'),
      );
      expect(journaled, 'the timeout is an event of the client machine, in its journal').toBe(true);
    });

    it('a client that keeps working inside its transaction, or idles outside one, is left alone', async () => {
      const client = await connectPg(gh, pki, { database });
      try {
        await client.query('BEGIN');
        for (let i = 0; i < 5; i++) {
          await sleep(TIMEOUT_MS / 2);
          await client.query('SELECT 1');
        }
        await client.query('COMMIT');
        await sleep(TIMEOUT_MS * 2);
        expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      } finally {
        await client.end();
      }
    });

    it('a transaction that failed (ReadyForQuery E) counts as idle in a transaction too', async () => {
      const client = await connectPg(gh, pki, { database });
      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => undefined);
      const err = await nextError(client);
      expect(err.code).toBe('25P03');
    });
  });

  it('a pool with idle_transaction_timeout 0 lets a client stay idle in a transaction', async () => {
    const client = await connectPg(gh, pki, { database: 'patient' });
    try {
      await client.query('BEGIN');
      await sleep(TIMEOUT_MS * 2);
      expect((await client.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
  });
});
