// SIGHUP re-reads pg_hba in a running `gatehouse --config` process: a rule file changed from trust to reject
// refuses new connections while an open session carries on; a rule file with a mistake keeps the previous rules,
// and the log names the file and line. In process, the legacy general.hba list in the configuration file is read
// again the same way.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { ensureBuilt, servingProcesses, spawnCli } from '../fixtures/cli.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { metricValue, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { waitUntil } from '../fixtures/wait.js';

type PgError = Error & { code?: string };

async function connect(port: number, password?: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, database: APP_DATABASE, user: APP_USER.name, password, ssl: false });
  client.on('error', () => {});
  await client.connect();
  return client;
}

async function refusal(port: number, password?: string): Promise<PgError> {
  try {
    const client = await connect(port, password);
    await client.end();
  } catch (err) {
    return err as PgError;
  }
  throw new Error('expected the connection to be refused');
}

const REJECTED = `pg_hba.conf rejects connection for host "127.0.0.1", user "${APP_USER.name}", database "${APP_DATABASE}", no encryption`;

describe(`SIGHUP re-reads the pg_hba file of a running gatehouse in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let dir: string;
  let hbaFile: string;
  let child: ChildProcess;
  let port: number;
  let webPort: number;
  let log = '';

  /** The messages gatehouse logged (pino JSON lines) since `from` characters of output. */
  const messages = (from = 0) =>
    log
      .slice(from)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
  const hup = async (expected: string) => {
    const from = log.length;
    child.kill('SIGHUP');
    // Every worker applies the reload and logs it: the instance has reloaded once each has.
    await waitUntil(`gatehouse to log "${expected}" from every worker`, () => messages(from).filter((m) => m.startsWith(expected)).length >= servingProcesses(log)!);
    return messages(from);
  };
  const failures = async () => metricValue(await (await fetch(`http://127.0.0.1:${webPort}/metrics`)).text(), 'gatehouse_hba_reload_failures_total');

  beforeAll(async () => {
    await ensureBuilt();
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-hba-reload-'));
    hbaFile = path.join(dir, 'pg_hba.conf');
    await fs.writeFile(hbaFile, 'host all all 127.0.0.1/32 trust\n');
    [port, webPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'gatehouse.yaml');
    await fs.writeFile(
      config,
      [
        `general: { host: 127.0.0.1, port: ${port}, pg_hba: { path: pg_hba.conf } }`,
        `web: { enabled: true, host: 127.0.0.1, port: ${webPort} }`,
        'pools:',
        `  ${APP_DATABASE}:`,
        `    server_port: ${cluster.port}`,
        '    server_tls_mode: verify-full',
        `    server_tls_ca_cert: ${pki.caFile}`,
        `    users: [{ username: ${APP_USER.name}, password: ${APP_USER.password} }]`,
        '',
      ].join('\n'),
    );
    child = spawnCli(['--config', config]);
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntil('gatehouse to serve on every worker', () => servingProcesses(log) !== null);
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('a rule changed from trust to reject refuses new connections after SIGHUP; a session opened before carries on', async () => {
    const open = await connect(port);
    try {
      expect((await open.query<{ u: string }>('SELECT current_user AS u')).rows).toEqual([{ u: APP_USER.name }]);
      await fs.writeFile(hbaFile, 'host all all 127.0.0.1/32 reject\n');
      await hup('configuration reloaded');
      expect(await refusal(port)).toMatchObject({ code: '28000', message: REJECTED });
      expect((await open.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
    } finally {
      await open.end();
    }
  });

  it('a rule file with a mistake keeps the previous rules, logs the file and line, and counts the failure', async () => {
    const before = await failures();
    await fs.writeFile(hbaFile, '# now with a typo\nhost all all 127.0.0.1/32 trusty\n');
    const logged = await hup('pg_hba reload failed; keeping the previous rules');
    expect(logged.find((m) => m.startsWith('pg_hba reload failed'))).toContain(`general.pg_hba.path: ${hbaFile}: line 2: invalid authentication method "trusty"`);
    expect(await refusal(port)).toMatchObject({ code: '28000', message: REJECTED });
    expect(await failures()).toBe(before + 1);
    expect(child.exitCode).toBeNull();

    await fs.writeFile(hbaFile, 'host all all 127.0.0.1/32 trust\n');
    await hup('configuration reloaded');
    const client = await connect(port);
    expect((await client.query<{ u: string }>('SELECT current_user AS u')).rows).toEqual([{ u: APP_USER.name }]);
    await client.end();
  });
});

describe('a reload reads the legacy general.hba list in the configuration file again', () => {
  let gh: RunningGatehouse;

  beforeAll(async () => {
    // No PostgreSQL needed: an allowed address gets the password exchange (and fails it), another gets 28000 at once.
    gh = await startGatehouse({
      general: { hba: ['127.0.0.0/8'] },
      pools: { [APP_DATABASE]: { server_port: 1, users: [{ username: APP_USER.name, password: APP_USER.password }] } },
    });
  });

  afterAll(async () => {
    await gh?.stop();
  });

  it('an address taken off the list is refused after the reload; a broken list keeps the one before', async () => {
    expect(await refusal(gh.port, 'wrong')).toMatchObject({ code: '28P01' });
    await fs.writeFile(gh.config.file, gh.yaml.replace('127.0.0.0/8', '10.0.0.0/8'));
    expect(await gh.gateway.reload()).toMatchObject({ applied: true, failures: [] });
    expect(await refusal(gh.port, 'wrong')).toMatchObject({ code: '28000', message: expect.stringContaining('no pg_hba.conf entry for host "127.0.0.1"') });

    await fs.writeFile(gh.config.file, gh.yaml.replace('127.0.0.0/8', '127.0.0.1'));
    expect(await gh.gateway.reload()).toEqual({
      applied: false,
      failures: [`${gh.config.file}: general.hba[0]: expected an address with a CIDR mask like 10.0.0.0/8 (got "127.0.0.1")`],
      needRestart: [],
    });
    expect(await refusal(gh.port, 'wrong')).toMatchObject({ code: '28000' });
    expect(gh.logs.find((l) => String(l.msg).startsWith('pg_hba reload failed'))).toMatchObject({ file: gh.config.file });
  });
});
