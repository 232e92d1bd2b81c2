/**
 * One client's life after login, with a scripted pool: what the session reports to the machine,
 * what it gives back, and the cancel key it holds while the client is there.
 */
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Login, SessionEvent } from '../../../src/driver/session-port.js';
import type { ReleaseAction } from '../../../src/pool/pool.js';
import type { ServerConnection } from '../../../src/pool/server-connection.js';
import { ProxyError, readyForQuery } from '../../../src/protocol/index.js';
import { Session } from '../../../src/proxy/session.js';
import { fakeConnection } from '../pool/support.js';
import { StatementCache } from '../../../src/pool/prepared-statements.js';
import type { CancelKey } from '../../../src/proxy/cancel-key.js';

class FakeClient extends Duplex {
  readonly written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.written.push(chunk);
    done();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function world(opts: { idle?: ServerConnection | null; acquire?: () => Promise<ServerConnection>; mode?: 'session' | 'transaction' } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const client = new FakeClient();
  const login: Login = { id: 'c1', user: 'u', database: 'app', settings: new Map(), socket: client as never, logger };
  const events: SessionEvent[] = [];
  const releases: Array<[ServerConnection, ReleaseAction]> = [];
  const cancels = { registered: 0, unregistered: [] as number[], attached: [] as Array<string | null> };
  let acquires = 0;
  const pool = {
    acquireIdleMatching: () => opts.idle ?? null,
    statements: new StatementCache(100),
    acquire: () => {
      acquires++;
      return opts.acquire ? opts.acquire() : new Promise<ServerConnection>(() => {});
    },
    release: (s: ServerConnection, a: ReleaseAction) => void releases.push([s, a]),
  };
  const registry = {
    register: () => ({ processId: 77 + cancels.registered++, secretKey: Buffer.from([1, 2, 3, 4]) }),
    attach: (_key: CancelKey, s: ServerConnection | null) => void cancels.attached.push(s?.id ?? null),
    unregister: (key: CancelKey) => void cancels.unregistered.push(key.processId),
  };
  const session = new Session(login, (e) => events.push(e), { pool, mode: opts.mode ?? 'session', cancels: registry });
  return { session, client, events, releases, cancels, lines, acquires: () => acquires };
}

describe('session', () => {
  it('takes an idle matching server without asking the pool to wait, and reports it after the step', async () => {
    const { conn } = fakeConnection(null);
    const w = world({ idle: conn });
    expect(w.events).toEqual([]);
    await tick();
    expect(w.events).toEqual([{ type: 'pool.acquired', serverId: conn.id }]);
    expect(w.acquires()).toBe(0);
  });

  it('reports a ProxyError as pool.failed with its SQLSTATE, and a bug as internal.error, logged with its stack', async () => {
    const refused = world({ acquire: () => Promise.reject(new ProxyError('pool.wait_timeout', '53300', 'pool_size is in use')) });
    await tick();
    expect(refused.events).toEqual([{ type: 'pool.failed', sqlstate: '53300', message: 'pool_size is in use' }]);

    const buggy = world({ acquire: () => Promise.reject(new TypeError('boom')) });
    await tick();
    expect(buggy.events).toEqual([{ type: 'internal.error', where: 'pool' }]);
    const logged = buggy.lines.find((l) => l.msg === "internal error in the session's pool");
    expect((logged?.err as { stack?: string })?.stack).toMatch(/TypeError: boom/);
  });

  it('gives back a server that arrives after the client left, untouched', async () => {
    const { conn } = fakeConnection(null);
    let hand!: (c: ServerConnection) => void;
    const w = world({ acquire: () => new Promise((r) => (hand = r)) });
    w.session.end();
    hand(conn);
    await tick();
    expect(w.events).toEqual([]);
    expect(w.releases).toEqual([[conn, 'reuse']]);
  });

  it('welcomes the client with the server’s parameters and its own cancel key, and routes cancels to the server it holds', async () => {
    const { conn } = fakeConnection(null, [['server_version', '18.0']]);
    const w = world({ idle: conn });
    await tick();
    w.session.start(Buffer.alloc(0));
    const welcome = Buffer.concat(w.client.written);
    expect(welcome.includes(Buffer.from('server_version\u000018.0\u0000'))).toBe(true);
    expect(welcome.subarray(-6)).toEqual(readyForQuery('I'));
    // BackendKeyData: gatehouse's key (77), never the server's.
    const k = welcome.indexOf(0x4b);
    expect(welcome.readInt32BE(k + 5)).toBe(77);
    expect(w.cancels.attached).toEqual([conn.id]);
    w.session.end();
    w.session.end();
    expect(w.cancels.unregistered).toEqual([77]);
    expect(w.releases).toEqual([[conn, 'reset']]);
    expect(w.cancels.attached).toEqual([conn.id, null]);
  });

  it('reports the client leaving, and the server going away, as the machine’s events', async () => {
    const a = fakeConnection(null);
    const left = world({ idle: a.conn });
    await tick();
    left.session.start(Buffer.alloc(0));
    left.client.push(null);
    await tick();
    expect(left.events.at(-1)).toEqual({ type: 'socket.closed' });

    const b = fakeConnection(null);
    const lost = world({ idle: b.conn });
    await tick();
    lost.session.start(Buffer.alloc(0));
    b.backend.destroy();
    await tick();
    expect(lost.events.at(-1)).toEqual({
      type: 'backend.lost',
      message: 'server closed the connection unexpectedly',
      midMessage: false,
      serverErrorRelayed: false,
    });
  });

  it('keeps no cancel key for a client that never started its session', async () => {
    const w = world();
    w.session.end();
    expect(w.cancels.unregistered).toEqual([]);
    expect(w.cancels.registered).toBe(0);
  });

  it('gives back, unused, a server acquired for a client that left before its welcome', async () => {
    const { conn } = fakeConnection(null);
    const w = world({ idle: conn });
    await tick();
    expect(w.events).toEqual([{ type: 'pool.acquired', serverId: conn.id }]);
    w.session.end();
    expect(w.releases).toEqual([[conn, 'reuse']]);
  });

  it('transaction pooling: a bug while getting a server for the next transaction is reported as the relay’s', async () => {
    const { conn } = fakeConnection(null);
    let calls = 0;
    const w = world({ mode: 'transaction', idle: null, acquire: () => (++calls === 1 ? Promise.resolve(conn) : Promise.reject(new TypeError('boom'))) });
    await tick();
    w.session.start(Buffer.alloc(0));
    w.client.push(Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from('SELECT 1'), 0]));
    await tick();
    await tick();
    expect(w.events.at(-1)).toEqual({ type: 'internal.error', where: 'relay' });
  });
});
