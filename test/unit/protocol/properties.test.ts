import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MessageFramer,
  ProxyError,
  encodeCancelRequest,
  encodeStartupMessage,
  parseBackendMessage,
  parseErrorFields,
  parsePasswordMessage,
  parseSaslInitialResponse,
  parseStartupPacket,
} from '../../../src/protocol/index.js';

const bytes = (maxLength = 300): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** Runs fn and fails the property on any exception other than a ProxyError. */
function onlyProxyErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
  }
}

/** Byte strings built from the pieces parsers look for, so they get past the first checks more often. */
const structured = fc
  .array(
    fc.oneof(
      bytes(12),
      fc.constantFrom(Buffer.from([0]), Buffer.from('user\0'), Buffer.from('_pq_.x\0'), Buffer.from('SCRAM-SHA-256\0')),
      fc.integer({ min: -2, max: 300 }).map((n) => {
        const b = Buffer.alloc(4);
        b.writeInt32BE(n, 0);
        return b;
      }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => Buffer.concat(parts));

const cstringText = fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !s.includes('\0'));

describe('codec properties', () => {
  it('parseStartupPacket never throws: any bytes give one of the four statuses', () => {
    fc.assert(
      fc.property(fc.oneof(bytes(), structured), fc.nat(8), (buf, offset) => {
        const result = parseStartupPacket(buf, offset);
        switch (result.status) {
          case 'incomplete':
          case 'directTls':
            return true;
          case 'packet':
            return result.length >= 8 && result.length <= buf.length - offset;
          case 'invalid':
            return result.error instanceof ProxyError;
          default:
            return false;
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('parseStartupPacket never throws on a valid length word followed by arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 400 }), bytes(400), (length, rest) => {
        const buf = Buffer.concat([Buffer.alloc(4), rest]);
        buf.writeInt32BE(length, 0);
        parseStartupPacket(buf);
      }),
      { numRuns: 1000 },
    );
  });

  it('StartupMessage parameters round-trip for any text without NULs', () => {
    const params = fc.dictionary(cstringText.filter((s) => s !== '' && !s.startsWith('_pq_.')), cstringText, { maxKeys: 6 });
    fc.assert(
      fc.property(params, cstringText.filter((s) => s !== ''), fc.integer({ min: 0, max: 0xffff }), (p, user, minor) => {
        const parameters = { ...p, user };
        const bytes = encodeStartupMessage(parameters, minor);
        const result = parseStartupPacket(bytes);
        expect(result).toEqual({
          status: 'packet',
          packet: { kind: 'startup', majorVersion: 3, minorVersion: minor, parameters, protocolOptions: [] },
          length: bytes.length,
        });
      }),
    );
  });

  it('CancelRequest round-trips for any process id and key of 4..256 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.uint8Array({ minLength: 4, maxLength: 256 }), (pid, key) => {
        const result = parseStartupPacket(encodeCancelRequest(pid, Buffer.from(key)));
        expect(result).toMatchObject({ status: 'packet', packet: { kind: 'cancelRequest', processId: pid, secretKey: Buffer.from(key) } });
      }),
    );
  });

  it('backend and frontend parsers throw nothing but ProxyError on any body', () => {
    const types = fc.constantFrom(0x52, 0x53, 0x4b, 0x5a, 0x45, 0x4e, 0x76, 0x43, 0x00, 0xff);
    const authBodies = fc
      .tuple(fc.constantFrom(0, 3, 5, 7, 10, 11, 12, -1), fc.oneof(bytes(40), structured))
      .map(([code, rest]) => {
        const b = Buffer.alloc(4);
        b.writeInt32BE(code, 0);
        return Buffer.concat([b, rest]);
      });
    fc.assert(
      fc.property(types, fc.oneof(bytes(), structured, authBodies), (type, body) => {
        onlyProxyErrors(() => parseBackendMessage(type, body));
        onlyProxyErrors(() => parseErrorFields(body));
        onlyProxyErrors(() => parsePasswordMessage(body));
        onlyProxyErrors(() => parseSaslInitialResponse(body));
      }),
      { numRuns: 1500 },
    );
  });

  it('MessageFramer throws nothing but ProxyError on any byte stream', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(bytes(40), structured), { maxLength: 10 }), (chunks) => {
        const framer = new MessageFramer({ maxMessageLength: 200 });
        onlyProxyErrors(() => {
          for (const chunk of chunks) {
            framer.push(chunk);
            while (framer.next() !== null);
          }
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('MessageFramer returns the same messages however the stream is chunked', () => {
    const message = fc.tuple(fc.integer({ min: 0, max: 255 }), bytes(600)).map(([type, body]) => {
      const m = Buffer.alloc(5 + body.length);
      m[0] = type;
      m.writeInt32BE(4 + body.length, 1);
      body.copy(m, 5);
      return m;
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }), (messages, sizes) => {
        const stream = Buffer.concat(messages);
        const framer = new MessageFramer();
        const got: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const size = sizes[i % sizes.length];
          framer.push(Buffer.from(stream.subarray(pos, pos + size)));
          pos += size;
          for (let m = framer.next(); m !== null; m = framer.next()) {
            const copy = Buffer.alloc(5 + m.body.length);
            copy[0] = m.type;
            copy.writeInt32BE(4 + m.body.length, 1);
            m.body.copy(copy, 5);
            got.push(copy);
          }
        }
        expect(got).toEqual(messages);
        expect(framer.buffered).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
