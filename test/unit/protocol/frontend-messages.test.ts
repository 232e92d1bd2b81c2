import { describe, expect, it } from 'vitest';
import {
  FrontendType,
  ProxyError,
  parsePasswordMessage,
  parseSaslInitialResponse,
  passwordMessage,
  query,
  saslInitialResponse,
  saslResponse,
  sync,
  terminate,
} from '../../../src/protocol/index.js';
import { expectProtocolViolation, frame } from './assertions.js';

function saslBody(mechanism: string, length: number, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(length, 0);
  return Buffer.concat([Buffer.from(`${mechanism}\0`), len, data]);
}

describe('frontend message encoders', () => {
  it('encodes Terminate and Sync as 5-byte messages', () => {
    expect(terminate().toString('hex')).toBe('5800000004');
    expect(sync().toString('hex')).toBe('5300000004');
  });

  it('encodes a simple Query with its NUL-terminated text', () => {
    const m = frame(query('select 1'));
    expect(m.type).toBe(FrontendType.Query);
    expect(m.body.toString()).toBe('select 1\0');
  });

  it('refuses a query containing a NUL', () => {
    expect(() => query('select 1\0; drop table t')).toThrow(ProxyError);
  });

  it('round-trips a PasswordMessage, including non-ASCII passwords', () => {
    const m = frame(passwordMessage('pässwörd'));
    expect(m.type).toBe(FrontendType.Password);
    expect(parsePasswordMessage(m.body)).toBe('pässwörd');
  });

  it('round-trips a SASLInitialResponse', () => {
    const data = Buffer.from('n,,n=,r=rOprNGfwEbeRWgbNEkqO');
    const m = frame(saslInitialResponse('SCRAM-SHA-256', data));
    expect(m.type).toBe(FrontendType.Password);
    expect(parseSaslInitialResponse(m.body)).toEqual({ mechanism: 'SCRAM-SHA-256', data });
  });

  it('round-trips an empty SASLInitialResponse as length 0', () => {
    const m = frame(saslInitialResponse('SCRAM-SHA-256', Buffer.alloc(0)));
    expect(m.body.readInt32BE(14)).toBe(0);
    expect(parseSaslInitialResponse(m.body)).toEqual({ mechanism: 'SCRAM-SHA-256', data: Buffer.alloc(0) });
  });

  it('encodes a SASLResponse as the bare data', () => {
    const data = Buffer.from('c=biws,r=abc,p=proof');
    const m = frame(saslResponse(data));
    expect(m.type).toBe(FrontendType.Password);
    expect(m.body).toEqual(data);
  });
});

describe('parsing client password messages', () => {
  it('reads a SASLInitialResponse with length -1 as an empty response', () => {
    expect(parseSaslInitialResponse(saslBody('SCRAM-SHA-256', -1, Buffer.alloc(0)))).toEqual({
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.alloc(0),
    });
  });

  it('returns SASL data that outlives the framer view', () => {
    const body = saslBody('SCRAM-SHA-256', 3, Buffer.from('abc'));
    const parsed = parseSaslInitialResponse(body);
    body.fill(0);
    expect(parsed.data.toString()).toBe('abc');
  });

  it.each<[string, Buffer]>([
    ['no NUL after the mechanism', Buffer.from('SCRAM-SHA-256')],
    ['no length', Buffer.from('SCRAM-SHA-256\0\0\0')],
    ['a length longer than the data', saslBody('SCRAM-SHA-256', 10, Buffer.from('abc'))],
    ['a length shorter than the data', saslBody('SCRAM-SHA-256', 2, Buffer.from('abc'))],
    ['length -1 followed by data', saslBody('SCRAM-SHA-256', -1, Buffer.from('abc'))],
    ['length -2', saslBody('SCRAM-SHA-256', -2, Buffer.alloc(0))],
    ['length 2^31 - 1', saslBody('SCRAM-SHA-256', 0x7fffffff, Buffer.from('abc'))],
  ])('rejects a SASLInitialResponse with %s (08P01)', (_name, body) => {
    expectProtocolViolation(() => parseSaslInitialResponse(body));
  });

  it.each<[string, Buffer]>([
    ['no NUL', Buffer.from('secret')],
    ['bytes after the NUL', Buffer.from('secret\0more')],
    ['an empty body', Buffer.alloc(0)],
  ])('rejects a PasswordMessage with %s (08P01)', (_name, body) => {
    expectProtocolViolation(() => parsePasswordMessage(body));
  });
});
