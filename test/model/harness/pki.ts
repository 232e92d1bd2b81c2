/** Certificates for the model tests, generated once per test file (ECDSA P-256: fast). */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCertificateAuthority, writeCertificateFiles, type IssuedCertificate } from '../../../src/dev/index.js';
import { CA_NAME, CLIENT_USER, OTHER_CA_NAME } from './client-samples.js';

export interface ModelPki {
  dir: string;
  caPem: string;
  caFile: string;
  /** gatehouse's listener certificate (files, for ClientTlsProvider). */
  listenerCertFile: string;
  listenerKeyFile: string;
  /** Client certificates for CLIENT_USER: signed by the trusted CA, or by an unrelated one. */
  clientTrusted: IssuedCertificate;
  clientUntrusted: IssuedCertificate;
  /** Backend certificates: trusted CA naming localhost, unrelated CA naming localhost, trusted CA naming another host. */
  backendTrusted: IssuedCertificate;
  backendUntrusted: IssuedCertificate;
  backendOtherHost: IssuedCertificate;
  remove(): Promise<void>;
}

export const OTHER_HOST = 'db.elsewhere.test';

export async function createModelPki(): Promise<ModelPki> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-model-'));
  const ca = await createCertificateAuthority(CA_NAME);
  const other = await createCertificateAuthority(OTHER_CA_NAME);
  const caFile = path.join(dir, 'ca.crt');
  await fs.writeFile(caFile, ca.certPem);
  const listener = await writeCertificateFiles(
    dir,
    'listener',
    await ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' }),
  );
  return {
    dir,
    caPem: ca.certPem,
    caFile,
    listenerCertFile: listener.certFile,
    listenerKeyFile: listener.keyFile,
    clientTrusted: await ca.issue({ commonName: CLIENT_USER, usage: 'client' }),
    clientUntrusted: await other.issue({ commonName: CLIENT_USER, usage: 'client' }),
    backendTrusted: await ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], usage: 'server' }),
    backendUntrusted: await other.issue({ commonName: 'localhost', dnsNames: ['localhost'], usage: 'server' }),
    backendOtherHost: await ca.issue({ commonName: OTHER_HOST, dnsNames: [OTHER_HOST], usage: 'server' }),
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
