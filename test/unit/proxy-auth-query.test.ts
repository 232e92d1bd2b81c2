// AuthQuery against a scripted backend: how the result is read (column passwd, else password, else the only one;
// no row or NULL is unknown; several rows is an error), the cache TTLs, min_interval, and lookups shared while in
// flight, and the optional startup_parameters column. The backend answers the extended-protocol statement the way PostgreSQL does.
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
const found = (hash: string, startupParameters: Record<string, string> = {}) => ({ stored: { kind: 'md5', hash }, startupParameters });

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

async function authQuery(config: Partial<AuthQueryConfig> = {}, logger = pino({ level: 'silent' })): Promise<AuthQuery> {
  const full: AuthQueryConfig = {
    query: 'SELECT passwd FROM users WHERE name = $1',
    user: 'exec',
    password: '',
    database: 'app',
    workers: 1,
    server_user: null,
    server_password: null,
    pool_size: 4,
    min_pool_size: 0,
    cache_ttl: 10_000,
    cache_failure_ttl: 1_000,
    min_interval: 500,
    ...config,
  };
  return new AuthQuery({ pool: 'app', config: full, executors: await executors(), queryTimeoutMs: 2000, logger, now: () => clock });
}

describe('AuthQuery', () => {
  test('passes the user as $1 and reads the passwd column, else password, else the only column', async () => {
    const aq = await authQuery();
    backend.answer = () => ({ columns: ['usename', 'passwd'], rows: [['alice', MD5]] });
    expect(await aq.lookup('alice')).toEqual(found(MD5));
    expect(backend.users.at(-1)).toBe('alice');
    backend.answer = () => ({ columns: ['name', 'password'], rows: [['bob', MD5]] });
    expect(await aq.lookup('bob')).toEqual(found(MD5));
    backend.answer = () => ({ columns: ['secret'], rows: [[MD5]] });
    expect(await aq.lookup("o'brien; DROP TABLE users")).toEqual(found(MD5));
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
    expect(await both).toEqual([found(MD5), found(MD5)]);
    expect(backend.users.length).toBe(asked + 1);
  });

  describe('the startup_parameters column', () => {
    /** A logger whose warnings the test reads. */
    const capture = () => {
      const lines: Array<Record<string, unknown>> = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
      return { logger, warnings: () => lines.map((l) => `${String(l.parameter ?? '')}: ${String(l.msg)}`) };
    };
    const answerWith = (parameters: string | null) => {
      backend.answer = () => ({ columns: ['usename', 'passwd', 'startup_parameters'], rows: [['u', MD5, parameters]] });
    };

    test('a JSON object of strings (from text, json or jsonb) gives the user\'s startup parameters; NULL or \'\' gives none', async () => {
      const aq = await authQuery();
      answerWith('{"statement_timeout": "5s", "search_path": "app, public", "work_mem": "8MB"}');
      expect(await aq.lookup('p1')).toEqual(found(MD5, { statement_timeout: '5s', search_path: 'app, public', work_mem: '8MB' }));
      for (const [i, empty] of [null, ''].entries()) {
        answerWith(empty);
        expect(await aq.lookup(`p-empty${i}`)).toEqual(found(MD5));
      }
    });

    test('what cannot be sent is dropped with a warning and the user is still found: not JSON, not an object, too long', async () => {
      const { logger, warnings } = capture();
      const aq = await authQuery({}, logger);
      const cases = ['{"work_mem": ', '["work_mem", "8MB"]', '"8MB"', JSON.stringify({ application_name: 'x'.repeat(9500) })];
      for (const [i, text] of cases.entries()) {
        answerWith(text);
        expect(await aq.lookup(`bad${i}`)).toEqual(found(MD5));
      }
      expect(warnings()).toEqual([
        ': auth_query startup_parameters ignored: the value is not JSON',
        ': auth_query startup_parameters ignored: the value is not a JSON object',
        ': auth_query startup_parameters ignored: the value is not a JSON object',
        ': auth_query startup_parameters ignored: the value is longer than 9488 bytes',
      ]);
    });

    test('an entry that is not a string, reserved, not a setting name or holding a NUL is dropped alone', async () => {
      const { logger, warnings } = capture();
      const aq = await authQuery({}, logger);
      answerWith(JSON.stringify({ work_mem: '8MB', lock_timeout: 5, user: 'postgres', Role: 'admin', _pq_x: 'kept', '_pq_.proto': '1', 'bad-name': 'x', search_path: 'a\u0000b' }));
      expect(await aq.lookup('mixed')).toEqual(found(MD5, { work_mem: '8MB', _pq_x: 'kept' }));
      expect(warnings()).toEqual([
        'lock_timeout: auth_query startup parameter ignored: its value is number, not a string',
        'user: auth_query startup parameter ignored: it is reserved',
        'Role: auth_query startup parameter ignored: it is reserved',
        '_pq_.proto: auth_query startup parameter ignored: it is reserved',
        'bad-name: auth_query startup parameter ignored: it is not a setting name',
        'search_path: auth_query startup parameter ignored: its value holds a NUL byte',
      ]);
    });

    test('dedicated mode ignores the column (every looked-up user shares server_user\'s connections), warning once', async () => {
      const { logger, warnings } = capture();
      const aq = await authQuery({ server_user: 'owner', server_password: 'pw' }, logger);
      answerWith('{"work_mem": "8MB"}');
      expect(await aq.lookup('d1')).toEqual(found(MD5));
      expect(await aq.lookup('d2')).toEqual(found(MD5));
      expect(warnings()).toEqual([": auth_query startup_parameters are ignored in dedicated mode: every looked-up user shares server_user's connections"]);
    });
  });
});
