// Data and cancellation over an encrypted backend hop: COPY of more than 20 MB each way with psql's
// \copy (byte-identical round trip), and a pg_sleep cancelled by psql (SIGINT) whose CancelRequest
// gatehouse forwards through TLS too, as the TCP tap and PostgreSQL's log show.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../../fixtures/clusters.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type Pki } from '../../fixtures/pki.js';
import { conninfo, psql, psqlResult, spawnPsql } from '../../fixtures/psql.js';
import { waitUntil } from '../../fixtures/wait.js';
import { logSince, logSize } from './support/backend.js';
import { SSL_OF_THIS_SESSION } from './support/outcome.js';
import { startTap, type Tap } from './support/tap.js';

const COPY_ROWS = 320_000;

/** Tab-separated rows of deterministic text, ≈ 76 bytes each. */
function copyData(rows: number): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    const word = ((i * 2654435761) % 4294967296).toString(16).padStart(8, '0');
    lines.push(`${i}\t${word.repeat(8)}\n`);
  }
  return Buffer.from(lines.join(''));
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('data path over a TLS backend connection, embedded PostgreSQL 18', () => {
  let pki: Pki;
  let cluster: Cluster;
  let tap: Tap;
  let gh: RunningGatehouse;
  let workDir: string;
  const connection = (database: string) =>
    conninfo({ host: '127.0.0.1', port: gh.port, dbname: database, user: APP_USER.name, password: APP_USER.password, sslmode: 'disable' });

  beforeAll(async () => {
    pki = await createPki('server-tls data path');
    // Only hostssl lines: a backend connection that is not encrypted cannot log in at all.
    cluster = await startTestCluster('embedded18', pki);
    tap = await startTap(cluster.port);
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-copy-'));
    const pool = (overrides: Record<string, unknown>) => poolFor(cluster, pki, { server_database: APP_DATABASE, server_port: tap.port, ...overrides });
    gh = await startGatehouse({
      general: { tls_mode: 'disable' },
      pools: {
        copy: pool({}),
        cancel_postgres: pool({ server_tls_negotiation: 'postgres' }),
        cancel_direct: pool({ server_tls_negotiation: 'direct' }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await tap?.close();
    await cluster?.stop();
    await pki?.remove();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  it('psql \\copy of 24 MB in and back out through gatehouse: byte-identical, on an encrypted backend hop', async () => {
    const data = copyData(COPY_ROWS);
    expect(data.length).toBeGreaterThan(20 * 1024 * 1024);
    const inFile = path.join(workDir, 'in.tsv');
    const outFile = path.join(workDir, 'out.tsv');
    await fs.writeFile(inFile, data);
    // One psql session: every command below runs on the same backend connection.
    const result = await psql(
      connection('copy'),
      [
        '-At',
        '-c', 'CREATE TABLE copy_check (id int PRIMARY KEY, payload text NOT NULL)',
        '-c', `\\copy copy_check FROM '${inFile}'`,
        '-c', `\\copy (SELECT id, payload FROM copy_check ORDER BY id) TO '${outFile}'`,
        '-c', SSL_OF_THIS_SESSION,
      ],
      { timeoutMs: 120_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['CREATE TABLE', `COPY ${COPY_ROWS}`, `COPY ${COPY_ROWS}`, 't', '']);
    const copiedOut = await fs.readFile(outFile);
    expect(copiedOut.length).toBe(data.length);
    expect(sha256(copiedOut)).toBe(sha256(data));
    // PostgreSQL itself holds what was sent.
    const [[rows, bytes]] = await cluster.query(
      'SELECT count(*), sum(octet_length(id::text) + octet_length(payload) + 2) FROM copy_check',
      APP_DATABASE,
    );
    expect([Number(rows), Number(bytes)]).toEqual([COPY_ROWS, data.length]);
  });

  it.each([
    ['cancel_postgres', 'ssl-request'],
    ['cancel_direct', 'tls-record'],
  ] as const)(
    '%s: psql interrupted during pg_sleep(30) gets 57014 within 3 s; the CancelRequest reaches PostgreSQL through TLS',
    async (pool, opening) => {
      const marker = `SELECT pg_sleep(30) -- ${pool}`;
      const child = spawnPsql(connection(pool), ['-At', '-v', 'VERBOSITY=verbose', '-c', SSL_OF_THIS_SESSION, '-c', marker]);
      const result = psqlResult(child, 40_000);
      let sleeper = '';
      await waitUntil('pg_sleep to run on the backend', async () => {
        const rows = await cluster.query(`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query = '${marker}'`);
        sleeper = rows[0]?.[0] ?? '';
        return sleeper !== '';
      });
      expect(await cluster.query(`SELECT ssl FROM pg_stat_ssl WHERE pid = ${sleeper}`)).toEqual([['t']]);
      const logOffset = await logSize(cluster);
      const connectionsBefore = tap.connections.length;
      const interruptedAt = Date.now();
      child.kill('SIGINT');
      const { code, stdout, stderr } = await result;
      expect(Date.now() - interruptedAt).toBeLessThan(3000);
      expect(code).not.toBe(0);
      expect(stdout).toBe('t\n');
      expect(stderr).toMatch(/ERROR: {2}57014: canceling statement due to user request/);
      // The cancel took a new backend connection, encrypted like the session's: no plain CancelRequest on the wire.
      const cancels = tap.connections.slice(connectionsBefore);
      expect(cancels.map((c) => c.opening)).toEqual([opening]);
      expect(tap.connections.filter((c) => c.opening === 'cancel')).toEqual([]);
      await waitUntil('PostgreSQL to log the cancellation', async () =>
        /canceling statement due to user request/.test(await logSince(cluster, logOffset)),
      );
      expect(await logSince(cluster, logOffset)).toContain(`STATEMENT:  ${marker}`);
    },
  );
});
