import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_MESSAGE_LENGTH,
  MessageFramer,
  query,
  readyForQuery,
  sync,
} from '../../../src/protocol/index.js';
import { expectProtocolViolation } from './assertions.js';
import { copied, deliveries } from './split.js';

function message(type: string, body: Buffer | string): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const header = Buffer.alloc(5);
  header[0] = type.charCodeAt(0);
  header.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([header, b]);
}

function rawHeader(type: number, length: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = type;
  b.writeInt32BE(length, 1);
  return b;
}

/** Pushes chunks, draining after each push; bodies are copied because views end at the next push. */
function frameAll(chunks: Buffer[], framer = new MessageFramer()): Array<{ type: string; body: string }> {
  const out: Array<{ type: string; body: string }> = [];
  for (const chunk of chunks) {
    framer.push(chunk);
    for (let m = framer.next(); m !== null; m = framer.next()) {
      out.push({ type: String.fromCharCode(m.type), body: m.body.toString('hex') });
    }
  }
  return out;
}

function expectInvalidLength(fn: () => unknown): void {
  expect(expectProtocolViolation(fn).message).toBe('invalid message length');
}

const stream = Buffer.concat([
  query('select 1'),
  sync(),
  message('d', Buffer.alloc(300, 0x5a)),
  readyForQuery('I'),
  message('p', ''),
  message('B', Buffer.from([0, 1, 2, 3, 0, 0, 0])),
]);
const expected = [
  { type: 'Q', body: Buffer.from('select 1\0').toString('hex') },
  { type: 'S', body: '' },
  { type: 'd', body: Buffer.alloc(300, 0x5a).toString('hex') },
  { type: 'Z', body: '49' },
  { type: 'p', body: '' },
  { type: 'B', body: '00010203000000' },
];

describe('MessageFramer', () => {
  it('returns null until a whole message has arrived, then its type and body', () => {
    const framer = new MessageFramer();
    expect(framer.next()).toBeNull();
    const q = query('select 42');
    framer.push(q.subarray(0, 7));
    expect(framer.next()).toBeNull();
    expect(framer.buffered).toBe(7);
    framer.push(q.subarray(7));
    const m = framer.next();
    expect(m?.type).toBe(0x51);
    expect(m?.body.toString()).toBe('select 42\0');
    expect(framer.next()).toBeNull();
    expect(framer.buffered).toBe(0);
  });

  it('returns several messages from one chunk, in order', () => {
    expect(frameAll([stream])).toEqual(expected);
  });

  it('gives the same messages when the stream is split at every byte offset and byte by byte', () => {
    for (const { name, chunks } of deliveries(stream)) {
      expect(frameAll(copied(chunks)), name).toEqual(expected);
    }
  });

  it('reads whole messages in place without copying the chunk', () => {
    const chunk = Buffer.concat([query('select 1'), sync()]);
    const framer = new MessageFramer();
    framer.push(chunk);
    const m = framer.next();
    expect(m?.body.buffer).toBe(chunk.buffer);
    expect(m?.body.byteOffset).toBe(chunk.byteOffset + 5);
  });

  it('keeps a partial tail safe when the chunk it came from is reused by the caller', () => {
    const framer = new MessageFramer();
    const q = query('select 1');
    const chunk = Buffer.from(q.subarray(0, 6));
    framer.push(chunk);
    framer.push(q.subarray(6)); // the tail now lives in the framer's own storage
    chunk.fill(0);
    expect(framer.next()?.body.toString()).toBe('select 1\0');
  });

  it('frames a 1 MiB message delivered in 1000-byte chunks', () => {
    const big = message('d', Buffer.alloc(1024 * 1024, 7));
    const chunks: Buffer[] = [];
    for (let i = 0; i < big.length; i += 1000) chunks.push(big.subarray(i, i + 1000));
    const framer = new MessageFramer();
    let got: number | undefined;
    for (const c of chunks) {
      framer.push(c);
      const m = framer.next();
      if (m) got = m.body.length;
    }
    expect(got).toBe(1024 * 1024);
    expect(framer.buffered).toBe(0);
  });

  it('keeps messages intact across many compactions of its storage', () => {
    // 7-byte chunks over 5000 small messages force the read cursor past the middle again and again.
    const messages = Array.from({ length: 5000 }, (_, i) => message('d', Buffer.from(`row ${i}`)));
    const all = Buffer.concat(messages);
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 7) chunks.push(all.subarray(i, i + 7));
    const got = frameAll(chunks);
    expect(got).toHaveLength(5000);
    expect(got[4999]).toEqual({ type: 'd', body: Buffer.from('row 4999').toString('hex') });
  });

  it('keeps messages intact when a stream that never lines up with chunk boundaries compacts its storage', () => {
    // 1005-byte messages in 999-byte chunks: a partial message is always pending, so the framer keeps
    // appending to its own storage and must move the unread tail to the front again and again.
    const messages = Array.from({ length: 200 }, (_, i) => message('d', Buffer.alloc(1000, i)));
    const all = Buffer.concat(messages);
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 999) chunks.push(Buffer.from(all.subarray(i, i + 999)));
    const got = frameAll(chunks);
    expect(got).toHaveLength(200);
    got.forEach((m, i) => expect(m.body, `message ${i}`).toBe(Buffer.alloc(1000, i).toString('hex')));
  });

  it('hands back unconsumed bytes and empties itself with takeRemaining()', () => {
    const framer = new MessageFramer();
    framer.push(Buffer.concat([sync(), query('sel')]).subarray(0, 8));
    expect(framer.next()?.type).toBe(0x53);
    const rest = framer.takeRemaining();
    expect(rest).toEqual(query('sel').subarray(0, 3));
    expect(framer.buffered).toBe(0);
    expect(framer.next()).toBeNull();
    expect(framer.takeRemaining()).toHaveLength(0);
  });

  it('returns a takeRemaining() copy that later pushes do not overwrite', () => {
    const framer = new MessageFramer();
    const q = query('select 1');
    framer.push(Buffer.from(q.subarray(0, 3)));
    framer.push(Buffer.from(q.subarray(3, 6)));
    const rest = framer.takeRemaining();
    framer.push(Buffer.from([1, 2, 3, 4]));
    framer.push(Buffer.from([5, 6, 7, 8]));
    expect(rest).toEqual(q.subarray(0, 6));
  });
});

describe('MessageFramer: hostile lengths', () => {
  it.each([
    ['3', 3],
    ['0', 0],
    ['-1', -1],
    ['2^31 (negative as int32)', 0x80000000 | 0],
  ])('throws 08P01 for length %s as soon as the 5 header bytes are present', (_name, length) => {
    const framer = new MessageFramer();
    const header = rawHeader(0x51, length);
    framer.push(header.subarray(0, 4));
    expect(framer.next()).toBeNull();
    framer.push(header.subarray(4));
    expectInvalidLength(() => framer.next());
    // The stream cannot be resynchronised: the framer keeps refusing.
    expectInvalidLength(() => framer.next());
  });

  it('throws 08P01 for a length above the configured maximum without waiting for the body', () => {
    const framer = new MessageFramer({ maxMessageLength: 1000 });
    framer.push(rawHeader(0x64, 1001));
    expectInvalidLength(() => framer.next());
  });

  it('accepts a message whose length equals the configured maximum', () => {
    const framer = new MessageFramer({ maxMessageLength: 1000 });
    framer.push(message('d', Buffer.alloc(996)));
    expect(framer.next()?.body.length).toBe(996);
  });

  it('defaults the maximum to 1 GiB - 1 like PostgreSQL', () => {
    expect(DEFAULT_MAX_MESSAGE_LENGTH).toBe(2 ** 30 - 1);
    const framer = new MessageFramer();
    framer.push(rawHeader(0x64, 2 ** 30));
    expectInvalidLength(() => framer.next());
    const ok = new MessageFramer();
    ok.push(rawHeader(0x64, 2 ** 30 - 1));
    expect(ok.next()).toBeNull();
  });

  it('refuses a maximum below 4', () => {
    expect(() => new MessageFramer({ maxMessageLength: 3 })).toThrow(RangeError);
  });
});
