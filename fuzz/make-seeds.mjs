/**
 * Writes the seed corpus, fuzz/corpus/<target>/, from the project's own encoders (run after
 * `npm run build`; the files are committed, so this only needs running when a seed changes):
 * real startup packets, login and reply streams as PostgreSQL sends them, a client's simple,
 * extended and COPY traffic, whole SCRAM exchanges and the configuration files of the repo.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveScramSecret, ScramClientSession, ScramServerSession } from '../dist/src/auth/index.js';
import * as pg from '../dist/src/protocol/index.js';
import { joinParts } from './lib/input.mjs';
import { CLIENT_NONCE } from './targets/scram-client.mjs';
import { SECRET, SERVER_NONCE } from './targets/scram-server.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const corpus = join(root, 'fuzz', 'corpus');

function message(type, body) {
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}
const cstrings = (...values) => Buffer.concat(values.map((v) => Buffer.from(`${v}\0`, 'utf8')));
const int16 = (n) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

/** A whole SCRAM exchange between the project's two sides, with the targets' fixed nonces. */
function exchange(secret, password) {
  const client = new ScramClientSession(password, { nonce: CLIENT_NONCE, maxIterations: 1_000_000 });
  const server = new ScramServerSession('alice', secret, { nonce: SERVER_NONCE });
  const clientFirst = client.clientFirst();
  const serverFirst = server.handleClientFirst('SCRAM-SHA-256', clientFirst);
  const clientFinal = client.handleServerFirst(serverFirst);
  const serverFinal = server.handleClientFinal(clientFinal);
  client.verifyServerFinal(serverFinal);
  return { clientFirst, serverFirst, clientFinal, serverFinal };
}

const real = exchange(SECRET, 'pencil');
const quick = exchange(deriveScramSecret('pencil', { salt: Buffer.from('QSXCR+Q6sek8bf92', 'base64'), iterations: 16 }), 'pencil');

const login = [
  pg.authenticationSASL(['SCRAM-SHA-256']),
  pg.authenticationSASLContinue(real.serverFirst),
  pg.authenticationSASLFinal(real.serverFinal),
  pg.authenticationOk(),
  pg.parameterStatus('server_version', '18.0'),
  pg.parameterStatus('client_encoding', 'UTF8'),
  pg.parameterStatus('DateStyle', 'ISO, MDY'),
  pg.backendKeyData(4242, Buffer.from('0123456789abcdef0123456789abcdef')),
  pg.readyForQuery('I'),
];
const replies = [
  message('1', Buffer.alloc(0)), // ParseComplete
  message('2', Buffer.alloc(0)), // BindComplete
  message('T', Buffer.concat([int16(1), cstrings('?column?'), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)])),
  message('D', Buffer.concat([int16(1), int32(1), Buffer.from('1')])),
  message('C', cstrings('SELECT 1')),
  pg.encodeErrorResponse({ severity: 'ERROR', sqlstate: '42P01', message: 'relation "nope" does not exist' }),
  pg.encodeErrorResponse({ severity: 'NOTICE', sqlstate: '00000', message: 'table "t" does not exist, skipping' }, 'N'),
  message('A', Buffer.concat([int32(4242), cstrings('jobs', 'payload')])), // NotificationResponse
  pg.readyForQuery('T'),
];
const client = [
  pg.query('SELECT 1'),
  pg.extendedQuery('SELECT $1::int', ['7']),
  pg.query('COPY t FROM STDIN'),
  message('d', Buffer.from('1\tone\n2\ttwo\n')),
  message('d', Buffer.alloc(300, 0x41)),
  message('c', Buffer.alloc(0)), // CopyDone
  message('P', Buffer.concat([cstrings('s1', 'SELECT now()'), int16(0)])),
  message('S', Buffer.alloc(0)),
  pg.terminate(),
];

/** Stream seeds: [uint16 chunking seed][options: bound, repeat] stream (see fuzz/lib/stream-input.mjs). */
function streamSeeds(stream) {
  const prefix = (seed, selector) => Buffer.concat([int16(seed), Buffer.from([selector])]);
  return { whole: Buffer.concat([prefix(0, 0), stream]), chunked: Buffer.concat([prefix(0x1d2f, 0), stream]),
    repeated: Buffer.concat([prefix(0x5a11, 0x80), stream]),
    'small-bound': Buffer.concat([prefix(0x0203, 4), stream]) };
}

const seeds = {
  'startup-packet': {
    'startup-3.0': pg.encodeStartupMessage({ user: 'alice', database: 'app', application_name: 'psql', client_encoding: 'UTF8' }),
    'startup-3.2-options': pg.encodeStartupMessage({ user: 'alice', database: 'app', _pq_: '', '_pq_.test_protocol_negotiation': '' }, 2),
    'ssl-request': pg.encodeSslRequest(),
    'gssenc-request': pg.encodeGssEncRequest(),
    'cancel-request': pg.encodeCancelRequest(4242, Buffer.from([1, 2, 3, 4])),
    'cancel-request-3.2': pg.encodeCancelRequest(4242, Buffer.alloc(32, 7)),
    'direct-tls': Buffer.from('160301020001', 'hex'),
  },
  framer: streamSeeds(Buffer.concat(login)),
  'client-framer': streamSeeds(Buffer.concat(client)),
  'message-scanner': streamSeeds(Buffer.concat([...login, ...replies])),
  'reply-scanner': streamSeeds(Buffer.concat(replies)),
  'backend-message': Object.fromEntries([...login, ...replies.slice(5, 7)].map((m, i) =>
    [`${i}-${String.fromCharCode(m[0])}`, Buffer.concat([m.subarray(0, 1), m.subarray(5)])])),
  'scram-server': {
    exchange: joinParts([Buffer.from('SCRAM-SHA-256'), real.clientFirst, real.clientFinal]),
    'client-supports-binding': joinParts([Buffer.from('SCRAM-SHA-256'), Buffer.from(`y,,n=,r=${CLIENT_NONCE}`), real.clientFinal]),
    'channel-binding': joinParts([Buffer.from('SCRAM-SHA-256-PLUS'), Buffer.from(`p=tls-server-end-point,,n=,r=${CLIENT_NONCE}`), real.clientFinal]),
  },
  'scram-client': {
    'passthrough-exchange': Buffer.concat([Buffer.from([1]), joinParts([real.serverFirst, real.serverFinal])]),
    'password-exchange': Buffer.concat([Buffer.from([0]), joinParts([quick.serverFirst, quick.serverFinal])]),
    'server-error': Buffer.concat([Buffer.from([0]), joinParts([quick.serverFirst, Buffer.from('e=invalid-proof')])]),
  },
  config: {
    'pgdoorman-minimal': readFileSync(join(root, 'test/fixtures/pgdoorman/minimal.yaml')),
    ...Object.fromEntries(['README.md', 'docs/authentication.md', 'docs/tls.md'].flatMap((file) =>
      [...readFileSync(join(root, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) =>
        [`${file.replace(/\W+/g, '-')}-${i}`, Buffer.from(m[1])]))),
  },
};

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(corpus, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  console.log(`${target}: ${Object.keys(files).length} seeds`);
}
