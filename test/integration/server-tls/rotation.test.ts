// Rotation of gatehouse's client certificate towards PostgreSQL (mTLS, `clientcert=verify-full`) with
// gateway.reloadTls(), what SIGHUP runs: files replaced on disk are picked up by new backend
// connections only; open sessions keep the certificate they logged in with; a reload that fails keeps
// the previous material and is counted. pg_stat_ssl's client_serial says which certificate a backend saw.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, writeCertificateFiles, type IssuedCertificate } from '../../../src/dev/index.js';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../../fixtures/clusters.js';
import { metricValue, poolFor, startGatehouse, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { createPki, type Pki } from '../../fixtures/pki.js';
import { attempt, connectPlain, serverTlsCounters } from './support/outcome.js';

const MTLS_HBA = ['hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full'];

interface BackendTls {
  ssl: boolean;
  /** The serial of the client certificate the backend was shown, as a number. */
  clientSerial: bigint;
}

async function backendTls(client: pg.Client): Promise<BackendTls> {
  const { rows } = await client.query<{ ssl: boolean; client_serial: string | null }>(
    'SELECT ssl, client_serial::text AS client_serial FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
  );
  return { ssl: rows[0].ssl, clientSerial: BigInt(rows[0].client_serial ?? -1) };
}

const serialOf = (cert: IssuedCertificate) => BigInt(`0x${cert.serialNumber}`);

describe('server-side certificate rotation with reloadTls, embedded PostgreSQL 18 with clientcert=verify-full', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let certDir: string;
  let first: IssuedCertificate;
  let second: IssuedCertificate;
  /** CN = the user, but signed by a CA PostgreSQL does not trust. */
  let rogue: IssuedCertificate;
  const open: pg.Client[] = [];

  /** A new client whose session is held open to the end, so that the next login needs a new backend connection. */
  async function hold(pool: string): Promise<pg.Client> {
    const client = await connectPlain(gh, pool);
    open.push(client);
    return client;
  }

  const install = (pool: string, cert: IssuedCertificate) => writeCertificateFiles(certDir, pool, cert);
  const reloadFailures = async () => metricValue(await gh.gateway.metrics.scrape(), 'gatehouse_tls_reload_failures_total', { side: 'server' });

  beforeAll(async () => {
    pki = await createPki('server-tls rotation');
    const rogueCa = await createCertificateAuthority('server-tls rotation rogue CA');
    [first, second, rogue] = await Promise.all([
      pki.ca.issue({ commonName: APP_USER.name, usage: 'client' }),
      pki.ca.issue({ commonName: APP_USER.name, usage: 'client' }),
      rogueCa.issue({ commonName: APP_USER.name, usage: 'client' }),
    ]);
    cluster = await startTestCluster('embedded18', pki, { hba: MTLS_HBA });
    certDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-rotation-'));
    const pools: Record<string, Record<string, unknown>> = {};
    for (const pool of ['rotated', 'broken']) {
      const files = await install(pool, first);
      pools[pool] = poolFor(cluster, pki, {
        server_database: APP_DATABASE,
        server_tls_certificate: files.certFile,
        server_tls_private_key: files.keyFile,
        users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 8 }],
      });
    }
    gh = await startGatehouse({ general: { tls_mode: 'disable' }, pools });
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => {})));
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
    if (certDir) await fs.rm(certDir, { recursive: true, force: true });
  });

  it('a rotated certificate is used by new backend connections only; a rejected one fails new logins while open sessions keep working', async () => {
    const a = await hold('rotated');
    expect(await backendTls(a)).toEqual({ ssl: true, clientSerial: serialOf(first) });

    // Rotation to another valid certificate: new connections show it, the open session still has the first.
    await install('rotated', second);
    expect(gh.gateway.reloadTls()).toEqual({ failures: [] });
    const b = await hold('rotated');
    expect(await backendTls(b)).toEqual({ ssl: true, clientSerial: serialOf(second) });

    // Rotation to a certificate PostgreSQL rejects (unknown CA): a new backend connection fails.
    await install('rotated', rogue);
    expect(gh.gateway.reloadTls()).toEqual({ failures: [] });
    const before = await serverTlsCounters(gh, 'rotated');
    const refused = await attempt(gh, 'rotated');
    // Under TLS 1.3 PostgreSQL's refusal of the certificate arrives after the handshake completed.
    expect(refused).toMatchObject({ kind: 'refused', severity: 'FATAL', code: '08001' });
    expect(refused.kind === 'refused' && refused.message).toMatch(/TLS handshake failed: .*alert unknown ca/);
    expect((await serverTlsCounters(gh, 'rotated')).errors).toBe(before.errors + 1);
    // … while the sessions opened before keep working on their backend connections.
    expect(await backendTls(a)).toEqual({ ssl: true, clientSerial: serialOf(first) });
    expect(await backendTls(b)).toEqual({ ssl: true, clientSerial: serialOf(second) });

    // Rotating back: new connections succeed again, with the certificate now on disk.
    await install('rotated', second);
    expect(gh.gateway.reloadTls()).toEqual({ failures: [] });
    const c = await hold('rotated');
    expect(await backendTls(c)).toEqual({ ssl: true, clientSerial: serialOf(second) });
  });

  // docs/tls.md: "A side whose files fail to load (missing file, bad PEM, key that does not match) keeps its previous material".
  it.each([
    { breakage: 'a certificate PEM that does not parse', previous: 'second' },
    { breakage: 'a missing certificate file', previous: 'first' },
    { breakage: 'a private key that does not match the certificate', previous: 'second' },
  ] as const)(
    '$breakage: reloadTls reports it, counts it (side="server"), and new backend connections keep the previous certificate',
    async ({ breakage, previous }) => {
      // The previous material is the certificate of the last good reload, whichever was loaded at start.
      const good = { first, second }[previous];
      const files = await install('broken', good);
      expect(gh.gateway.reloadTls()).toEqual({ failures: [] });
      const before = await reloadFailures();
      if (breakage.startsWith('a certificate PEM')) {
        await fs.writeFile(files.certFile, '-----BEGIN CERTIFICATE-----\nthis is not base64 DER\n-----END CERTIFICATE-----\n');
      } else if (breakage.startsWith('a missing')) {
        await fs.rm(files.certFile);
      } else {
        await fs.writeFile(files.keyFile, rogue.keyPem);
      }
      const { failures } = gh.gateway.reloadTls();
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/^pools\.broken\.server_tls_\*: /);
      expect((await reloadFailures()) - before).toBe(1);

      // A new backend connection (the sessions held so far keep theirs busy) still presents the good certificate.
      const session = await hold('broken');
      expect(await backendTls(session)).toEqual({ ssl: true, clientSerial: serialOf(good) });
    },
  );
});
