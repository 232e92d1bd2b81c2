import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  writeCertificateFiles,
  type CertificateAuthority,
  type IssuedCertificate,
} from '../../../src/dev/certificates.js';

const execFileAsync = promisify(execFile);

async function opensslAvailable(): Promise<boolean> {
  try {
    await execFileAsync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** Starts a TLS server with `server`, connects a client trusting `caPem`, and reports what the client saw. */
async function handshake(
  server: IssuedCertificate,
  client: Omit<tls.ConnectionOptions, 'host' | 'port'>,
): Promise<{ authorized: boolean; error?: string }> {
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem }, (socket) => socket.end());
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...client }, () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.on('error', (err) => resolve({ authorized: false, error: err.message }));
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}

describe('certificates', () => {
  let ca: CertificateAuthority;
  let localhostAndIp: IssuedCertificate;
  let localhostOnly: IssuedCertificate;
  let client: IssuedCertificate;
  let tmp: string;

  beforeAll(async () => {
    ca = await createCertificateAuthority('gatehouse test CA');
    localhostAndIp = await ca.issue({
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      usage: 'server',
    });
    localhostOnly = await ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], usage: 'server' });
    client = await ca.issue({ commonName: 'app_user', usage: 'client' });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gatehouse-certs-'));
  });

  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('makes a CA certificate with CA:true that signed itself with ECDSA P-256 / SHA-256', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=gatehouse test CA');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(cert.serialNumber.toLowerCase()).toBe(ca.serialNumber.toLowerCase());
  });

  it('issues a server certificate whose SAN lists the DNS names and IP addresses asked for', () => {
    const cert = new X509Certificate(localhostAndIp.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('issues a client certificate whose CN is the PostgreSQL user name, for clientAuth only', () => {
    const cert = new X509Certificate(client.certPem);
    expect(cert.subject).toBe('CN=app_user');
    expect(cert.subjectAltName).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('gives each certificate its own serial number and the requested notAfter', async () => {
    const notAfter = new Date(Date.UTC(2031, 0, 2, 3, 4, 5));
    const a = await ca.issue({ commonName: 'a', usage: 'client', notAfter });
    const b = await ca.issue({ commonName: 'b', usage: 'client' });
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.notAfter.toISOString()).toBe(notAfter.toISOString());
    expect(new Date(new X509Certificate(a.certPem).validTo).toISOString()).toBe(notAfter.toISOString());
    const inAYear = Date.now() + 365 * 24 * 3600 * 1000;
    expect(Math.abs(b.notAfter.getTime() - inAYear)).toBeLessThan(60_000);
  });

  it('is accepted by a TLS client that trusts the CA and asks for localhost', async () => {
    const result = await handshake(localhostAndIp, { ca: ca.certPem, servername: 'localhost' });
    expect(result).toEqual({ authorized: true });
  });

  it('is refused by a TLS client that trusts a different CA', async () => {
    const other = await createCertificateAuthority('other CA');
    const result = await handshake(localhostAndIp, { ca: other.certPem, servername: 'localhost' });
    expect(result.authorized).toBe(false);
    expect(result.error).toMatch(/unable to (get local issuer|verify the first) certificate/);
  });

  it('verifies an IP SAN for 127.0.0.1 and rejects a localhost-only certificate for 127.0.0.1', () => {
    const withIp = new X509Certificate(localhostAndIp.certPem).toLegacyObject();
    const withoutIp = new X509Certificate(localhostOnly.certPem).toLegacyObject();
    expect(tls.checkServerIdentity('127.0.0.1', withIp)).toBeUndefined();
    expect(tls.checkServerIdentity('localhost', withoutIp)).toBeUndefined();
    const mismatch = tls.checkServerIdentity('127.0.0.1', withoutIp);
    expect(mismatch?.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('fails the handshake when a localhost-only certificate is used to reach 127.0.0.1', async () => {
    const result = await handshake(localhostOnly, { ca: ca.certPem });
    expect(result.authorized).toBe(false);
    expect(result.error).toMatch(/127\.0\.0\.1 is not in the cert's list/);
  });

  it('is accepted by `openssl verify -CAfile` for server and client certificates', async (ctx) => {
    if (!(await opensslAvailable())) ctx.skip();
    const caFiles = await writeCertificateFiles(tmp, 'ca', ca);
    for (const [name, cert, purpose] of [
      ['server', localhostAndIp, 'sslserver'],
      ['client', client, 'sslclient'],
    ] as const) {
      const files = await writeCertificateFiles(tmp, name, cert);
      const { stdout } = await execFileAsync('openssl', [
        'verify', '-CAfile', caFiles.certFile, '-purpose', purpose, files.certFile,
      ]);
      expect(stdout.trim()).toBe(`${files.certFile}: OK`);
    }
    // A client certificate is not good for a server: the EKU must be enforced.
    const clientFile = path.join(tmp, 'client.crt');
    await expect(
      execFileAsync('openssl', ['verify', '-CAfile', caFiles.certFile, '-purpose', 'sslserver', clientFile]),
    ).rejects.toThrow(/(unsuitable|unsupported) certificate purpose/);
  });

  it('writes <name>.crt and a 0600 <name>.key that read back as the same PEM', async () => {
    const dir = path.join(tmp, 'nested', 'dir');
    const { certFile, keyFile } = await writeCertificateFiles(dir, 'db', localhostAndIp);
    expect(certFile).toBe(path.join(dir, 'db.crt'));
    expect(keyFile).toBe(path.join(dir, 'db.key'));
    expect(await fs.readFile(certFile, 'utf8')).toBe(localhostAndIp.certPem);
    expect(await fs.readFile(keyFile, 'utf8')).toBe(localhostAndIp.keyPem);
    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
  });

  it('tightens an existing key file to 0600 when rewriting it', async () => {
    const keyFile = path.join(tmp, 'loose.key');
    await fs.writeFile(keyFile, 'old', { mode: 0o644 });
    await writeCertificateFiles(tmp, 'loose', client);
    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
  });

  it('rejects a file name containing a path separator', async () => {
    await expect(writeCertificateFiles(tmp, '../escape', client)).rejects.toThrow(/plain file name/);
  });
});
