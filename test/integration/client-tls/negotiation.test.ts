// How a client and gatehouse agree on TLS: direct TLS (PostgreSQL 17's sslnegotiation=direct) and
// ALPN, the client certificate's CN as the login identity, the protocol-version floor and the
// TLS 1.3 cipher suites an operator configures.
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER } from '../../fixtures/clusters.js';
import type { RunningGatehouse } from '../../fixtures/gatehouse.js';
import { psql, psqlValue } from '../../fixtures/psql.js';
import { encodeSslRequest, encodeStartupMessage } from '../../../src/protocol/index.js';
import { gatehouseConninfo, startHarness, type ClientTlsHarness } from './support/harness.js';
import { connectionsSince, eventsOfType, journalMark } from './support/journal.js';
import { WireClient } from './support/wire.js';

let h: ClientTlsHarness;
let required: RunningGatehouse;
let disabled: RunningGatehouse;

beforeAll(async () => {
  h = await startHarness();
  required = await h.gatehouse('require');
  disabled = await h.gatehouse('disable');
});

afterAll(async () => {
  await h?.stop();
});

function verifyFull(gh: RunningGatehouse, extra: Record<string, string> = {}): string {
  return gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: h.pki.caFile, ...extra });
}

/** SSLRequest on a fresh socket, 'S', then a TLS handshake with `options`. */
async function tlsAfterSslRequest(gh: RunningGatehouse, options: Parameters<WireClient['startTls']>[0]): Promise<WireClient> {
  const plain = await WireClient.connect(gh.port);
  plain.write(encodeSslRequest());
  expect((await plain.read(1)).toString()).toBe('S');
  return plain.startTls({ ca: h.pki.ca.certPem, ...options });
}

const startup = () => encodeStartupMessage({ user: APP_USER.name, database: APP_DATABASE });

describe('direct TLS', () => {
  it('psql with libpq 18 and sslnegotiation=direct connects over TLS, with ALPN postgresql and no SSLRequest', async () => {
    const mark = journalMark(required);
    const result = await psql(verifyFull(required, { sslnegotiation: 'direct' }), ['-At', '-c', '\\conninfo', '-c', 'SELECT 40 + 2'], {
      libpq: 18,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\nSSL connection \(protocol: TLSv1\.3, /);
    expect(result.stdout.trim().split('\n').at(-1)).toBe('42');

    const [conn, ...others] = connectionsSince(required, mark);
    expect(others).toEqual([]);
    expect(eventsOfType(conn, 'client.sslRequest')).toEqual([]);
    expect(eventsOfType(conn, 'client.directTls')).toHaveLength(1);
    expect(eventsOfType(conn, 'tls.established')).toEqual([expect.objectContaining({ alpnProtocol: 'postgresql', protocol: 'TLSv1.3' })]);
  });

  it('a raw direct TLS client offering ALPN postgresql gets it and is asked to authenticate', async () => {
    const client = await WireClient.directTls(required.port, { ca: h.pki.ca.certPem, ALPNProtocols: ['postgresql'] });
    try {
      expect((client.socket as TLSSocket).alpnProtocol).toBe('postgresql');
      client.write(startup());
      const auth = await client.readMessage();
      expect(auth.type).toBe('R');
      expect(auth.body.readInt32BE(0)).toBe(10); // AuthenticationSASL
    } finally {
      client.destroy();
    }
  });

  it('a direct TLS client without ALPN gets FATAL 08P01 over TLS and is closed', async () => {
    const client = await WireClient.directTls(required.port, { ca: h.pki.ca.certPem });
    expect((client.socket as TLSSocket).alpnProtocol).toBe(false);
    const error = await client.readError();
    expect(error).toMatchObject({ severity: 'FATAL', code: '08P01' });
    expect(error.message).toMatch(/ALPN/);
    await client.closed();
    expect(await psqlValue(verifyFull(required), 'SELECT 40 + 2')).toBe('42');
  });

  it('with tls_mode disable a direct ClientHello is closed without an answer', async () => {
    const refused = WireClient.directTls(disabled.port, { ca: h.pki.ca.certPem, ALPNProtocols: ['postgresql'] });
    await expect(refused).rejects.toThrow(/closed during the TLS handshake|ECONNRESET|socket disconnected/);
    expect(await psqlValue(gatehouseConninfo(disabled, { sslmode: 'disable' }), 'SELECT 40 + 2')).toBe('42');
  });

  it('after an SSLRequest gatehouse selects ALPN postgresql when the client offers it', async () => {
    const client = await tlsAfterSslRequest(required, { ALPNProtocols: ['postgresql'] });
    try {
      expect((client.socket as TLSSocket).alpnProtocol).toBe('postgresql');
    } finally {
      client.destroy();
    }
  });

  it('a client offering ALPN postgresql among others gets postgresql; one offering only others is refused in the handshake', async () => {
    const among = await tlsAfterSslRequest(required, { ALPNProtocols: ['h2', 'postgresql'] });
    try {
      expect((among.socket as TLSSocket).alpnProtocol).toBe('postgresql');
    } finally {
      among.destroy();
    }
    await expect(tlsAfterSslRequest(required, { ALPNProtocols: ['h2', 'http/1.1'] })).rejects.toThrow(/no application protocol/i);
    expect(await psqlValue(verifyFull(required), 'SELECT 40 + 2')).toBe('42');
  });
});

describe('tls_client_cert_identity: cn', () => {
  let identity: RunningGatehouse;

  beforeAll(async () => {
    identity = await h.gatehouse('verify-full', { tls_client_cert_identity: 'cn' });
  });

  it('a trusted certificate whose CN is the user logs in', async () => {
    const conn = verifyFull(identity, { sslcert: h.trustedClient.certFile, sslkey: h.trustedClient.keyFile });
    expect(await psqlValue(conn, 'SELECT current_user')).toBe(APP_USER.name);
  });

  it('a trusted certificate whose CN is another user is refused with FATAL 28000', async () => {
    const other = await h.pki.clientCertificate('someone_else');
    const result = await psql(verifyFull(identity, { sslcert: other.certFile, sslkey: other.keyFile }), ['-c', 'SELECT 1'], {
      env: { PGCONNECT_TIMEOUT: '5' },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/FATAL: {2}certificate authentication failed for user "app_user": certificate CN is "someone_else"/);
  });
});

describe('protocol versions and TLS 1.3 cipher suites', () => {
  it('tls_min_version TLSv1.3 refuses a client that speaks at most TLS 1.2, and serves one that speaks 1.3', async () => {
    const gh = await h.gatehouse('require', { tls_min_version: 'TLSv1.3' });
    await expect(tlsAfterSslRequest(gh, { maxVersion: 'TLSv1.2' })).rejects.toThrow(/protocol version|unsupported protocol/i);
    const modern = await tlsAfterSslRequest(gh, {});
    try {
      expect((modern.socket as TLSSocket).getProtocol()).toBe('TLSv1.3');
    } finally {
      modern.destroy();
    }
    // The same TLS 1.2 client is served by a gatehouse with the default floor.
    const legacy = await tlsAfterSslRequest(required, { maxVersion: 'TLSv1.2' });
    try {
      expect((legacy.socket as TLSSocket).getProtocol()).toBe('TLSv1.2');
    } finally {
      legacy.destroy();
    }
  });

  it('tls13_ciphersuites TLS_AES_256_GCM_SHA384 is the suite negotiated, and a client without it is refused', async () => {
    const gh = await h.gatehouse('require', { tls13_ciphersuites: 'TLS_AES_256_GCM_SHA384' });
    // Preferring AES-128 on both sides: only the configured restriction can make AES-256 win.
    const ciphers = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';
    const restricted = await tlsAfterSslRequest(gh, { ciphers });
    const unrestricted = await tlsAfterSslRequest(required, { ciphers });
    try {
      expect((restricted.socket as TLSSocket).getCipher().standardName).toBe('TLS_AES_256_GCM_SHA384');
      expect((unrestricted.socket as TLSSocket).getCipher().standardName).toBe('TLS_AES_128_GCM_SHA256');
    } finally {
      restricted.destroy();
      unrestricted.destroy();
    }
    await expect(tlsAfterSslRequest(gh, { ciphers: 'TLS_AES_128_GCM_SHA256', minVersion: 'TLSv1.3' })).rejects.toThrow(/handshake failure|no shared cipher/i);

    const result = await psql(verifyFull(gh), ['-c', '\\conninfo']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/SSL connection \(protocol: TLSv1\.3, cipher: TLS_AES_256_GCM_SHA384,/);
  });
});
