/**
 * Transaction pooling reads whole client messages and rewrites server replies in place; wherever the
 * network cuts the bytes, a client must see exactly the replies PostgreSQL sent (minus what gatehouse
 * asked for itself, plus its own answers at the right place), and the server exactly the client's messages.
 */
import { describe, expect, it } from 'vitest';
import { ClientFramer } from '../../../src/proxy/client-framer.js';
import { ReplyQueue, Reply, type Pending } from '../../../src/proxy/reply-queue.js';
import { ReplyScanner } from '../../../src/proxy/reply-scanner.js';
import { be, fe } from './support/pg-messages.js';

/** Every way to cut `bytes` in two, plus one byte at a time. */
function cuts(bytes: Buffer): Buffer[][] {
  const all: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) all.push([bytes.subarray(0, i), bytes.subarray(i)]);
  all.push([...bytes].map((b) => Buffer.from([b])));
  return all;
}

const sent = (kind: Pending['kind'], extra: Partial<Pending> = {}): Pending => ({ kind, forward: true, local: null, undo: null, refused: null, ...extra });

describe('client messages, wherever the chunks are cut', () => {
  const stream = Buffer.concat([fe.parse('select $1::int', 'stmt'), fe.bind('', 'stmt'), fe.execute(), fe.sync(), fe.copyData('x'.repeat(40)), fe.query('select 1')]);

  it('each message arrives whole and once, in order; COPY data is streamed in its pieces', () => {
    for (const chunks of cuts(stream)) {
      const got: Array<{ type: string; bytes: Buffer; piece: boolean }> = [];
      const framer = new ClientFramer((type, bytes, piece) => got.push({ type: String.fromCharCode(type), bytes: Buffer.from(bytes), piece }));
      for (const c of chunks) framer.push(c);
      expect(framer.atBoundary).toBe(true);
      expect(Buffer.concat(got.map((g) => g.bytes)).equals(stream)).toBe(true);
      expect(got.filter((g) => !g.piece).map((g) => g.type)).toEqual(['P', 'B', 'E', 'S', ...(got.some((g) => g.type === 'd' && !g.piece) ? ['d'] : []), 'Q']);
      for (const g of got.filter((x) => !x.piece)) expect(g.bytes.readInt32BE(1) + 1, `${g.type} whole`).toBe(g.bytes.length);
    }
  });

  it('a length below 4 is refused before anything after it is read (08P01)', () => {
    const framer = new ClientFramer(() => {});
    expect(() => framer.push(Buffer.from([0x51, 0, 0, 0, 3]))).toThrow(/invalid message length 3/);
  });
});

describe('server replies, wherever the chunks are cut', () => {
  // The client's Bind/Execute/Sync, behind a re-Parse gatehouse sent itself and a ParseComplete it answers locally.
  const replies = Buffer.concat([be.parseComplete(), be.bindComplete(), be.dataRow('1'), be.commandComplete('SELECT 1'), be.readyForQuery('I')]);
  const expected = Buffer.concat([be.parseComplete(), be.bindComplete(), be.dataRow('1'), be.commandComplete('SELECT 1'), be.readyForQuery('I')]);

  it('the reply to what gatehouse sent is dropped, its own answer goes where PostgreSQL would have put it', () => {
    for (const chunks of cuts(replies)) {
      const queue = new ReplyQueue();
      const out: Buffer[] = [];
      // Order sent: injected Parse (dropped reply), the client's Parse answered locally, Bind, Execute, Sync.
      queue.push(sent(Reply.Parse, { forward: false }), out, 0x49);
      queue.push(sent(Reply.Parse, { local: () => be.parseComplete() }), out, 0x49);
      queue.push(sent(Reply.Bind), out, 0x49);
      queue.push(sent(Reply.Execute), out, 0x49);
      queue.push(sent(Reply.Sync), out, 0x49);
      expect(out).toEqual([]);
      const tags: string[] = [];
      const scanner: ReplyScanner = new ReplyScanner({
        starts: (type) => queue.forwards(type),
        ended: (type, head) => {
          if (type === 0x43) tags.push(head.toString('latin1'));
          const due: Buffer[] = [];
          queue.answered(type, null, due, 0x49, () => Buffer.alloc(0));
          for (const m of due) scanner.insert(m);
        },
      });
      const client = Buffer.concat(chunks.flatMap((c) => scanner.scan(c)));
      expect(client.equals(expected), `cut ${chunks.map((c) => c.length).join('+')}`).toBe(true);
      expect(tags).toEqual(['SELECT 1\0']);
      expect(queue.empty).toBe(true);
    }
  });

  it('what the relay reads of each reply (tags, errors whole) is right whatever the sizes before it, and the bytes pass unchanged', () => {
    const longError = be.errorResponse('42P01', `relation "${'t'.repeat(600)}" does not exist`);
    const stream = Buffer.concat([
      be.commandComplete('SELECT 1'),
      be.errorResponse('22012', 'division by zero'),
      longError,
      be.errorResponse('42601', 'syntax error'),
      be.commandComplete('INSERT 0 1'),
      be.readyForQuery('E'),
    ]);
    for (const chunks of cuts(stream)) {
      const heads: string[] = [];
      const scanner = new ReplyScanner({ starts: () => true, ended: (type, head) => heads.push(`${String.fromCharCode(type)}:${head.toString('latin1')}`) });
      const client = Buffer.concat(chunks.flatMap((c) => scanner.scan(c)));
      expect(client.equals(stream)).toBe(true);
      expect(heads).toEqual([
        'C:SELECT 1\0',
        `E:${be.errorResponse('22012', 'division by zero').subarray(5).toString('latin1')}`,
        `E:${longError.subarray(5).toString('latin1')}`,
        `E:${be.errorResponse('42601', 'syntax error').subarray(5).toString('latin1')}`,
        'C:INSERT 0 1\0',
        'Z:E',
      ]);
    }
  });

  it('an error skips everything up to the Sync, undoing what each skipped message recorded, newest first', () => {
    const queue = new ReplyQueue();
    const undone: string[] = [];
    const out: Buffer[] = [];
    queue.push(sent(Reply.Bind, { refused: (code) => undone.push(`refused ${code}`), undo: () => undone.push('bind') }), out, 0x49);
    queue.push(sent(Reply.Parse, { undo: () => undone.push('parse') }), out, 0x49);
    queue.push(sent(Reply.Close, { local: () => be.closeComplete(), undo: () => undone.push('close') }), out, 0x49);
    queue.push(sent(Reply.Sync), out, 0x49);
    queue.answered(0x45, '22012', out, 0x49, () => Buffer.alloc(0));
    expect(undone).toEqual(['refused 22012', 'close', 'parse', 'bind']);
    expect(out).toEqual([]); // the local CloseComplete is skipped too, as PostgreSQL would skip the Close
    expect(queue.empty).toBe(false);
    queue.answered(0x5a, null, out, 0x49, () => Buffer.alloc(0));
    expect(queue.empty).toBe(true);
  });

  it('while the server skips to a Sync not yet sent, later messages get no reply and are undone at once', () => {
    const queue = new ReplyQueue();
    const undone: string[] = [];
    const out: Buffer[] = [];
    queue.push(sent(Reply.Bind), out, 0x49);
    queue.answered(0x45, '26000', out, 0x49, () => Buffer.alloc(0));
    queue.push(sent(Reply.Parse, { local: () => be.parseComplete(), undo: () => undone.push('parse') }), out, 0x49);
    expect(undone).toEqual(['parse']);
    expect(out).toEqual([]);
    expect(queue.empty).toBe(false);
    queue.push(sent(Reply.Sync), out, 0x49);
    queue.answered(0x5a, null, out, 0x49, () => Buffer.alloc(0));
    expect(queue.empty).toBe(true);
  });

  it('an error gatehouse provoked on the server reads as the client’s own, and any other error passes as it came', () => {
    const ours = Buffer.from('ours');
    for (const [code, expected] of [['42P05', ours], ['42601', Buffer.from('original')]] as const) {
      const queue = new ReplyQueue();
      const out: Buffer[] = [];
      queue.push(sent(Reply.Parse, { error: { sqlstate: '42P05', bytes: ours } }), out, 0x49);
      expect(queue.forwards(0x45)).toBe(false);
      queue.answered(0x45, code, out, 0x49, () => Buffer.from('original'));
      expect(out).toEqual([expected]);
    }
  });
});
