// One embedded PostgreSQL 18 cluster (TLS on the backend hop) per test file, the test PKI, client
// certificates for app_user (one from the trusted CA, one from a CA gatehouse does not trust), and
// as many in-process gatehouses in front of the cluster as a file needs, all stopped together.
import { createCertificateAuthority, writeCertificateFiles } from '../../../../src/dev/index.js';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../../../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../../../fixtures/gatehouse.js';
import { createPki, type CertificateFiles, type Pki } from '../../../fixtures/pki.js';

export interface ClientTlsHarness {
  pki: Pki;
  cluster: Cluster;
  /** CN app_user, signed by the PKI's CA (the one gatehouse's tls_ca_cert names). */
  trustedClient: CertificateFiles;
  /** CN app_user, signed by a CA that is in no bundle gatehouse loads. */
  untrustedClient: CertificateFiles;
  /**
   * A gatehouse in front of the cluster: `general` is merged over the client-side TLS keys of
   * tls_mode `mode` (certificate and key of the PKI; tls_ca_cert too for verify-full).
   */
  gatehouse(mode: string, general?: Record<string, unknown>): Promise<RunningGatehouse>;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<ClientTlsHarness> {
  const pki = await createPki('gatehouse client-tls');
  const running: RunningGatehouse[] = [];
  let cluster: Cluster | undefined;
  try {
    cluster = await startTestCluster('embedded18', pki);
    const trustedClient = await pki.clientCertificate(APP_USER.name);
    const stranger = await createCertificateAuthority('gatehouse client-tls stranger CA');
    const untrustedClient = await stranger.issue({ commonName: APP_USER.name, usage: 'client' });
    const untrustedFiles = await writeCertificateFiles(pki.dir, 'untrusted-client', untrustedClient);
    const backend = cluster;
    return {
      pki,
      cluster: backend,
      trustedClient,
      untrustedClient: { ...untrustedClient, ...untrustedFiles },
      async gatehouse(mode, general = {}) {
        const tlsKeys: Record<string, unknown> = clientTls(pki, mode);
        if (mode === 'verify-full') tlsKeys.tls_ca_cert = pki.caFile;
        const gh = await startGatehouse({
          general: { ...tlsKeys, ...general },
          pools: { [APP_DATABASE]: poolFor(backend, pki) },
        });
        running.push(gh);
        return gh;
      },
      async stop() {
        await Promise.all(running.map((gh) => gh.stop()));
        await backend.stop();
        await pki.remove();
      },
    };
  } catch (err) {
    await cluster?.stop();
    await pki.remove();
    throw err;
  }
}

/** Prometheus text of `gh`'s metrics, read in-process (no web listener needed). */
export function scrape(gh: RunningGatehouse): Promise<string> {
  return gh.gateway.metrics.scrape();
}
export { gatehouseConninfo } from '../../../fixtures/psql.js';
