// Hostile or broken input on the client listener: each connection is refused or dropped on its own,
// gatehouse forgets it, and the next well-behaved client still gets in. These are about gatehouse's
// listener, not about PostgreSQL, so one flavor (the embedded PostgreSQL 18) is enough.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { connectPg } from '../fixtures/clients.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psqlValue } from '../fixtures/psql.js';
import { errorCode, messageTypes, PROTOCOL_3_0, rawExchange, SSL_REQUEST_CODE, startupMessage, startupPacket, type RawOutcome } from '../fixtures/raw-socket.js';

describe('hostile input on the client listener', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  let verifyFull: string;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster('embedded18', pki);
    gh = await startGatehouse({
      general: { ...clientTls(pki), client_login_timeout: '1s' },
      pools: { [APP_DATABASE]: poolFor(cluster, pki) },
    });
    verifyFull = gatehouseConninfo(gh, { sslmode: 'verify-full', sslrootcert: pki.caFile });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  /** After a hostile connection: gatehouse has let go of it and a normal psql session works. */
  async function expectStillServing(): Promise<void> {
    const deadline = Date.now() + 2000;
    while (gh.gateway.clientCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gh.gateway.clientCount).toBe(0);
    expect(await psqlValue(verifyFull, 'SELECT 40 + 2')).toBe('42');
  }

  function expectFatal(outcome: RawOutcome, sqlstate: string): void {
    expect(outcome.closedByServer).toBe(true);
    expect(messageTypes(outcome.received)).toEqual(['E']);
    expect(errorCode(outcome.received)).toBe(sqlstate);
  }

  it('a startup packet announcing 2^31 bytes is refused with 08P01 without allocating it', async () => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(2 ** 31, 0);
    head.writeInt32BE(PROTOCOL_3_0, 4);
    expectFatal(await rawExchange(gh.port, [head, Buffer.alloc(1024, 0x61)]), '08P01');
    await expectStillServing();
  });

  it('a startup packet announcing 20000 bytes (over the 10000 limit) is refused with 08P01', async () => {
    const head = Buffer.alloc(8);
    head.writeInt32BE(20_000, 0);
    head.writeInt32BE(PROTOCOL_3_0, 4);
    expectFatal(await rawExchange(gh.port, [head]), '08P01');
    await expectStillServing();
  });

  it('a truncated startup packet followed by a close is forgotten', async () => {
    const full = startupMessage({ user: APP_USER.name, database: APP_DATABASE });
    const outcome = await rawExchange(gh.port, [full.subarray(0, full.length - 7)], { endAfterWrites: true });
    expect(outcome.closedByServer).toBe(true);
    expect(messageTypes(outcome.received)).not.toContain('R');
    await expectStillServing();
  });

  it.each([
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), '08P01'],
    ['0xff bytes', Buffer.alloc(64, 0xff), '08P01'],
    // PostgreSQL answers an unknown protocol version with 0A000 too ("unsupported frontend protocol").
    ['a packet with an unknown protocol code', startupPacket(0x12345678, Buffer.from('junk\0')), '0A000'],
  ])('garbage (%s) is refused with %s and the connection closed', async (_what, bytes, sqlstate) => {
    expectFatal(await rawExchange(gh.port, [bytes]), sqlstate);
    await expectStillServing();
  });

  it('SSLRequest with a plaintext StartupMessage in the same write is closed without reading the plaintext (CVE-2021-23214)', async () => {
    const sslRequest = startupPacket(SSL_REQUEST_CODE);
    const injected = startupMessage({ user: APP_USER.name, database: APP_DATABASE });
    const outcome = await rawExchange(gh.port, [Buffer.concat([sslRequest, injected])]);
    expect(outcome.closedByServer).toBe(true);
    // Not even the 'S' that would let the injected bytes be read once TLS is up, nor an authentication request for them.
    expect(outcome.received.toString('latin1')).toBe('');
    await expectStillServing();
  });

  it('a client that connects and says nothing is dropped after client_login_timeout', async () => {
    const outcome = await rawExchange(gh.port, [], { waitMs: 5000 });
    expect(outcome.closedByServer).toBe(true);
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(outcome.elapsedMs).toBeLessThan(3000);
    await expectStillServing();
  });

  it('a logged-in client that sends a message length below 4 gets FATAL 08P01, its server is not reused, and the journal says so', async () => {
    const client = await connectPg(gh, pki, { database: APP_DATABASE });
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const failed = new Promise<Error & { code?: string }>((resolve) => client.once('error', resolve));
    // What a broken driver would send: a Query whose length word (2) is shorter than itself.
    (client as unknown as { connection: { stream: { write(b: Buffer): void } } }).connection.stream.write(Buffer.from([0x51, 0, 0, 0, 2]));
    const err = await failed;
    expect(err).toMatchObject({ code: '08P01' });
    expect(err.message).toMatch(/invalid message length 2/);
    await expectStillServing();
    const record = gh.gateway.journals.endedRecords().find((r) => r.entries.at(-1)?.event.type === 'client.invalidMessage');
    expect(record?.final?.context).toMatchObject({ failure: { reason: 'protocol_error', sqlstate: '08P01' } });
    // The backend that saw part of a garbled stream is closed, never handed to the next client.
    const next = await connectPg(gh, pki, { database: APP_DATABASE });
    try {
      expect((await next.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).not.toBe(pid);
    } finally {
      await next.end();
    }
  });
});
