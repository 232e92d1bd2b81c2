/**
 * `gatehouse run` with general.worker_threads: 2, as a user runs it: one supervisor listening and two worker
 * processes serving. The instance behaves as one: clients spread over both workers and the admin console and
 * /metrics count all of them; a cancel that lands on the other worker still cancels; pool_size holds for both
 * workers together, and a slot freed on one serves a client waiting on the other; a worker killed with SIGKILL
 * is replaced, its clients' loss logged.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { encodeCancelRequest } from '../../src/protocol/index.js';
import { ADMIN_SETTINGS, psqlAdmin } from '../fixtures/admin.js';
import { ensureBuilt, spawnCli } from '../fixtures/cli.js';
import { backendPid, connectPg, settledWithin } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import type { RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

const POOL_SIZE = 2;

describe('two worker processes serve as one instance', () => {
  let pki: Pki;
  let cluster: Cluster;
  let dir: string;
  let child: ChildProcess;
  let gh: RunningGatehouse;
  let webPort: number;
  let log = '';
  let journalFile: string;
  let configFile: string;
  let writeConfig: (maxConnections: number) => Promise<void>;
  const open: pg.Client[] = [];
  const connect = async () => {
    const client = await connectPg(gh, pki);
    open.push(client);
    return client;
  };
  const end = async (client: pg.Client) => {
    open.splice(open.indexOf(client), 1);
    await client.end();
  };
  /** The worker that owns client connection `c<N>`: ids of worker i of 2 are i mod 2. */
  const workerOf = (id: string) => Number(id.slice(1)) % 2;
  const dataClients = async () => (await psqlAdmin(gh, pki, 'SHOW CLIENTS')).rows.filter((r) => r.database === APP_DATABASE);
  const serverBackends = async () =>
    Number((await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${APP_USER.name}' AND backend_type = 'client backend'`))[0][0]);
  const localPort = (client: pg.Client) => (client as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
  const journalLines = async () =>
    (await fs.readFile(journalFile, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; id: string; event?: unknown });
  /** The pid of worker `index` now, as the supervisor logged it when the worker began serving. */
  const workerPid = (index: number) =>
    log
      .split('\n')
      .filter((l) => l.includes(`"msg":"worker ${index} serving"`))
      .map((l) => (JSON.parse(l) as { pid: number }).pid)
      .at(-1)!;
  const workerPids = () =>
    execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki('workers');
    cluster = await startTestCluster(FLAVORS[0], pki);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-workers-'));
    const [port] = [await freePort()];
    webPort = await freePort();
    await fs.writeFile(path.join(dir, 'gh.crt'), pki.gatehouse.certPem);
    await fs.writeFile(path.join(dir, 'gh.key'), pki.gatehouse.keyPem, { mode: 0o600 });
    configFile = path.join(dir, 'gatehouse.yaml');
    journalFile = path.join(dir, 'journal.jsonl');
    writeConfig = (maxConnections: number) =>
      fs.writeFile(
        configFile,
        [
          'general:',
          `  host: 127.0.0.1`,
          `  port: ${port}`,
          '  worker_threads: 2',
          `  max_connections: ${maxConnections}`,
          '  tls_mode: require',
          '  tls_certificate: gh.crt',
          '  tls_private_key: gh.key',
          '  query_wait_timeout: 20s',
          `  journal_file: ${journalFile}`,
          `  admin_username: ${ADMIN_SETTINGS.admin_username}`,
          `  admin_password: ${ADMIN_SETTINGS.admin_password}`,
          `web: { enabled: true, viewer: true, host: 127.0.0.1, port: ${webPort} }`,
          'pools:',
          `  ${APP_DATABASE}:`,
          `    server_port: ${cluster.port}`,
          '    pool_mode: session',
          '    server_tls_mode: verify-full',
          `    server_tls_ca_cert: ${pki.caFile}`,
          `    users: [{ username: ${APP_USER.name}, password: ${APP_USER.password}, pool_size: ${POOL_SIZE} }]`,
          '',
        ].join('\n'),
      );
    await writeConfig(100);
    child = spawnCli(['--config', configFile]);
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntil('both workers to start', () => log.includes('workers started'), 60_000);
    gh = { host: '127.0.0.1', port } as RunningGatehouse;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    child?.kill('SIGTERM');
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('spreads clients over both workers, and SHOW CLIENTS and /metrics count every one of them', async () => {
    const a = await connect();
    const b = await connect();
    const clients = await dataClients();
    expect(clients).toHaveLength(2);
    expect(new Set(clients.map((c) => workerOf(c.client_id)))).toEqual(new Set([0, 1]));
    const metrics = await (await fetch(`http://127.0.0.1:${webPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`pg_doorman_pools_clients\\{status="active",user="${APP_USER.name}",database="${APP_DATABASE}"\\} 2`));
    expect(metrics).toMatch(/^gatehouse_workers 2$/m);
    // The viewer lists the connections of both workers, and opens one of the other worker's.
    const { live } = (await (await fetch(`http://127.0.0.1:${webPort}/machines/api/connections`)).json()) as { live: Array<{ id: string }> };
    expect(new Set(live.filter((c) => c.id.startsWith('c')).map((c) => workerOf(c.id)))).toEqual(new Set([0, 1]));
    const one = await fetch(`http://127.0.0.1:${webPort}/machines/api/connections/${clients[1].client_id}`);
    expect(one.status).toBe(200);
    await end(a);
    await end(b);
  });

  it('a cancel that reaches the other worker cancels the query of the session it names', async () => {
    const sleeper = await connect();
    const owner = workerOf((await dataClients())[0].client_id);
    const sleeping = sleeper.query('SELECT pg_sleep(30)').then(
      () => null,
      (err: Error & { code?: string }) => err.code,
    );
    await waitUntil('the sleep to run', async () => (await cluster.query(`SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'`))[0][0] === '1');
    // The supervisor hands the cancel's connection to the worker serving fewer clients: the one the sleeper is not on.
    const { processID, secretKey } = sleeper as unknown as { processID: number; secretKey: number };
    const secret = Buffer.alloc(4);
    secret.writeInt32BE(secretKey);
    const socket = netConnect(gh.port, gh.host);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.end(encodeCancelRequest(processID, secret));
    expect(await sleeping).toBe('57014');
    // The journals say who did what: the connection that carried the CancelRequest is the other worker's, the
    // cancel sent to PostgreSQL (x<N>) the owner's.
    await waitUntil('the cancel journal', async () => (await journalLines()).some((l) => l.id.startsWith('x')));
    const lines = await journalLines();
    const carrier = lines.find((l) => l.kind === 'event' && (l.event as { type?: string })?.type === 'client.cancelRequest')!;
    expect(workerOf(carrier.id)).toBe(1 - owner);
    expect(lines.filter((l) => l.id.startsWith('x')).map((l) => workerOf(l.id))).toContain(owner);
    await end(sleeper);
  });

  it(`never opens more than pool_size (${POOL_SIZE}) servers for both workers together; a slot freed on one serves a client waiting on the other`, async () => {
    const sessions = [await connect(), await connect()];
    expect(await serverBackends()).toBe(POOL_SIZE);
    // One client on each worker now; a third lands on either and must wait for the instance's slots (session pooling:
    // its login completes only with a server).
    const third = connect();
    // A session-pooled client waiting for its server is still logging in.
    const isWaiting = (c: Record<string, string>) => c.state === 'login' || c.state === 'waiting';
    await waitUntil('the third client to wait', async () => (await dataClients()).some(isWaiting));
    await new Promise((r) => setTimeout(r, 1000));
    expect(await serverBackends()).toBe(POOL_SIZE);
    expect(await settledWithin(third, 0)).toBe('pending');
    const clients = await dataClients();
    const waiting = clients.find(isWaiting)!;
    const elsewhere = clients.find((c) => !isWaiting(c) && workerOf(c.client_id) !== workerOf(waiting.client_id))!;
    // End the session on the other worker: its server closes and the slot goes to the waiting client.
    const leaving = sessions.find((c) => elsewhere.addr.endsWith(`:${localPort(c)}`))!;
    await end(leaving);
    const served = await third;
    expect(await backendPid(served)).toBeGreaterThan(0);
    expect(await serverBackends()).toBe(POOL_SIZE);
    for (const c of [...open]) await end(c);
  });

  it('max_connections counts the clients of both workers, and a reload of it reaches the supervisor', async () => {
    const reload = async (maxConnections: number) => {
      await writeConfig(maxConnections);
      const before = log.length;
      child.kill('SIGHUP');
      await waitUntil('both workers to reload', () => log.slice(before).split('configuration reloaded').length === 3);
    };
    await reload(2);
    // The supervisor hands each new client to the worker serving fewer: one on each worker.
    const held = [await connect(), await connect()];
    // Over max_connections, an SSLRequest is answered N (and a StartupMessage would get 53300): node-postgres,
    // which requires TLS here, gives up at the N.
    const outcomes = await Promise.allSettled([connect(), connect()]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'connected'))).toEqual([
      'The server does not support SSL connections',
      'The server does not support SSL connections',
    ]);
    await reload(100);
    expect(new Set((await dataClients()).map((c) => workerOf(c.client_id)))).toEqual(new Set([0, 1]));
    for (const c of held) await end(c);
  });

  it('replaces a worker killed with SIGKILL, logs the clients it lost, and serves new clients on both workers again', async () => {
    const victim = await connect();
    const victimWorker = workerOf((await dataClients())[0].client_id);
    const pids = workerPids();
    expect(pids).toHaveLength(2);
    const lost = victim.query('SELECT pg_sleep(10)').then(
      () => 'finished',
      () => 'lost',
    );
    process.kill(workerPid(victimWorker), 'SIGKILL');
    await waitUntil('the death to be logged', () => /worker \d died \(SIGKILL\); its \d client connection\(s\) were lost/.test(log), 20_000);
    const serving = () => log.split(`"msg":"worker ${victimWorker} serving"`).length - 1;
    await waitUntil('a replacement to serve', () => serving() === 2 && workerPids().length === 2, 30_000);
    expect(await lost).toBe('lost');
    open.splice(open.indexOf(victim), 1);
    const again = [await connect(), await connect()];
    await waitUntil('both to be counted', async () => (await dataClients()).length === 2);
    expect(new Set((await dataClients()).map((c) => workerOf(c.client_id)))).toEqual(new Set([0, 1]));
    const metrics = await (await fetch(`http://127.0.0.1:${webPort}/metrics`)).text();
    expect(metrics).toMatch(/^gatehouse_worker_restarts_total 1$/m);
    for (const c of again) await end(c);
  });

  it('SIGTERM stops the supervisor and both workers', async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const pids = workerPids();
    child.kill('SIGTERM');
    await exited;
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
