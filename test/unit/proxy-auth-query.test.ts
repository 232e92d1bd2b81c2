// AuthQuery against a scripted backend: how the result is read (column passwd, else password, else the only one;
// no row or NULL is unknown; several rows is an error), the cache TTLs, min_interval, and lookups shared while in
// flight. The backend answers the extended-protocol statement the way PostgreSQL does.
import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuthQueryConfig } from '../../src/config/types.js';
import type { ServerPool } from '../../src/pool/pool.js';
import { ServerConnection } from '../../src/pool/server-connection.js';
import { MessageFramer, readyForQuery } from '../../src/protocol/index.js';
import { AuthQuery } from '../../src/proxy/auth-query.js';

const MD5 = `md5${'ab'.repeat(16)}`;

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function rowDescription(columns: string[]): Buffer {
  const parts = [Buffer.from([columns.length >> 8, columns.length & 0xff])];
  for (const c of columns) parts.push(Buffer.from(`${c}\0`), Buffer.alloc(18));
  return message('T', Buffer.concat(parts));
}

function dataRow(values: Array<string | null>): Buffer {
  const parts = [Buffer.from([0, values.length])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : Buffer.byteLength(v));
    parts.push(len, v === null ? Buffer.alloc(0) : Buffer.from(v));
  }
  return message('D', Buffer.concat(parts));
}

type Answer = { columns: string[]; rows: Array<Array<string | null>> } | { error: string };

/** A backend that answers each statement (up to its Sync) with the next scripted answer, recording the bound user. */
class ScriptedBackend {
  readonly server = net.createServer((s) => this.serve(s));
  readonly users: string[] = [];
  answer: (user: string) => Answer = () => ({ columns: ['passwd'], rows: [] });
  hold: Promise<void> | null = null;

  readonly sockets: net.Socket[] = [];

  private serve(socket: net.Socket): void {
    this.sockets.push(socket);
    const framer = new MessageFramer();
    socket.on('error', () => {});
    socket.on('data', async (chunk) => {
      framer.push(chunk);
      for (let m = framer.next(); m; m = framer.next()) {
        if (m.type === 0x42) {
          // Bind: portal '', statement '', 0 formats, 1 parameter: length + value.
          const len = m.body.readInt32BE(6);
          this.users.push(m.body.toString('utf8', 10, 10 + len));
        }
        if (m.type !== 0x53) continue;
        const user = this.users[this.users.length - 1];
        if (this.hold) await this.hold;
        const a = this.answer(user);
        if ('error' in a) {
          socket.write(Buffer.concat([message('E', Buffer.from(`SERROR\0C42883\0M${a.error}\0\0`)), readyForQuery('I')]));
        } else {
          socket.write(Buffer.concat([rowDescription(a.columns), ...a.rows.map(dataRow), message('C', Buffer.from('SELECT 1\0')), readyForQuery('I')]));
        }
      }
    });
  }
}

const backend = new ScriptedBackend();
let clock = 0;

beforeAll(async () => {
  backend.server.listen(0, '127.0.0.1');
  await once(backend.server, 'listening');
});
afterAll(async () => {
  for (const s of backend.sockets) s.destroy();
  await new Promise<void>((resolve) => backend.server.close(() => resolve()));
});

/** An executor "pool" of one real connection to the scripted backend. */
async function executors(): Promise<ServerPool> {
  const socket = net.connect((backend.server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const conn = new ServerConnection({
    id: 'x1',
    pool: 'app',
    route: { host: '127.0.0.1', port: 0, mode: 'disable', negotiation: 'postgres', material: null },
    socket,
    tls: null,
    parameters: new Map(),
    backendKey: null,
    onClosed: () => {},
  });
  return { acquire: async () => conn, release: () => {} } as unknown as ServerPool;
}

async function authQuery(config: Partial<AuthQueryConfig> = {}): Promise<AuthQuery> {
  const full: AuthQueryConfig = {
    query: 'SELECT passwd FROM users WHERE name = $1',
    user: 'exec',
    password: '',
    database: 'app',
    workers: 1,
    server_user: null,
    server_password: null,
    pool_size: 4,
    cache_ttl: 10_000,
    cache_failure_ttl: 1_000,
    min_interval: 500,
    ...config,
  };
  return new AuthQuery({ pool: 'app', config: full, executors: await executors(), queryTimeoutMs: 2000, logger: pino({ level: 'silent' }), now: () => clock });
}

describe('AuthQuery', () => {
  test('passes the user as $1 and reads the passwd column, else password, else the only column', async () => {
    const aq = await authQuery();
    backend.answer = () => ({ columns: ['usename', 'passwd'], rows: [['alice', MD5]] });
    expect(await aq.lookup('alice')).toEqual({ kind: 'md5', hash: MD5 });
    expect(backend.users.at(-1)).toBe('alice');
    backend.answer = () => ({ columns: ['name', 'password'], rows: [['bob', MD5]] });
    expect(await aq.lookup('bob')).toEqual({ kind: 'md5', hash: MD5 });
    backend.answer = () => ({ columns: ['secret'], rows: [[MD5]] });
    expect(await aq.lookup("o'brien; DROP TABLE users")).toEqual({ kind: 'md5', hash: MD5 });
    expect(backend.users.at(-1), 'a parameter, never SQL').toBe("o'brien; DROP TABLE users");
  });

  test('no row, a NULL and an empty password mean no such user', async () => {
    const aq = await authQuery();
    for (const rows of [[], [[null]], [['']]] as Array<Array<Array<string | null>>>) {
      backend.answer = () => ({ columns: ['passwd'], rows });
      expect(await aq.lookup(`u${rows.length}${String(rows[0]?.[0])}`)).toBeNull();
    }
  });

  test('several rows, no usable column, a failing query and a malformed hash are FATAL 58000 with the reason in the detail', async () => {
    const aq = await authQuery();
    const cases: Array<[Answer, RegExp]> = [
      [{ columns: ['passwd'], rows: [[MD5], [MD5]] }, /returned 2 rows for user "x1"/],
      [{ columns: ['a', 'b'], rows: [['1', '2']] }, /returns columns a, b: expected one named passwd or password/],
      [{ error: 'function gatehouse_auth(text) does not exist' }, /the query failed: function gatehouse_auth\(text\) does not exist \(SQLSTATE 42883\)/],
      [{ columns: ['passwd'], rows: [['md5ABC' + 'a'.repeat(29)]] }, /unusable: md5 password hash is malformed/],
    ];
    for (const [i, [answer, detail]] of cases.entries()) {
      backend.answer = () => answer;
      await expect(aq.lookup(`x${i + 1}`)).rejects.toMatchObject({ sqlstate: '58000', message: 'Authentication service unavailable. Please try again later.', detail: expect.stringMatching(detail) });
    }
  });

  test('found users are remembered for cache_ttl, unknown ones for cache_failure_ttl', async () => {
    const aq = await authQuery();
    clock = 1000;
    backend.answer = () => ({ columns: ['passwd'], rows: [[MD5]] });
    await aq.lookup('carol');
    backend.answer = () => ({ columns: ['passwd'], rows: [] });
    await aq.lookup('dave');
    const asked = backend.users.length;
    clock = 1999;
    expect(await aq.lookup('carol')).not.toBeNull();
    expect(await aq.lookup('dave')).toBeNull();
    expect(backend.users.length, 'both answered from the cache').toBe(asked);
    clock = 2000;
    backend.answer = () => ({ columns: ['passwd'], rows: [[MD5]] });
    expect(await aq.lookup('dave'), 'the negative entry expired').not.toBeNull();
    expect(backend.users.length).toBe(asked + 1);
    clock = 11_000;
    await aq.lookup('carol');
    expect(backend.users.length, 'the positive entry expired').toBe(asked + 2);
  });

  test('a rejected password drops the cached entry, but not more often than min_interval', async () => {
    const aq = await authQuery();
    clock = 50_000;
    backend.answer = () => ({ columns: ['passwd'], rows: [[MD5]] });
    await aq.lookup('erin');
    const asked = backend.users.length;
    clock = 50_400;
    aq.passwordRejected('erin');
    await aq.lookup('erin');
    expect(backend.users.length, 'within min_interval: still cached').toBe(asked);
    clock = 50_500;
    aq.passwordRejected('erin');
    await aq.lookup('erin');
    expect(backend.users.length, 'after min_interval: looked up again').toBe(asked + 1);
  });

  test('concurrent lookups of one user share one query', async () => {
    const aq = await authQuery();
    let release!: () => void;
    backend.hold = new Promise((r) => (release = r));
    backend.answer = () => ({ columns: ['passwd'], rows: [[MD5]] });
    const asked = backend.users.length;
    const both = Promise.all([aq.lookup('frank'), aq.lookup('frank')]);
    await new Promise((r) => setTimeout(r, 50));
    release();
    backend.hold = null;
    expect(await both).toEqual([{ kind: 'md5', hash: MD5 }, { kind: 'md5', hash: MD5 }]);
    expect(backend.users.length).toBe(asked + 1);
  });
});
