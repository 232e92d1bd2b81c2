// When gatehouse cannot reach or trust PostgreSQL, the client gets a FATAL with a real SQLSTATE and
// the reason in words, the failure is counted in /metrics, and gatehouse keeps serving other pools.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectError, connectPg } from '../fixtures/clients.js';
import { clientTls, metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

describe.each(FLAVORS)('backend failures with %s', (flavor) => {
  let pki: Pki;
  /** TLS with a certificate that names DNS:localhost only. */
  let localhostOnly: Cluster;
  /** ssl = off. */
  let plain: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    [localhostOnly, plain] = await Promise.all([
      startTestCluster(flavor, pki, { ssl: pki.postgresLocalhostOnly }),
      startTestCluster(flavor, pki, { ssl: 'off', hba: ['host all all 127.0.0.1/32 scram-sha-256'] }),
    ]);
    const to = (cluster: Cluster, overrides: Record<string, unknown>) => poolFor(cluster, pki, { server_database: APP_DATABASE, ...overrides });
    gh = await startGatehouse({
      general: clientTls(pki),
      web: { enabled: true },
      pools: {
        wrong_ca: to(localhostOnly, { server_tls_ca_cert: pki.otherCaFile }),
        ip_verify_full: to(localhostOnly, {}),
        ip_verify_ca: to(localhostOnly, { server_tls_mode: 'verify-ca' }),
        name_verify_full: to(localhostOnly, { server_host: 'localhost' }),
        tls_required: to(plain, { server_tls_mode: 'require', server_tls_ca_cert: null }),
        prefer_backend: to(plain, { server_tls_mode: 'prefer', server_tls_ca_cert: null }),
        plain_backend: to(plain, { server_tls_mode: 'disable', server_tls_ca_cert: null }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await Promise.all([localhostOnly?.stop(), plain?.stop()]);
    await pki?.remove();
  });

  it('verify-full against a certificate from another CA: FATAL 08001 "certificate verify failed", counted in /metrics', async () => {
    const before = metricValue(await gh.scrape(), 'pg_doorman_server_tls_handshake_errors_total', { pool: 'wrong_ca' });
    const err = await connectError(gh, pki, { database: 'wrong_ca' });
    expect(err).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(err.message).toMatch(/certificate verify failed/);
    const after = metricValue(await gh.scrape(), 'pg_doorman_server_tls_handshake_errors_total', { pool: 'wrong_ca' });
    expect(after - before).toBe(1);
  });

  it('verify-full to 127.0.0.1 with a certificate naming only localhost: FATAL 08001 "hostname mismatch"', async () => {
    const err = await connectError(gh, pki, { database: 'ip_verify_full' });
    expect(err).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(err.message).toMatch(/hostname mismatch/);
    expect(err.message).toMatch(/127\.0\.0\.1/);
  });

  it('the same certificate is accepted under verify-ca at 127.0.0.1 and under verify-full at localhost', async () => {
    for (const database of ['ip_verify_ca', 'name_verify_full']) {
      const client = await connectPg(gh, pki, { database });
      try {
        expect((await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows).toEqual([{ ssl: true }]);
      } finally {
        await client.end();
      }
    }
  });

  it('server_tls_mode require against a server without TLS: FATAL 08001 "server does not support TLS"', async () => {
    const err = await connectError(gh, pki, { database: 'tls_required' });
    expect(err).toMatchObject({ code: '08001', severity: 'FATAL' });
    expect(err.message).toMatch(/server does not support TLS/);
  });

  it('server_tls_mode prefer and disable reach the same server in plain: pg_stat_ssl says ssl = f', async () => {
    for (const database of ['prefer_backend', 'plain_backend']) {
      const client = await connectPg(gh, pki, { database });
      try {
        expect((await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows).toEqual([{ ssl: false }]);
      } finally {
        await client.end();
      }
    }
  });
});
