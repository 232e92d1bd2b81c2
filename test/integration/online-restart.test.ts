/**
 * Online restart: SIGUSR2 (or UPGRADE in the admin console) makes a running `gatehouse run` start its
 * successor on the same listening sockets; the old process stops accepting and drains its clients
 * within shutdown_timeout. A connect loop across the hand-over sees no refused connection, and a
 * session opened before it keeps working until it ends.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { ADMIN, ADMIN_SETTINGS } from '../fixtures/admin.js';
import { ensureBuilt, spawnCli } from '../fixtures/cli.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

const flavor = FLAVORS[0];

/** The pids that logged "gatehouse listening", in order (pino puts the pid on every line). */
function listeningPids(log: string): number[] {
  return log
    .split('\n')
    .filter((l) => l.includes('"gatehouse listening"'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid);
}

describe(`online restart in front of ${flavor}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let log = '';
  const client = (database = APP_DATABASE, user: string = APP_USER.name, password: string = APP_USER.password) =>
    new pg.Client({ host: '127.0.0.1', port, database, user, password, ssl: { ca: pki.ca.certPem, servername: 'localhost' } });

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki('online restart');
    cluster = await startTestCluster(flavor, pki);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-upgrade-'));
    port = await freePort();
    const config = path.join(dir, 'gatehouse.yaml');
    await fs.writeFile(
      config,
      JSON.stringify({
        general: {
          host: '127.0.0.1', port, tls_mode: 'require', tls_certificate: pki.gatehouse.certFile, tls_private_key: pki.gatehouse.keyFile,
          shutdown_timeout: '20s', ...ADMIN_SETTINGS,
        },
        pools: {
          [APP_DATABASE]: {
            server_host: '127.0.0.1', server_port: cluster.port, server_tls_mode: 'verify-full', server_tls_ca_cert: pki.caFile, pool_mode: 'transaction',
            users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 4 }],
          },
        },
      }),
    );
    child = spawnCli(['--config', config]);
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntil('gatehouse to listen', () => listeningPids(log).length === 1);
  });

  afterAll(async () => {
    for (const pid of listeningPids(log)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('SIGUSR2 hands the listener to a successor: a connect loop sees no refusal, and an open session works until it ends', async () => {
    const open = client();
    open.on('error', () => {});
    await open.connect();
    await open.query('BEGIN');
    const failures: string[] = [];
    let connections = 0;
    let looping = true;
    const loop = (async () => {
      while (looping) {
        const c = client();
        c.on('error', () => {});
        try {
          await c.connect();
          await c.query('SELECT 1');
          connections++;
        } catch (err) {
          failures.push((err as Error).message);
        } finally {
          await c.end().catch(() => {});
        }
      }
    })();
    await waitUntil('a few connections before the hand-over', () => connections >= 5);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGUSR2');
    await waitUntil('the successor to listen', () => listeningPids(log).length === 2, 30_000);
    const [oldPid, newPid] = listeningPids(log);
    expect(newPid).not.toBe(oldPid);
    // The old process drains: the transaction opened before the hand-over goes on there.
    expect((await open.query('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }]);
    await open.query('COMMIT');
    const before = connections;
    await waitUntil('connections through the successor', () => connections >= before + 10, 30_000);
    await open.end();
    expect(await exited).toBe(0);
    const afterExit = connections;
    await waitUntil('connections after the old process exited', () => connections >= afterExit + 5, 30_000);
    looping = false;
    await loop;
    expect(failures).toEqual([]);
    console.log(`online restart: ${connections} connections through the hand-over, none refused`);
    expect(log).toContain('online restart: the successor listens; draining this process');
  });

  it('UPGRADE in the admin console does the same for the successor itself', async () => {
    const [, current] = listeningPids(log);
    const admin = client('pgdoorman', ADMIN.name, ADMIN.password);
    await admin.connect();
    await admin.query('UPGRADE');
    await admin.end();
    await waitUntil('a third process to listen', () => listeningPids(log).length === 3, 30_000);
    expect(listeningPids(log)[2]).not.toBe(current);
    await waitUntil('the second process to exit', () => {
      try {
        process.kill(current, 0);
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    const c = client();
    await c.connect();
    expect((await c.query('SELECT 7 AS seven')).rows).toEqual([{ seven: 7 }]);
    await c.end();
  });
});
