// CancelRequests that arrive in plain (libpq before 17 never encrypts them) against a TLS-only
// gatehouse, and max_connections: the client beyond it is told "too many clients" in plain, while
// cancels still get through.
import type pg from 'pg';
import { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER } from '../../fixtures/clusters.js';
import { connectPg, settledWithin } from '../../fixtures/clients.js';
import { metricValue, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { psql, psqlValue } from '../../fixtures/psql.js';
import { waitUntil } from '../../fixtures/wait.js';
import { encodeCancelRequest, encodeSslRequest, encodeStartupMessage } from '../../../src/protocol/index.js';
import { gatehouseConninfo, scrape, startHarness, type ClientTlsHarness } from './support/harness.js';
import { WireClient } from './support/wire.js';

let h: ClientTlsHarness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

/** The cancel key node-postgres received in BackendKeyData (not in @types/pg). */
function cancelKey(client: pg.Client): { processId: number; secretKey: Buffer } {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  const key = Buffer.alloc(4);
  key.writeInt32BE(secretKey);
  return { processId: processID, secretKey: key };
}

/** A CancelRequest on a new plain TCP socket; resolves once gatehouse closed it, with what it sent back. */
async function plainCancel(gh: RunningGatehouse, key: { processId: number; secretKey: Buffer }): Promise<Buffer> {
  const socket = await WireClient.connect(gh.port);
  socket.write(encodeCancelRequest(key.processId, key.secretKey));
  await socket.closed();
  return socket.unread;
}

/** Starts pg_sleep(30) on `client`; resolves once the backend runs it, with the query's outcome (wrapped, not awaited). */
async function sleeping(client: pg.Client, label: string): Promise<{ query: Promise<unknown> }> {
  const sql = `SELECT pg_sleep(30) -- ${label}`;
  const query = client.query(sql);
  query.catch(() => {});
  await waitUntil('pg_sleep to run on the backend', async () => {
    const rows = await h.cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = '${sql}'`);
    return rows[0][0] === '1';
  });
  return { query };
}

describe('CancelRequest in plain under tls_mode require', () => {
  let gh: RunningGatehouse;

  beforeAll(async () => {
    gh = await h.gatehouse('require');
  });

  it('cancels a pg_sleep(30) running in a TLS session with 57014, and only with the right key', async () => {
    const client = await connectPg(gh, h.pki);
    try {
      expect(client.connection.stream).toBeInstanceOf(TLSSocket);
      const { query } = await sleeping(client, 'plain cancel');
      const key = cancelKey(client);

      const wrongKey = Buffer.from(key.secretKey.map((b) => b ^ 0xff));
      expect(await plainCancel(gh, { processId: key.processId, secretKey: wrongKey })).toHaveLength(0);
      expect(await settledWithin(query, 1000)).toBe('pending');

      const cancelsBefore = metricValue(await scrape(gh), 'pg_doorman_connections_total', { type: 'cancel' });
      const sentAt = Date.now();
      // A cancel is answered by closing the connection, never with bytes.
      expect(await plainCancel(gh, key)).toHaveLength(0);
      await expect(query).rejects.toMatchObject({ code: '57014' });
      expect(Date.now() - sentAt).toBeLessThan(5000);
      expect(metricValue(await scrape(gh), 'pg_doorman_connections_total', { type: 'cancel' })).toBe(cancelsBefore + 1);

      const after = await client.query<{ n: number }>('SELECT 7 AS n');
      expect(after.rows).toEqual([{ n: 7 }]);
    } finally {
      await client.end();
    }
  });
});

describe('max_connections 2', () => {
  let gh: RunningGatehouse;
  let held: pg.Client[] = [];

  beforeAll(async () => {
    gh = await h.gatehouse('require', { max_connections: 2 });
  });

  afterAll(async () => {
    await Promise.all(held.map((c) => c.end()));
  });

  it('with 2 clients held open a third is answered N to SSLRequest and then FATAL 53300 "sorry, too many clients already"', async () => {
    held = [await connectPg(gh, h.pki), await connectPg(gh, h.pki)];

    const prefer = await psql(gatehouseConninfo(gh, { sslmode: 'prefer' }), ['-c', 'SELECT 1'], { env: { PGCONNECT_TIMEOUT: '5' } });
    expect(prefer.code).toBe(2);
    expect(prefer.stderr).toMatch(/FATAL: {2}sorry, too many clients already/);

    const raw = await WireClient.connect(gh.port);
    raw.write(encodeSslRequest());
    expect((await raw.read(1)).toString()).toBe('N');
    raw.write(encodeStartupMessage({ user: APP_USER.name, database: APP_DATABASE }));
    expect(await raw.readError()).toMatchObject({ severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' });
    await raw.closed();

    // A client that insists on TLS is told 'N' and gives up on its own.
    const required = await psql(gatehouseConninfo(gh, { sslmode: 'require' }), ['-c', 'SELECT 1'], { env: { PGCONNECT_TIMEOUT: '5' } });
    expect(required.code).toBe(2);
    expect(required.stderr).toMatch(/server does not support SSL, but SSL was required/);

    // One held client leaves: the next one gets in, over TLS.
    await held.pop()!.end();
    await waitUntil('gatehouse to count the departed client', () => gh.gateway.clientCount === 1);
    const conn = gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: h.pki.caFile });
    expect(await psqlValue(conn, 'SELECT 40 + 2')).toBe('42');
  });

  it('at max_connections a plain CancelRequest is still forwarded', async () => {
    // Let gatehouse see the previous test's last client go before filling up again.
    await waitUntil('only the held clients to remain', () => gh.gateway.clientCount === held.length);
    while (held.length < 2) held.push(await connectPg(gh, h.pki));
    const { query } = await sleeping(held[0], 'cancel at capacity');
    expect(gh.gateway.clientCount).toBe(2);
    expect(await plainCancel(gh, cancelKey(held[0]))).toHaveLength(0);
    await expect(query).rejects.toMatchObject({ code: '57014' });
  });
});
