/**
 * Issue 13: backpressure both ways, in session and transaction pooling, with 300 MB.
 * - A client that asks for a 300 MB result and stops reading: gatehouse stops reading PostgreSQL (whose backend
 *   then waits on ClientWrite) instead of buffering the result; its memory stays far below the result's size, other
 *   clients are served meanwhile, and once the client reads again every row arrives.
 * - A client that sends 100 MB of COPY data while PostgreSQL does not read (its backend is in pg_sleep): the client
 *   is held back at the pace PostgreSQL reads instead of gatehouse absorbing the data; then every row arrives.
 * gatehouse runs in this process, so the Buffers it would hold show in process.memoryUsage().arrayBuffers; the paused
 * client reads nothing, so what it is sent waits in kernel socket buffers, not there. Plain TCP on both hops: TLS
 * changes nothing about backpressure and would only make the 400 MB slower.
 */
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../../src/protocol/index.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectPg } from '../fixtures/clients.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';
import { CLIENT_HANDLED } from '../fixtures/wire-client.js';

const MODES = ['session', 'transaction'] as const;
const ROWS = 300_000;
/** 300,000 DataRows of 1,000 bytes: 303 MB on the wire. */
const BIG_RESULT = `SELECT repeat('x', 1000) AS filler FROM generate_series(1, ${ROWS})`;
/** What gatehouse may hold while a 300 MB stream is stuck: socket buffers and the relay's chunks, not the stream. */
const MEMORY_BOUND = 48 * 1024 * 1024;

/** One CopyData message of 1,000 lines of 1,023 bytes and a newline (≈ 1 MB), sent 100 times: 102 MB (300 would only take longer). */
const LINE = `${'y'.repeat(1023)}\n`;
const COPY_CHUNKS = 100;
const COPY_DATA = (() => {
  const body = Buffer.from(LINE.repeat(1000));
  const head = Buffer.alloc(5);
  head[0] = 0x64; // 'd'
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
})();
const COPY_DONE = Buffer.from([0x63, 0, 0, 0, 4]);

interface RawConnection {
  stream: Socket;
  on(event: string, listener: (msg: { name: string; text?: string }) => void): void;
  removeAllListeners(event: string): void;
}

/** A node-postgres client whose connection the test drives: Client's own handlers are gone, the socket is the test's. */
async function rawClient(gh: RunningGatehouse, pki: Pki, database: string): Promise<{ client: pg.Client; con: RawConnection }> {
  const client = await connectPg(gh, pki, { database, ssl: false });
  const con = client.connection as unknown as RawConnection;
  for (const event of CLIENT_HANDLED) con.removeAllListeners(event);
  return { client, con };
}

const buffered = () => process.memoryUsage().arrayBuffers;

describe(`backpressure both ways through gatehouse, in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki, { ssl: 'off', hba: ['host all all 127.0.0.1/32 scram-sha-256'] });
    await cluster.query(`CREATE UNLOGGED TABLE sink (line text); ALTER TABLE sink OWNER TO ${APP_USER.name}`, APP_DATABASE);
    const pool = (mode: string) =>
      poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: mode, server_tls_mode: 'disable', server_tls_ca_cert: null });
    gh = await startGatehouse({ general: { tls_mode: 'disable' }, pools: Object.fromEntries(MODES.map((m) => [m, pool(m)])) });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  /** The backend running `sql`'s wait event, as pg_stat_activity shows it. */
  const waitEventOf = async (sql: string) =>
    (await cluster.query(`SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE query = '${sql.replace(/'/g, "''")}'`))[0]?.[0];

  it.each(MODES)('%s pooling: a client that stops reading a 300 MB result holds PostgreSQL back, gatehouse stays far below 300 MB, and every row arrives later', async (mode) => {
    const { client, con } = await rawClient(gh, pki, mode);
    let rows = 0;
    con.on('dataRow', () => rows++);
    const done = new Promise<string>((resolve) => con.on('commandComplete', (m) => resolve(m.text ?? '')));
    const before = buffered();
    con.stream.pause();
    con.stream.write(query(BIG_RESULT));

    // Backpressure reached PostgreSQL: its backend waits for the socket gatehouse no longer reads.
    await waitUntil('the backend to wait on ClientWrite', async () => (await waitEventOf(BIG_RESULT)) === 'ClientWrite', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await waitEventOf(BIG_RESULT), 'still held back a second later').toBe('ClientWrite');
    const held = buffered() - before;
    expect(held, `bytes gatehouse holds (${(held / 1e6).toFixed(1)} MB)`).toBeLessThan(MEMORY_BOUND);
    // The rest of the pool is not held up by the stuck client.
    const other = await connectPg(gh, pki, { database: mode, ssl: false });
    expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await other.end();

    con.stream.resume();
    expect(await done).toBe(`SELECT ${ROWS}`);
    expect(rows).toBe(ROWS);
    client.end().catch(() => {});
  });

  it.each(MODES)('%s pooling: a client that sends 100 MB of COPY data while PostgreSQL does not read is held back, and every row arrives later', async (mode) => {
    await cluster.query('TRUNCATE sink', APP_DATABASE);
    const { client, con } = await rawClient(gh, pki, mode);
    const done = new Promise<string>((resolve) => con.on('commandComplete', (m) => m.text?.startsWith('COPY') && resolve(m.text)));
    const sleep = 'SELECT pg_sleep(3)';
    con.stream.write(Buffer.concat([query(sleep), query('COPY sink (line) FROM STDIN')]));
    await waitUntil('pg_sleep to run', async () => (await waitEventOf(sleep)) === 'PgSleep');

    // A well-behaved writer: as fast as its socket takes the data.
    let sent = 0;
    const writer = (async () => {
      for (let i = 0; i < COPY_CHUNKS; i++) {
        if (!con.stream.write(COPY_DATA)) await new Promise((resolve) => con.stream.once('drain', resolve));
        sent++;
      }
      con.stream.write(COPY_DONE);
    })();
    const before = buffered();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Still in pg_sleep: what went out sits in socket buffers and gatehouse's, a few MB, not 300.
    expect(await waitEventOf(sleep)).toBe('PgSleep');
    expect(sent * COPY_DATA.length, 'bytes the client got rid of while PostgreSQL slept').toBeLessThan(MEMORY_BOUND);
    expect(buffered() - before).toBeLessThan(MEMORY_BOUND);

    await writer;
    expect(await done).toBe(`COPY ${COPY_CHUNKS * 1000}`);
    expect(await cluster.query('SELECT count(*), min(length(line)) FROM sink', APP_DATABASE)).toEqual([[String(COPY_CHUNKS * 1000), '1023']]);
    client.end().catch(() => {});
  });
});
