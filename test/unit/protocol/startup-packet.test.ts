import { describe, expect, it } from 'vitest';
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  MAX_STARTUP_PACKET_LENGTH,
  ProxyError,
  SSL_REQUEST_CODE,
  SqlState,
  encodeCancelRequest,
  encodeGssEncRequest,
  encodeSslRequest,
  encodeStartupMessage,
  parseStartupPacket,
  type StartupParse,
} from '../../../src/protocol/index.js';
import { deliveries } from './split.js';

function header(length: number, code: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(length, 0);
  b.writeUInt32BE(code, 4);
  return b;
}

/** A startup packet built by hand from raw body bytes (after the version word). */
function rawStartup(body: Buffer, version = 3 << 16): Buffer {
  return Buffer.concat([header(8 + body.length, version), body]);
}

function expectInvalid(result: StartupParse, sqlstate: string, message: string | RegExp): void {
  expect(result.status).toBe('invalid');
  if (result.status !== 'invalid') return;
  expect(result.error).toBeInstanceOf(ProxyError);
  expect(result.error.sqlstate).toBe(sqlstate);
  expect(result.error.severity).toBe('FATAL');
  if (typeof message === 'string') expect(result.error.message).toBe(message);
  else expect(result.error.message).toMatch(message);
}

/** Feeds chunks the way a driver does: accumulate, parse after each chunk, stop at the first answer. */
function parseDelivered(chunks: Buffer[]): { result: StartupParse; chunksUsed: number } {
  let acc = Buffer.alloc(0);
  for (let i = 0; i < chunks.length; i++) {
    acc = Buffer.concat([acc, chunks[i]]);
    const result = parseStartupPacket(acc);
    if (result.status !== 'incomplete') return { result, chunksUsed: i + 1 };
  }
  return { result: parseStartupPacket(acc), chunksUsed: chunks.length };
}

/** A comparable view of a result (ProxyError instances differ by stack). */
function summary(result: StartupParse): unknown {
  if (result.status === 'invalid') {
    const { code, sqlstate, message, severity } = result.error;
    return { status: 'invalid', code, sqlstate, message, severity };
  }
  return result;
}

describe('parseStartupPacket: the packets a client may open with', () => {
  it('encodes SSLRequest as the 8 bytes PostgreSQL expects and reads it back', () => {
    const bytes = encodeSslRequest();
    expect(bytes.toString('hex')).toBe('0000000804d2162f');
    expect(parseStartupPacket(bytes)).toEqual({ status: 'packet', packet: { kind: 'sslRequest' }, length: 8 });
  });

  it('encodes GSSENCRequest and reads it back', () => {
    const bytes = encodeGssEncRequest();
    expect(bytes.readUInt32BE(4)).toBe(GSSENC_REQUEST_CODE);
    expect(parseStartupPacket(bytes)).toEqual({ status: 'packet', packet: { kind: 'gssEncRequest' }, length: 8 });
  });

  it.each([4, 32, 256])('round-trips a CancelRequest with a %i-byte key (protocol 3.2 long keys)', (keyLength) => {
    const key = Buffer.alloc(keyLength, 0xab);
    const bytes = encodeCancelRequest(4242, key);
    expect(bytes.length).toBe(12 + keyLength);
    expect(bytes.readUInt32BE(4)).toBe(CANCEL_REQUEST_CODE);
    expect(parseStartupPacket(bytes)).toEqual({
      status: 'packet',
      packet: { kind: 'cancelRequest', processId: 4242, secretKey: key },
      length: 12 + keyLength,
    });
  });

  it('returns a cancel key that does not alias the input buffer', () => {
    const bytes = encodeCancelRequest(1, Buffer.from([1, 2, 3, 4]));
    const result = parseStartupPacket(bytes);
    bytes.fill(0);
    expect(result.status === 'packet' && result.packet.kind === 'cancelRequest' && [...result.packet.secretKey]).toEqual([1, 2, 3, 4]);
  });

  it('round-trips a protocol 3.0 StartupMessage with its parameters', () => {
    const params = { user: 'alice', database: 'shop', application_name: 'psql', options: '-c search_path=ünïcode' };
    const bytes = encodeStartupMessage(params);
    expect(bytes.readUInt32BE(4)).toBe(196608);
    const result = parseStartupPacket(bytes);
    expect(result).toEqual({
      status: 'packet',
      packet: { kind: 'startup', majorVersion: 3, minorVersion: 0, parameters: params, protocolOptions: [] },
      length: bytes.length,
    });
  });

  it('keeps _pq_. protocol options out of the parameters and reports a newer minor version as sent', () => {
    const bytes = encodeStartupMessage({ user: 'bob', '_pq_.compression': 'on', '_pq_.other': 'x' }, 9);
    const result = parseStartupPacket(bytes);
    expect(result.status === 'packet' && result.packet).toEqual({
      kind: 'startup',
      majorVersion: 3,
      minorVersion: 9,
      parameters: { user: 'bob' },
      protocolOptions: ['_pq_.compression', '_pq_.other'],
    });
  });

  it('lets the last of two same-named parameters win, as PostgreSQL does', () => {
    const bytes = rawStartup(Buffer.from('user\0a\0user\0b\0\0'));
    const result = parseStartupPacket(bytes);
    expect(result.status === 'packet' && result.packet.kind === 'startup' && result.packet.parameters).toEqual({ user: 'b' });
  });

  it('does not let a parameter named __proto__ reach Object.prototype', () => {
    const bytes = rawStartup(Buffer.from('user\0u\0__proto__\0polluted\0\0'));
    const result = parseStartupPacket(bytes);
    expect(result.status).toBe('packet');
    if (result.status !== 'packet' || result.packet.kind !== 'startup') return;
    expect(result.packet.parameters['__proto__']).toBe('polluted');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('parses from an offset and reports only the bytes it consumed', () => {
    const packet = encodeStartupMessage({ user: 'carol' });
    const buf = Buffer.concat([Buffer.from([9, 9, 9]), packet, Buffer.from('trailing')]);
    const result = parseStartupPacket(buf, 3);
    expect(result.status === 'packet' && result.length).toBe(packet.length);
  });

  it('accepts a startup packet of exactly MAX_STARTUP_PACKET_LENGTH bytes', () => {
    const fixed = encodeStartupMessage({ user: 'u', x: '' }).length;
    const bytes = encodeStartupMessage({ user: 'u', x: 'v'.repeat(MAX_STARTUP_PACKET_LENGTH - fixed) });
    expect(bytes.length).toBe(MAX_STARTUP_PACKET_LENGTH);
    expect(parseStartupPacket(bytes).status).toBe('packet');
  });
});

describe('parseStartupPacket: partial input and direct TLS', () => {
  it('answers incomplete for an empty buffer and for fewer than 4 length bytes', () => {
    expect(parseStartupPacket(Buffer.alloc(0))).toEqual({ status: 'incomplete' });
    expect(parseStartupPacket(Buffer.from([0, 0, 0]))).toEqual({ status: 'incomplete' });
  });

  it('keeps a truncated startup packet incomplete at every prefix', () => {
    const bytes = encodeStartupMessage({ user: 'dave', database: 'd' });
    for (let i = 0; i < bytes.length; i++) {
      expect(parseStartupPacket(bytes.subarray(0, i)), `prefix of ${i} bytes`).toEqual({ status: 'incomplete' });
    }
  });

  it('recognises a direct TLS ClientHello (PostgreSQL 17 sslnegotiation=direct) from its first byte', () => {
    expect(parseStartupPacket(Buffer.from([0x16]))).toEqual({ status: 'directTls' });
    expect(parseStartupPacket(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))).toEqual({ status: 'directTls' });
  });

  it('reports an SSLRequest followed by trailing bytes as an 8-byte packet, leaving the rest to the caller', () => {
    // CVE-2021-23214: bytes sent after SSLRequest, before the TLS handshake, must not be trusted.
    const buf = Buffer.concat([encodeSslRequest(), Buffer.from('Q\0\0\0\x0dselect 1\0')]);
    expect(parseStartupPacket(buf)).toEqual({ status: 'packet', packet: { kind: 'sslRequest' }, length: 8 });
  });
});

describe('parseStartupPacket: hostile lengths are refused as soon as the length word arrives', () => {
  it.each([
    ['length 3', 3],
    ['length 7', 7],
    ['a negative length', -8],
    ['length 2^31 (negative as int32)', 0x80000000 | 0],
    ['length 0xffffffff', -1],
    ['length MAX + 1', MAX_STARTUP_PACKET_LENGTH + 1],
    ['length 2^30', 2 ** 30],
  ])('rejects %s with 08P01 given only 4 bytes', (_name, length) => {
    const buf = Buffer.alloc(4);
    buf.writeInt32BE(length, 0);
    expectInvalid(parseStartupPacket(buf), SqlState.PROTOCOL_VIOLATION, 'invalid length of startup packet');
  });

  it('rejects an SSLRequest or GSSENCRequest whose length is not 8', () => {
    expectInvalid(parseStartupPacket(Buffer.concat([header(12, SSL_REQUEST_CODE), Buffer.alloc(4)])), '08P01', /SSL negotiation packet/);
    expectInvalid(parseStartupPacket(Buffer.concat([header(9, GSSENC_REQUEST_CODE), Buffer.alloc(1)])), '08P01', /GSSAPI encryption/);
  });

  it.each([
    ['a 3-byte key', 3],
    ['no key', 0],
    ['a 257-byte key', 257],
  ])('rejects a CancelRequest with %s', (_name, keyLength) => {
    const buf = Buffer.concat([header(12 + keyLength, CANCEL_REQUEST_CODE), Buffer.alloc(4 + keyLength)]);
    expectInvalid(parseStartupPacket(buf), '08P01', 'invalid length of query cancel packet');
  });

  it.each([
    [4, 0],
    [1, 0],
    [2, 0],
    [1234, 5681],
  ])('rejects protocol %i.%i with 0A000 naming the supported range', (major, minor) => {
    const bytes = rawStartup(Buffer.from('user\0u\0\0'), (major << 16) | minor);
    expectInvalid(
      parseStartupPacket(bytes),
      SqlState.FEATURE_NOT_SUPPORTED,
      `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.2`,
    );
  });
});

describe('parseStartupPacket: malformed parameter lists', () => {
  const layout = 'invalid startup packet layout: expected terminator as last byte';
  it.each([
    ['no terminator at all', 'user\0u\0'],
    ['a name without a value', 'user\0u\0database\0'],
    ['a value without its NUL', 'user\0u\0database\0d'],
    ['bytes after the terminator', 'user\0u\0\0extra'],
    ['an empty body', ''],
  ])('rejects a startup packet with %s (08P01)', (_name, body) => {
    expectInvalid(parseStartupPacket(rawStartup(Buffer.from(body))), SqlState.PROTOCOL_VIOLATION, layout);
  });

  it.each([
    ['no user parameter', 'database\0d\0\0'],
    ['an empty user name', 'user\0\0\0'],
    ['only the terminator', '\0'],
  ])('rejects a startup packet with %s (28000)', (_name, body) => {
    expectInvalid(
      parseStartupPacket(rawStartup(Buffer.from(body))),
      SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
      'no PostgreSQL user name specified in startup packet',
    );
  });
});

describe('parseStartupPacket: delivery in pieces', () => {
  const samples: Array<[string, Buffer]> = [
    ['SSLRequest', encodeSslRequest()],
    ['GSSENCRequest', encodeGssEncRequest()],
    ['CancelRequest', encodeCancelRequest(77, Buffer.alloc(32, 7))],
    ['StartupMessage', encodeStartupMessage({ user: 'erin', database: 'db', '_pq_.x': '1' }, 2)],
    ['oversize length', Buffer.from([0, 0, 0x27, 0x11, 0, 3, 0, 0])],
    ['unsupported protocol', rawStartup(Buffer.from('user\0u\0\0'), 4 << 16)],
    ['missing terminator', rawStartup(Buffer.from('user\0u\0'))],
    ['direct TLS', Buffer.from([0x16, 3, 1, 0, 5, 1, 2, 3])],
  ];

  it.each(samples)('gives the same answer for a %s split at every byte offset and byte by byte', (_name, bytes) => {
    const expected = summary(parseStartupPacket(bytes));
    expect((expected as { status: string }).status).not.toBe('incomplete');
    for (const { name, chunks } of deliveries(bytes)) {
      expect(summary(parseDelivered(chunks).result), name).toEqual(expected);
    }
  });

  it('answers an oversize length after exactly 4 bytes when fed byte by byte', () => {
    const bytes = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]);
    const { result, chunksUsed } = parseDelivered(deliveries(bytes).at(-1)!.chunks);
    expect(result.status).toBe('invalid');
    expect(chunksUsed).toBe(4);
  });
});

describe('startup encoders refuse what cannot be sent', () => {
  it('refuses cancel keys shorter than 4 or longer than 256 bytes', () => {
    expect(() => encodeCancelRequest(1, Buffer.alloc(3))).toThrow(RangeError);
    expect(() => encodeCancelRequest(1, Buffer.alloc(257))).toThrow(RangeError);
  });

  it('refuses empty parameter names, NUL bytes and out-of-range minor versions', () => {
    expect(() => encodeStartupMessage({ '': 'x' })).toThrow(RangeError);
    expect(() => encodeStartupMessage({ user: 'a\0b' })).toThrow(ProxyError);
    expect(() => encodeStartupMessage({ user: 'a' }, 70000)).toThrow(RangeError);
  });

  it('refuses a negative parse offset as a caller bug', () => {
    expect(() => parseStartupPacket(Buffer.alloc(8), -1)).toThrow(RangeError);
  });
});
