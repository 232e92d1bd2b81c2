// Rotating gatehouse's client-side certificate with gateway.reloadTls() (what SIGHUP runs): new
// handshakes get the new certificate, established TLS sessions keep running, and a rotation that
// cannot be loaded is counted while the previous certificate stays in service.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCertificateFiles, type IssuedCertificate } from '../../../src/dev/index.js';
import { encodeSslRequest } from '../../../src/protocol/index.js';
import { connectPg } from '../../fixtures/clients.js';
import { metricValue, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { psqlValue } from '../../fixtures/psql.js';
import { gatehouseConninfo, scrape, startHarness, type ClientTlsHarness } from './support/harness.js';
import { WireClient } from './support/wire.js';

let h: ClientTlsHarness;
let gh: RunningGatehouse;
let files: { certFile: string; keyFile: string };
let session: pg.Client;
let rotated: IssuedCertificate;

const LISTENER = { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' as const };

beforeAll(async () => {
  h = await startHarness();
  // gatehouse's own copy of its certificate files, so the test can overwrite them.
  files = await writeCertificateFiles(path.join(h.pki.dir, 'rotating'), 'listener', h.pki.gatehouse);
  gh = await h.gatehouse('require', { tls_certificate: files.certFile, tls_private_key: files.keyFile });
  session = await connectPg(gh, h.pki);
});

afterAll(async () => {
  await session?.end();
  await h?.stop();
});

function sameSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+/, '');
}

/** The serial number of the certificate a new client is shown after SSLRequest. */
async function servedSerial(): Promise<string> {
  const plain = await WireClient.connect(gh.port);
  plain.write(encodeSslRequest());
  expect((await plain.read(1)).toString()).toBe('S');
  const secure = await plain.startTls({ ca: h.pki.ca.certPem });
  try {
    return sameSerial((secure.socket as TLSSocket).getPeerCertificate().serialNumber);
  } finally {
    secure.destroy();
  }
}

async function reloadFailures(): Promise<number> {
  return metricValue(await scrape(gh), 'gatehouse_tls_reload_failures_total', { side: 'client' });
}

async function sessionStillWorks(): Promise<void> {
  const { rows } = await session.query<{ n: number; ssl: boolean }>('SELECT 40 + 2 AS n, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  expect(rows).toEqual([{ n: 42, ssl: true }]);
}

describe('client-side certificate rotation', () => {
  it('after the files are overwritten and reloaded, new clients get the new certificate and the open session keeps working', async () => {
    expect(await servedSerial()).toBe(sameSerial(h.pki.gatehouse.serialNumber));
    rotated = await h.pki.ca.issue(LISTENER);
    expect(sameSerial(rotated.serialNumber)).not.toBe(sameSerial(h.pki.gatehouse.serialNumber));
    await writeCertificateFiles(path.dirname(files.certFile), 'listener', rotated);

    // Not before the reload: the files are read only then.
    expect(await servedSerial()).toBe(sameSerial(h.pki.gatehouse.serialNumber));
    expect(gh.gateway.reloadTls()).toEqual({ failures: [] });
    expect(await servedSerial()).toBe(sameSerial(rotated.serialNumber));
    await sessionStillWorks();
    const conn = gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: h.pki.caFile });
    expect(await psqlValue(conn, 'SELECT 40 + 2')).toBe('42');
    expect(await reloadFailures()).toBe(0);
  });

  const broken: Array<[string, () => Promise<void>]> = [
    ['a certificate file that is not PEM', () => fs.writeFile(files.certFile, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n')],
    [
      'a key that does not match the certificate',
      async () => {
        const other = await h.pki.ca.issue(LISTENER);
        await fs.writeFile(files.keyFile, other.keyPem);
      },
    ],
    ['a missing certificate file', () => fs.rm(files.certFile)],
  ];

  it.each(broken)('a reload with %s fails, is counted, and new clients still get the previous certificate', async (_what, breakFiles) => {
    expect(rotated).toBeDefined();
    const before = await reloadFailures();
    await breakFiles();
    try {
      const { failures } = gh.gateway.reloadTls();
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/^general\.tls_\*: /);
      expect(await reloadFailures()).toBe(before + 1);
      expect(await servedSerial()).toBe(sameSerial(rotated.serialNumber));
      await sessionStillWorks();
    } finally {
      await writeCertificateFiles(path.dirname(files.certFile), 'listener', rotated);
    }
  });
});
