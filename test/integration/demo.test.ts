/**
 * `gatehouse demo` as a new user runs it: the printed client line connects over TLS, the printed
 * viewer URL shows that connection and a refused one (with the guard that refused it), /metrics
 * answers, the admin line is ready to paste, and Ctrl-C stops everything and removes the directory.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedPostgresInstalled, freePort } from '../../src/dev/index.js';
import type { ConnectionView } from '../../src/observability/viewer-state.js';
import type { ConnectionFlow } from '../../src/observability/viewer-flow.js';
import { ensureBuilt, spawnCli } from '../fixtures/cli.js';
import { PSQL, psqlQuery, psqlValue } from '../fixtures/psql.js';
import { waitUntil } from '../fixtures/wait.js';

describe.skipIf(!embeddedPostgresInstalled() || !existsSync(PSQL))('gatehouse demo', () => {
  let child: ChildProcess;
  let stdout = '';
  let stderr = '';
  const line = (re: RegExp) => re.exec(stdout)?.[1] ?? '';

  beforeAll(async () => {
    await ensureBuilt();
    child = spawnCli(['demo', '--port', String(await freePort())]);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil('the demo to print its lines', () => stdout.includes('Ctrl-C stops everything') || child.exitCode !== null, 90_000, 100);
    expect(stdout, stderr).toContain('Ctrl-C stops everything');
  }, 150_000);

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('prints a client line, an admin line on dbname=pgdoorman and the viewer and metrics URLs', () => {
    expect(stdout).toMatch(/psql "host=localhost port=\d+ dbname=demo user=demo password=\S+ sslmode=verify-full sslrootcert=\S+ca\.crt"/);
    expect(stdout).toMatch(/psql "host=localhost port=\d+ dbname=pgdoorman user=admin password=\S+ sslmode=verify-full sslrootcert=\S+ca\.crt"/);
    expect(line(/Machine viewer .*: (http:\/\/127\.0\.0\.1:\d+\/machines)\n/)).not.toBe('');
    expect(line(/Prometheus metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)\n/)).not.toBe('');
  });

  it('the client line connects over TLS, and the viewer shows that connection and a refused plaintext one with its guard', async () => {
    const client = line(/  psql "(host=localhost [^"]* dbname=demo [^"]*)"/);
    expect(await psqlValue(client, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe('t');
    const refused = await psqlQuery(client.replace('sslmode=verify-full', 'sslmode=disable'), 'SELECT 1');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('TLS is required');

    const viewer = line(/Machine viewer .*: (http:\S+\/machines)\n/);
    expect((await fetch(viewer)).status).toBe(200);
    const list = (await (await fetch(`${viewer}/api/connections`)).json()) as { ended: ConnectionView[] };
    const sessions = list.ended.filter((c) => c.machine === 'client-session');
    expect(sessions.map((c) => c.state)).toEqual(expect.arrayContaining(['closed', 'failed']));
    const failed = sessions.find((c) => c.state === 'failed')!;
    const detail = (await (await fetch(`${viewer}/api/connections/${failed.id}`)).json()) as { flow: ConnectionFlow };
    expect(detail.flow.refusal).toMatchObject({ guard: 'isPlainButTlsRequired', failure: { sqlstate: '28000' } });
    expect(list.ended.some((c) => c.machine === 'server-handshake'), 'the demo’s own connection to PostgreSQL').toBe(true);

    const metrics = await fetch(line(/Prometheus metrics: (http:\S+)\n/));
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);
  });

  it('Ctrl-C stops PostgreSQL and gatehouse and removes the temporary directory', async () => {
    const dir = line(/config: (\S+)\/gatehouse\.yaml/);
    expect(existsSync(dir)).toBe(true);
    child.kill('SIGINT');
    await waitUntil('the demo to exit', () => child.exitCode !== null, 30_000, 100);
    expect(child.exitCode).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});
