// Clients that break the startup phase on purpose, on raw sockets (node:net, node:tls): injected
// plaintext after SSLRequest, GSSAPI encryption requests, TLS 1.0/1.1, absurd lengths, half-sent
// packets, silence and stalled handshakes. Each is refused or timed out on its own, counted, and
// a normal psql client still gets in afterwards.
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER } from '../../fixtures/clusters.js';
import { metricValue, type RunningGatehouse } from '../../fixtures/gatehouse.js';
import { psqlValue } from '../../fixtures/psql.js';
import { encodeGssEncRequest, encodeSslRequest, encodeStartupMessage } from '../../../src/protocol/index.js';
import { gatehouseConninfo, scrape, startHarness, type ClientTlsHarness } from './support/harness.js';
import { captureClientHello, WireClient } from './support/wire.js';

const LOGIN_TIMEOUT_MS = 1500;

let h: ClientTlsHarness;
let gh: RunningGatehouse;

beforeAll(async () => {
  h = await startHarness();
  gh = await h.gatehouse('require', { client_login_timeout: LOGIN_TIMEOUT_MS });
  // Warm the pool: the first login also opens the backend connection.
  await stillServes();
});

afterAll(async () => {
  await h?.stop();
});

async function rejections(reason: string): Promise<number> {
  return metricValue(await scrape(gh), 'pg_doorman_listener_rejections_total', { reason });
}

/** gatehouse let go of every hostile connection, and a normal psql client logs in. */
async function stillServes(): Promise<void> {
  const deadline = Date.now() + 2000;
  while (gh.gateway.clientCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(gh.gateway.clientCount).toBe(0);
  const conn = gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: h.pki.caFile });
  expect(await psqlValue(conn, 'SELECT 40 + 2')).toBe('42');
}

const startup = () => encodeStartupMessage({ user: APP_USER.name, database: APP_DATABASE });

describe('encryption negotiation abuse', () => {
  it('SSLRequest and a plaintext StartupMessage in one write: closed without interpreting it, counted (CVE-2021-23214)', async () => {
    const before = await rejections('protocol_error');
    const client = await WireClient.connect(gh.port);
    client.write(Buffer.concat([encodeSslRequest(), startup()]));
    await client.closed();
    // At most the 'S' a server may send before noticing; never an answer to the injected startup.
    expect(['', 'S']).toContain(client.unread.toString('latin1'));
    expect(await rejections('protocol_error')).toBe(before + 1);
    await stillServes();
  });

  it('GSSENCRequest is answered N, then SSLRequest S, and TLS works on the same socket', async () => {
    const plain = await WireClient.connect(gh.port);
    plain.write(encodeGssEncRequest());
    expect((await plain.read(1)).toString()).toBe('N');
    plain.write(encodeSslRequest());
    expect((await plain.read(1)).toString()).toBe('S');
    const secure = await plain.startTls({ ca: h.pki.ca.certPem });
    try {
      secure.write(startup());
      const auth = await secure.readMessage();
      expect(auth.type).toBe('R');
      expect(auth.body.readInt32BE(0)).toBe(10); // AuthenticationSASL, over TLS
    } finally {
      secure.destroy();
    }
    await stillServes();
  });

  it('a second GSSENCRequest on the same socket gets FATAL 08P01', async () => {
    const client = await WireClient.connect(gh.port);
    client.write(encodeGssEncRequest());
    expect((await client.read(1)).toString()).toBe('N');
    client.write(encodeGssEncRequest());
    expect(await client.readError()).toMatchObject({ severity: 'FATAL', code: '08P01' });
    await client.closed();
    await stillServes();
  });

  it.each(['TLSv1', 'TLSv1.1'] as const)('a client offering only %s is refused with a protocol_version alert', async (version) => {
    const legacy: tls.ConnectionOptions = { minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0', ca: h.pki.ca.certPem };
    // The control: this client really offers the old version (a server that allows it negotiates it).
    const oldServer = tls.createServer({
      cert: h.pki.gatehouse.certPem,
      key: h.pki.gatehouse.keyPem,
      minVersion: 'TLSv1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    }, (s) => s.end());
    await new Promise<void>((resolve) => oldServer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (oldServer.address() as { port: number }).port;
      const control = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...legacy });
      const negotiated = await new Promise<string | null>((resolve, reject) => {
        control.once('secureConnect', () => resolve(control.getProtocol()));
        control.once('error', reject);
      });
      control.destroy();
      expect(negotiated).toBe(version);
    } finally {
      oldServer.close();
    }

    const before = await rejections('tls_handshake_fail');
    const failures = async () =>
      metricValue(await scrape(gh), 'gatehouse_client_tls_handshake_failures_total', { reason: 'unsupported_protocol' });
    const failuresBefore = await failures();
    const plain = await WireClient.connect(gh.port);
    plain.write(encodeSslRequest());
    expect((await plain.read(1)).toString()).toBe('S');
    await expect(plain.startTls(legacy)).rejects.toThrow(/alert protocol version/);
    expect(await rejections('tls_handshake_fail')).toBe(before + 1);
    expect(await failures()).toBe(failuresBefore + 1);
    await stillServes();
  });
});

describe('malformed and stalled startups', () => {
  it('a startup packet whose length field is 2^31 gets FATAL 08P01', async () => {
    const client = await WireClient.connect(gh.port);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(2 ** 31, 0);
    head.writeInt32BE(196608, 4);
    client.write(head);
    expect(await client.readError()).toMatchObject({ severity: 'FATAL', code: '08P01' });
    await client.closed();
    await stillServes();
  });

  it('a truncated startup packet and then silence is closed by client_login_timeout', async () => {
    const before = await rejections('login_timeout');
    const client = await WireClient.connect(gh.port);
    client.write(startup().subarray(0, 11));
    const closedAfter = await client.closed(LOGIN_TIMEOUT_MS + 2000);
    expect(closedAfter).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 100);
    expect(client.unread.length).toBe(0);
    expect(await rejections('login_timeout')).toBe(before + 1);
    await stillServes();
  });

  it('a client that connects and sends nothing is closed by client_login_timeout', async () => {
    const before = await rejections('login_timeout');
    const client = await WireClient.connect(gh.port);
    const closedAfter = await client.closed(LOGIN_TIMEOUT_MS + 2000);
    expect(closedAfter).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 100);
    expect(client.unread.length).toBe(0);
    expect(await rejections('login_timeout')).toBe(before + 1);
    await stillServes();
  });

  it('a TLS handshake stalled halfway through the ClientHello is closed by client_login_timeout', async () => {
    const hello = await captureClientHello({ ca: h.pki.ca.certPem });
    expect(hello[0]).toBe(0x16); // a TLS handshake record
    const before = await rejections('login_timeout');
    const client = await WireClient.connect(gh.port);
    client.write(encodeSslRequest());
    expect((await client.read(1)).toString()).toBe('S');
    client.write(hello.subarray(0, Math.floor(hello.length / 2)));
    const closedAfter = await client.closed(LOGIN_TIMEOUT_MS + 2000);
    expect(closedAfter).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 100);
    expect(client.unread.length).toBe(0);
    expect(await rejections('login_timeout')).toBe(before + 1);
    await stillServes();
  });
});
