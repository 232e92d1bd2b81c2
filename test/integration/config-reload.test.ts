/**
 * RELOAD (the admin console) and SIGHUP read the whole configuration file again: pools added, removed,
 * resized and rebuilt, users and passwords, server-side TLS with a changed file path, log level; a
 * session opened before each change stays usable; an invalid file changes nothing; what needs a
 * restart is reported.
 */
import fs from 'node:fs/promises';
import type pg from 'pg';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_SETTINGS, adminPg } from '../fixtures/admin.js';
import { backendPid, connectError, connectPg, settledWithin } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, backendsOf, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { waitUntil } from '../fixtures/wait.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

type Doc = { general: Record<string, unknown>; pools: Record<string, Record<string, unknown>>; web?: Record<string, unknown> };

const flavor = FLAVORS[0];

describe(`configuration reload in front of ${flavor}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let admin: pg.Client;
  let original: string;
  const user = (pool_size: number, password: string = APP_USER.password) => [{ username: APP_USER.name, password, pool_size, server_password: APP_USER.password }];

  /** Rewrites the configuration file with `change` applied to its document, then RELOAD; returns the notices. */
  async function reloadWith(change: (doc: Doc) => void): Promise<string[]> {
    const doc = parse(await fs.readFile(gh.config.file, 'utf8')) as Doc;
    change(doc);
    await fs.writeFile(gh.config.file, stringify(doc));
    const notices: string[] = [];
    const onNotice = (n: { message?: string }) => notices.push(String(n.message));
    admin.on('notice', onNotice);
    try {
      await admin.query('RELOAD');
    } finally {
      admin.off('notice', onNotice);
    }
    return notices;
  }

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki);
    gh = await startGatehouse({
      general: { ...clientTls(pki), ...ADMIN_SETTINGS, query_wait_timeout: '10s' },
      pools: {
        app: poolFor(cluster, pki, { server_database: APP_DATABASE, users: user(1) }),
        tx: poolFor(cluster, pki, { server_database: APP_DATABASE, pool_mode: 'transaction', users: user(2) }),
      },
      web: { enabled: true },
    });
    original = await fs.readFile(gh.config.file, 'utf8');
    admin = await adminPg(gh, pki);
  });

  beforeEach(async () => {
    // Each test starts from the file gatehouse was started with.
    await fs.writeFile(gh.config.file, original);
    await admin.query('RELOAD');
  });

  afterAll(async () => {
    await admin?.end();
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('a pool added to the file takes clients after RELOAD; one removed refuses new ones while its open session carries on', async () => {
    expect((await connectError(gh, pki, { database: 'added' })).code).toBe('3D000');
    const open = await connectPg(gh, pki, { database: 'app' });
    try {
      await reloadWith((doc) => {
        doc.pools.added = { ...doc.pools.app };
        delete doc.pools.app;
      });
      const added = await connectPg(gh, pki, { database: 'added' });
      expect((await added.query('SELECT current_database() AS db')).rows).toEqual([{ db: APP_DATABASE }]);
      await added.end();
      expect((await connectError(gh, pki, { database: 'app' })).code).toBe('3D000');
      expect((await open.query('SELECT 1 AS still')).rows).toEqual([{ still: 1 }]);
    } finally {
      await open.end();
    }
  });

  it('pool_size raised from 1 to 2 lets a second client in at once; an open session keeps its backend', async () => {
    const first = await connectPg(gh, pki, { database: 'app' });
    try {
      const pid = await backendPid(first);
      const waiting = connectPg(gh, pki, { database: 'app' });
      expect(await settledWithin(waiting, 300)).toBe('pending');
      await reloadWith((doc) => (doc.pools.app.users = user(2)));
      const second = await waiting;
      expect(await backendPid(second)).not.toBe(pid);
      expect(await backendPid(first)).toBe(pid);
      await second.end();
    } finally {
      await first.end();
    }
  });

  it("a changed password is the one the next login needs; a session opened with the old one carries on", async () => {
    const open = await connectPg(gh, pki, { database: 'app' });
    try {
      await reloadWith((doc) => (doc.pools.app.users = user(1, 'new-pass-2')));
      expect((await connectError(gh, pki, { database: 'app' })).code).toBe('28P01');
      expect((await open.query('SELECT 2 AS still')).rows).toEqual([{ still: 2 }]);
    } finally {
      await open.end();
    }
    const renewed = await connectPg(gh, pki, { database: 'app', password: 'new-pass-2' });
    await renewed.end();
  });

  it('a changed server_database rebuilds the pool: the open session stays on its backend, a transaction-pooled one moves on', async () => {
    const session = await connectPg(gh, pki, { database: 'app' });
    const pooled = await connectPg(gh, pki, { database: 'tx' });
    try {
      const pid = await backendPid(session);
      await reloadWith((doc) => {
        doc.pools.app.server_database = 'postgres';
        doc.pools.tx.server_database = 'postgres';
      });
      expect((await session.query('SELECT current_database() AS db, pg_backend_pid() AS pid')).rows).toEqual([{ db: APP_DATABASE, pid }]);
      expect((await pooled.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'postgres' }]);
      // The transaction pool's idle backend on the old database was closed; the session's stays until it ends.
      await waitUntil('only the open session is left on the old database', async () => (await backendsOf(cluster, APP_DATABASE)).map((b) => b.pid).join() === String(pid));
      await session.end();
      const fresh = await connectPg(gh, pki, { database: 'app' });
      expect((await fresh.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'postgres' }]);
      await fresh.end();
    } finally {
      await session.end().catch(() => {});
      await pooled.end();
    }
  });

  it('server_tls_ca_cert pointed at another file is used by the next backend, not by the open session', async () => {
    const open = await connectPg(gh, pki, { database: 'app' });
    try {
      await reloadWith((doc) => {
        doc.pools.tx.server_tls_ca_cert = pki.otherCaFile;
      });
      // The other CA does not sign PostgreSQL's certificate: verify-full refuses the new backend.
      const refused = await connectError(gh, pki, { database: 'tx' });
      expect(refused.message).toContain('certificate verify failed');
      expect((await open.query('SELECT 3 AS still')).rows).toEqual([{ still: 3 }]);
    } finally {
      await open.end();
    }
  });

  it('log_level in the file is in force after RELOAD', async () => {
    await reloadWith((doc) => (doc.general.log_level = 'debug'));
    expect((await admin.query('SHOW LOG_LEVEL')).rows).toEqual([{ log_level: 'debug' }]);
  });

  it('an invalid file changes nothing, names the key and the file, and is counted', async () => {
    const before = metricValue(await gh.scrape(), 'gatehouse_config_reloads_total', { result: 'failed' });
    await fs.writeFile(gh.config.file, original.replace(/pool_size: 1/, 'pool_size: many'));
    const err = await admin.query('RELOAD').catch((e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ code: 'F0000' });
    expect((err as Error).message).toContain(`${gh.config.file}: pools.app.users[0].pool_size:`);
    expect(metricValue(await gh.scrape(), 'gatehouse_config_reloads_total', { result: 'failed' })).toBe(before + 1);
    const client = await connectPg(gh, pki, { database: 'app' });
    await client.end();
  });

  it('a changed port is reported as needing a restart and gatehouse keeps listening where it was', async () => {
    const notices = await reloadWith((doc) => (doc.general.port = 7777));
    expect(notices.some((n) => n.startsWith('needs a restart to take effect: general.port'))).toBe(true);
    const client = await connectPg(gh, pki, { database: 'app' });
    await client.end();
  });
});
