/**
 * Issue 13: files that go bad under a running gatehouse.
 * - TLS files deleted or corrupted (truncated half-way, as a failed copy leaves them) before a reload of the whole
 *   configuration file (what SIGHUP and RELOAD run): the reload goes through, each side with a broken file keeps its
 *   previous material and the failure is counted per side; new clients and new backends still verify.
 *   (client-tls/certificate-reload and server-tls/rotation test reloadTls() alone with one broken file.)
 * - general.journal_file on a full disk (a symlink to /dev/full, whose every write fails with ENOSPC: mounting a
 *   small tmpfs needs CAP_SYS_ADMIN, which CI need not have): clients are served as before, the lines are counted as
 *   dropped, the failure is logged once, and gatehouse still stops.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectPg, settledWithin } from '../fixtures/clients.js';
import { metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

describe(`files gone bad under a running gatehouse, in front of ${FLAVORS[0]}`, () => {
  let pki: Pki;
  let cluster: Cluster;
  let dir: string;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(FLAVORS[0], pki);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-faults-files-'));
  });

  afterAll(async () => {
    await cluster?.stop();
    await pki?.remove();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /** A copy of `file` under `dir` that the test may break. */
  async function own(file: string, name: string): Promise<string> {
    const copy = path.join(dir, name);
    await fs.copyFile(file, copy);
    return copy;
  }

  async function served(gh: RunningGatehouse): Promise<{ one: number; ssl: boolean }> {
    // verify-full against the PKI's CA: the listener still shows the certificate loaded at start.
    const client = await connectPg(gh, pki, { database: APP_DATABASE });
    try {
      const { rows } = await client.query('SELECT 1 AS one, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      return rows[0] as { one: number; ssl: boolean };
    } finally {
      await client.end();
    }
  }

  it.each([
    ['deleted', (file: string) => fs.rm(file)],
    ['truncated half-way', async (file: string) => fs.truncate(file, Math.floor((await fs.stat(file)).size / 2))],
  ] as const)('TLS files of both sides %s before a reload: the old material stays, each side counts its failure, new clients and backends verify', async (what, breakFile) => {
    const key = await own(pki.gatehouse.keyFile, `listener-${what}.key`);
    const ca = await own(pki.caFile, `server-ca-${what}.crt`);
    const gh = await startGatehouse({
      general: { tls_mode: 'require', tls_certificate: pki.gatehouse.certFile, tls_private_key: key },
      web: { enabled: true },
      // Session pooling with every client on a new backend: each login below verifies a new backend against the CA.
      pools: { [APP_DATABASE]: poolFor(cluster, pki, { server_tls_ca_cert: ca, server_lifetime: 1 }) },
    });
    try {
      expect(await served(gh)).toEqual({ one: 1, ssl: true });
      const failures = async (side: string) => metricValue(await gh.scrape(), 'gatehouse_tls_reload_failures_total', { side });
      const partial = async () => metricValue(await gh.scrape(), 'gatehouse_config_reloads_total', { result: 'partial' });
      const before = { client: await failures('client'), server: await failures('server'), partial: await partial() };
      await breakFile(key);
      await breakFile(ca);

      const outcome = await gh.gateway.reload();
      expect(outcome.applied).toBe(true);
      expect(outcome.failures).toEqual([expect.stringMatching(/^general\.tls_\*: /), expect.stringMatching(new RegExp(`^pools\\.${APP_DATABASE}\\.server_tls_\\*: `))]);
      expect(await failures('client')).toBe(before.client + 1);
      expect(await failures('server')).toBe(before.server + 1);
      expect(await partial()).toBe(before.partial + 1);
      expect(await served(gh)).toEqual({ one: 1, ssl: true });
      expect(await served(gh)).toEqual({ one: 1, ssl: true });
    } finally {
      await gh.stop();
    }
  });

  it('journal_file on a full disk: clients are served, every line is counted as dropped, the failure is logged once, and gatehouse stops', async () => {
    const journalFile = path.join(dir, 'journal.jsonl');
    await fs.symlink('/dev/full', journalFile);
    const gh = await startGatehouse({
      general: { tls_mode: 'disable', journal_file: journalFile },
      web: { enabled: true },
      pools: { [APP_DATABASE]: poolFor(cluster, pki) },
    });
    let stopped = false;
    try {
      const dropped = async () => metricValue(await gh.scrape(), 'gatehouse_journal_lines_dropped_total');
      for (let i = 0; i < 5; i++) {
        const client = await connectPg(gh, pki, { ssl: false });
        expect((await client.query('SELECT $1::int AS i', [i])).rows).toEqual([{ i }]);
        await client.end();
      }
      const afterFive = await dropped();
      // Each login journals a dozen events or more; only what was in flight when the first write failed is uncounted.
      expect(afterFive).toBeGreaterThan(20);
      const client = await connectPg(gh, pki, { ssl: false });
      await client.end();
      expect(await dropped()).toBeGreaterThan(afterFive);
      const complaints = gh.logs.filter((l) => String(l.msg).startsWith('journal_file is not writable'));
      expect(complaints).toEqual([expect.objectContaining({ file: journalFile, err: expect.stringMatching(/ENOSPC/) })]);
      expect(await settledWithin(gh.stop(), 5_000), 'gatehouse stops with its journal sink failed').toBe('resolved');
      stopped = true;
    } finally {
      if (!stopped) await gh.stop();
    }
  });
});
