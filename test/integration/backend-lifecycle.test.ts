// How pooled backends behave across their life: settings do not leak between clients, dead idle backends are not handed out, connect failures are reported as such.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { APP_DATABASE, APP_USER, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { backendPid, connectError, connectPg } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

describe.each(FLAVORS)('backend lifecycle and settings with %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let doomed: Cluster;
  let gh: RunningGatehouse;
  const single = () => poolFor(cluster, pki, { server_database: APP_DATABASE, users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 1 }] });

  beforeAll(async () => {
    pki = await createPki();
    [cluster, doomed] = await Promise.all([startTestCluster(flavor, pki), startTestCluster(flavor, pki)]);
    gh = await startGatehouse({
      general: clientTls(pki),
      pools: {
        leak: single(),
        terminated: single(),
        nowhere: poolFor(cluster, pki, { server_database: APP_DATABASE, server_port: await freePort() }),
        doomed: poolFor(doomed, pki, { server_database: APP_DATABASE }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await Promise.all([cluster?.stop(), doomed?.stop()]);
    await pki?.remove();
  });

  it('a startup parameter of the client that opened a backend does not reach the next client of that backend', async () => {
    const first = await connectPg(gh, pki, { database: 'leak', applicationName: 'creator' });
    const pid = await backendPid(first);
    await first.end();
    const second = await connectPg(gh, pki, { database: 'leak' });
    try {
      expect(await backendPid(second)).toBe(pid);
      expect((await second.query(`SELECT current_setting('application_name') AS app`)).rows).toEqual([{ app: '' }]);
    } finally {
      await second.end();
    }
  });

  it('a pooled backend terminated while idle is not handed to the next client', async () => {
    const first = await connectPg(gh, pki, { database: 'terminated' });
    const pid = await backendPid(first);
    await first.end();
    await cluster.query(`SELECT pg_terminate_backend(${pid})`);
    await new Promise((r) => setTimeout(r, 300));
    const second = await connectPg(gh, pki, { database: 'terminated' });
    try {
      expect(await backendPid(second)).not.toBe(pid);
    } finally {
      await second.end();
    }
  });

  it('nothing listening at server_port: FATAL 08001 "could not connect to server"', async () => {
    const err = await connectError(gh, pki, { database: 'nowhere' });
    expect(err).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(err.message).toMatch(/could not connect to server: connect ECONNREFUSED/);
  });

  it('PostgreSQL stopped after serving a client: the next client gets FATAL 08001 "could not connect to server"', async () => {
    const client = await connectPg(gh, pki, { database: 'doomed' });
    await backendPid(client);
    await client.end();
    await doomed.stop();
    const err = await connectError(gh, pki, { database: 'doomed' });
    expect(err).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(err.message).toMatch(/could not connect to server/);
  });
});
