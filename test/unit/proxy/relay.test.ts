/**
 * The relay's pooling rules, on real socket pairs with a scripted pool: when a server connection
 * may be released or reused is what keeps one client's session from leaking into another's.
 */
import { createServer, connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FrontendType, readyForQuery } from '../../../src/protocol/index.js';
import type { ReleaseAction } from '../../../src/pool/pool.js';
import { ServerConnection } from '../../../src/pool/server-connection.js';
import { Relay, type RelayEnd } from '../../../src/proxy/relay.js';
import { StatementCache } from '../../../src/pool/prepared-statements.js';

const sockets: Socket[] = [];
afterEach(() => sockets.splice(0).forEach((s) => s.destroy()));

async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = connect((server.address() as { port: number }).port, '127.0.0.1');
  const b = await accepted;
  server.close();
  sockets.push(a, b);
  return [a, b];
}

const message = (type: number, body = Buffer.alloc(0)) => {
  const m = Buffer.alloc(5 + body.length);
  m[0] = type;
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
};

async function setup(mode: 'session' | 'transaction', idleTransactionTimeoutMs = 0) {
  const [clientApp, clientSide] = await socketPair();
  const [serverSide, backend] = await socketPair();
  const server = new ServerConnection({
    id: 's1',
    pool: 'app',
    route: { host: '127.0.0.1', port: 1, mode: 'disable', negotiation: 'postgres', material: null },
    socket: serverSide,
    tls: null,
    parameters: new Map(),
    backendKey: null,
    onClosed: () => {},
  });
  const released: ReleaseAction[] = [];
  const ends: RelayEnd[] = [];
  const pool = {
    acquire: async () => server,
    acquireIdleMatching: () => null,
    statements: new StatementCache(100),
    release: (_c: ServerConnection, action: ReleaseAction) => void released.push(action),
  };
  const backendReceived: Buffer[] = [];
  backend.on('data', (d) => backendReceived.push(d));
  const relay = new Relay({
    client: clientSide,
    mode,
    pool,
    settings: new Map(),
    holder: 'c1',
    logger: pino({ level: 'silent' }),
    onEnd: (e) => ends.push(e),
    onServer: () => {},
    idleTransactionTimeoutMs,
  });
  relay.start(server, Buffer.alloc(0));
  return { clientApp, backend, released, ends, backendReceived: () => Buffer.concat(backendReceived) };
}

const until = (check: () => boolean) => expect.poll(check, { timeout: 2000 }).toBe(true);

describe('relay', () => {
  it('transaction pooling keeps the server attached across Parse/Describe/Flush until a Sync is answered', async () => {
    const t = await setup('transaction');
    expect(t.released).toEqual(['reuse']); // the login server goes back at once
    t.clientApp.write(Buffer.concat([message(FrontendType.Parse, Buffer.from('\0select 1\0\0\0')), message(FrontendType.Flush)]));
    await until(() => t.backendReceived().length > 0);
    t.backend.write(message(0x31)); // ParseComplete, no ReadyForQuery: the exchange is not over
    await new Promise((r) => setTimeout(r, 50));
    expect(t.released).toHaveLength(1);
    t.clientApp.write(message(FrontendType.Sync));
    await until(() => t.backendReceived().includes(FrontendType.Sync));
    t.backend.write(readyForQuery('I'));
    await until(() => t.released.length === 2);
    expect(t.released[1]).toBe('reuse');
  });

  it('transaction pooling holds the server through an open transaction (ReadyForQuery T)', async () => {
    const t = await setup('transaction');
    t.clientApp.write(message(FrontendType.Query, Buffer.from('begin\0')));
    await until(() => t.backendReceived().length > 0);
    t.backend.write(readyForQuery('T'));
    await new Promise((r) => setTimeout(r, 50));
    expect(t.released).toHaveLength(1);
  });

  it('does not forward the client’s Terminate and resets an idle session server for reuse', async () => {
    const t = await setup('session');
    t.clientApp.write(message(FrontendType.Query, Buffer.from('select 1\0')));
    await until(() => t.backendReceived().length > 0);
    t.backend.write(readyForQuery('I'));
    await new Promise((r) => setTimeout(r, 20));
    t.clientApp.write(message(FrontendType.Terminate));
    await until(() => t.released.length === 1);
    expect(t.released[0]).toBe('reset');
    expect(t.backendReceived().includes(FrontendType.Terminate)).toBe(false);
    expect(t.ends).toEqual([{ kind: 'client-closed' }]);
  });

  it('closes the server when a session client leaves in the middle of a transaction', async () => {
    const t = await setup('session');
    t.clientApp.write(message(FrontendType.Query, Buffer.from('begin\0')));
    await until(() => t.backendReceived().length > 0);
    t.backend.write(readyForQuery('T'));
    await new Promise((r) => setTimeout(r, 20));
    t.clientApp.destroy();
    await until(() => t.released.length === 1);
    expect(t.released[0]).toBe('close');
  });

  describe.each(['session', 'transaction'] as const)('idle_transaction_timeout, %s pooling', (mode) => {
    const query = (sql: string) => message(FrontendType.Query, Buffer.from(`${sql}\0`));

    it('ends the relay and closes the server when the client says nothing inside a transaction', async () => {
      const t = await setup(mode, 60);
      t.clientApp.write(query('begin'));
      await until(() => t.backendReceived().length > 0);
      t.backend.write(readyForQuery('T'));
      await until(() => t.ends.length === 1);
      expect(t.ends).toEqual([{ kind: 'idle-in-transaction' }]);
      expect(t.released.at(-1)).toBe('close');
    });

    it('the client’s next query, before the timeout, starts the clock again only at its answer', async () => {
      const t = await setup(mode, 80);
      t.clientApp.write(query('begin'));
      await until(() => t.backendReceived().length > 0);
      t.backend.write(readyForQuery('T'));
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 50));
        t.clientApp.write(query('select 1'));
        // The server takes longer than the timeout to answer: a running query is not idleness.
        await new Promise((r) => setTimeout(r, 100));
        t.backend.write(readyForQuery('T'));
      }
      expect(t.ends).toEqual([]);
      await until(() => t.ends.length === 1);
      expect(t.ends).toEqual([{ kind: 'idle-in-transaction' }]);
    });

    it('never fires outside a transaction, nor while a Sync is still unanswered', async () => {
      const t = await setup(mode, 40);
      t.clientApp.write(query('select 1'));
      await until(() => t.backendReceived().length > 0);
      t.backend.write(readyForQuery('I'));
      await new Promise((r) => setTimeout(r, 100));
      expect(t.ends).toEqual([]);
      const t2 = await setup(mode, 40);
      // Two queries pipelined: the first answer (T) leaves the second one running.
      t2.clientApp.write(Buffer.concat([query('begin'), query('select pg_sleep(1)')]));
      await until(() => t2.backendReceived().length > 0);
      t2.backend.write(readyForQuery('T'));
      await new Promise((r) => setTimeout(r, 100));
      expect(t2.ends).toEqual([]);
    });
  });
});
