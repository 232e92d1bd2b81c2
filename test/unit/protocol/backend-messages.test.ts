import { describe, expect, it } from 'vitest';
import {
  BackendType,
  MessageFramer,
  ProxyError,
  SqlState,
  authenticationCleartextPassword,
  authenticationMD5Password,
  authenticationOk,
  authenticationSASL,
  authenticationSASLContinue,
  authenticationSASLFinal,
  backendKeyData,
  negotiateProtocolVersion,
  parameterStatus,
  parseBackendMessage,
  readyForQuery,
  type BackendMessage,
} from '../../../src/protocol/index.js';

/** Frames one encoded message and parses it, checking the framer sees exactly one message. */
function roundTrip(bytes: Buffer): BackendMessage {
  const framer = new MessageFramer();
  framer.push(bytes);
  const m = framer.next();
  expect(m).not.toBeNull();
  expect(framer.buffered).toBe(0);
  return parseBackendMessage(m!.type, m!.body);
}

function expectMalformed(type: number, body: Buffer | string): void {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  let caught: unknown;
  try {
    parseBackendMessage(type, b);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProxyError);
  expect((caught as ProxyError).sqlstate).toBe(SqlState.PROTOCOL_VIOLATION);
}

const auth = (code: number, extra: Buffer = Buffer.alloc(0)): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(code, 0);
  return Buffer.concat([b, extra]);
};

describe('backend message encoders round-trip through the framer and parser', () => {
  it('AuthenticationOk is the 9 bytes R 00000008 00000000', () => {
    expect(authenticationOk().toString('hex')).toBe('520000000800000000');
    expect(roundTrip(authenticationOk())).toEqual({ type: 'authenticationOk' });
  });

  it('AuthenticationCleartextPassword', () => {
    expect(roundTrip(authenticationCleartextPassword())).toEqual({ type: 'authenticationCleartextPassword' });
  });

  it('AuthenticationMD5Password carries its 4-byte salt', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    expect(roundTrip(authenticationMD5Password(salt))).toEqual({ type: 'authenticationMD5Password', salt });
  });

  it('AuthenticationSASL lists its mechanisms', () => {
    const mechanisms = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'];
    expect(roundTrip(authenticationSASL(mechanisms))).toEqual({ type: 'authenticationSASL', mechanisms });
  });

  it('AuthenticationSASLContinue and AuthenticationSASLFinal carry their data', () => {
    const data = Buffer.from('r=abc,s=c2FsdA==,i=4096');
    expect(roundTrip(authenticationSASLContinue(data))).toEqual({ type: 'authenticationSASLContinue', data });
    expect(roundTrip(authenticationSASLFinal(Buffer.from('v=xyz')))).toEqual({
      type: 'authenticationSASLFinal',
      data: Buffer.from('v=xyz'),
    });
  });

  it('ParameterStatus carries a name and a value', () => {
    expect(roundTrip(parameterStatus('server_version', '18.4'))).toEqual({
      type: 'parameterStatus',
      name: 'server_version',
      value: '18.4',
    });
  });

  it.each([4, 32, 256])('BackendKeyData carries a %i-byte cancel key', (keyLength) => {
    const secretKey = Buffer.alloc(keyLength, 0xcd);
    expect(roundTrip(backendKeyData(-5, secretKey))).toEqual({ type: 'backendKeyData', processId: -5, secretKey });
  });

  it.each(['I', 'T', 'E'] as const)('ReadyForQuery with status %s', (status) => {
    expect(roundTrip(readyForQuery(status))).toEqual({ type: 'readyForQuery', status });
  });

  it('NegotiateProtocolVersion carries the newest minor version and the unrecognized options', () => {
    const bytes = negotiateProtocolVersion(2, ['_pq_.a', '_pq_.b']);
    expect(bytes.readUInt32BE(5)).toBe((3 << 16) | 2);
    expect(roundTrip(bytes)).toEqual({
      type: 'negotiateProtocolVersion',
      newestMinorVersion: 2,
      unrecognizedOptions: ['_pq_.a', '_pq_.b'],
    });
  });
});

describe('parseBackendMessage reads what PostgreSQL sends', () => {
  it('reads NegotiateProtocolVersion exactly as PostgreSQL 18 sent it to a 3.9 client', () => {
    const body = Buffer.from('00030002000000015f70715f2e62617200', 'hex');
    expect(parseBackendMessage(0x76, body)).toEqual({
      type: 'negotiateProtocolVersion',
      newestMinorVersion: 2,
      unrecognizedOptions: ['_pq_.bar'],
    });
  });

  it('also accepts a bare minor number in NegotiateProtocolVersion', () => {
    const body = Buffer.from('0000000100000000', 'hex');
    expect(parseBackendMessage(0x76, body)).toMatchObject({ newestMinorVersion: 1, unrecognizedOptions: [] });
  });

  it('reads an ErrorResponse with every field PostgreSQL includes', () => {
    const body = Buffer.from(
      'SFATAL\0VFATAL\0C28000\0Mrole "nobody" does not exist\0Fmiscinit.c\0L804\0RInitializeSessionUserId\0\0',
    );
    expect(parseBackendMessage(BackendType.ErrorResponse, body)).toEqual({
      type: 'errorResponse',
      fields: {
        severity: 'FATAL',
        severityLocalized: 'FATAL',
        code: '28000',
        message: 'role "nobody" does not exist',
        file: 'miscinit.c',
        line: '804',
        routine: 'InitializeSessionUserId',
      },
    });
  });

  it('prefers the non-localized severity and keeps unknown field types under their letter', () => {
    const body = Buffer.from('SWARNUNG\0VWARNING\0C01000\0Mx\0Zfuture\0\0');
    const parsed = parseBackendMessage(BackendType.NoticeResponse, body);
    expect(parsed).toMatchObject({ type: 'noticeResponse', fields: { severity: 'WARNING', severityLocalized: 'WARNUNG', Z: 'future' } });
  });

  it('falls back to the S severity when a pre-9.6 server sends no V field', () => {
    const parsed = parseBackendMessage(BackendType.ErrorResponse, Buffer.from('SERROR\0C42601\0Msyntax error\0\0'));
    expect(parsed).toMatchObject({ fields: { severity: 'ERROR', code: '42601', message: 'syntax error' } });
  });

  it('reports authentication methods gatehouse does not speak by their code', () => {
    expect(parseBackendMessage(0x52, auth(7))).toEqual({ type: 'authenticationUnsupported', code: 7 });
    expect(parseBackendMessage(0x52, auth(9))).toEqual({ type: 'authenticationUnsupported', code: 9 });
  });

  it('reports other message types by their type byte', () => {
    expect(parseBackendMessage(BackendType.CommandComplete, Buffer.from('SELECT 1\0'))).toEqual({ type: 'other', code: 0x43 });
  });

  it('returns copies that outlive the framer view', () => {
    const body = auth(11, Buffer.from('server-first'));
    const parsed = parseBackendMessage(0x52, body);
    body.fill(0);
    expect(parsed).toEqual({ type: 'authenticationSASLContinue', data: Buffer.from('server-first') });
  });
});

describe('parseBackendMessage refuses malformed bodies with 08P01', () => {
  it.each<[string, number, Buffer | string]>([
    ['an Authentication body shorter than its code', 0x52, Buffer.from([0, 0])],
    ['AuthenticationOk with extra bytes', 0x52, auth(0, Buffer.from([1]))],
    ['AuthenticationCleartextPassword with extra bytes', 0x52, auth(3, Buffer.from([1]))],
    ['AuthenticationMD5Password with a 3-byte salt', 0x52, auth(5, Buffer.from([1, 2, 3]))],
    ['AuthenticationSASL without the list terminator', 0x52, auth(10, Buffer.from('SCRAM-SHA-256\0'))],
    ['AuthenticationSASL with an unterminated name', 0x52, auth(10, Buffer.from('SCRAM'))],
    ['AuthenticationSASL with bytes after the list', 0x52, auth(10, Buffer.from('SCRAM-SHA-256\0\0x'))],
    ['ParameterStatus without a value', 0x53, 'TimeZone\0'],
    ['ParameterStatus with trailing bytes', 0x53, 'a\0b\0c'],
    ['BackendKeyData with a 3-byte key', 0x4b, Buffer.alloc(7)],
    ['BackendKeyData with a 257-byte key', 0x4b, Buffer.alloc(261)],
    ['ReadyForQuery with an unknown status', 0x5a, 'X'],
    ['ReadyForQuery with two bytes', 0x5a, 'II'],
    ['ReadyForQuery with no byte', 0x5a, ''],
    ['ErrorResponse without the terminator', 0x45, 'SERROR\0C0A000\0Mx\0'],
    ['ErrorResponse with an unterminated field', 0x45, 'SERROR\0C0A'],
    ['ErrorResponse without a code', 0x45, 'SERROR\0Mx\0\0'],
    ['ErrorResponse without a message', 0x45, 'SERROR\0C0A000\0\0'],
    ['ErrorResponse without a severity', 0x45, 'C0A000\0Mx\0\0'],
    ['ErrorResponse with bytes after the terminator', 0x45, 'SERROR\0C0A000\0Mx\0\0junk'],
    ['an empty NoticeResponse', 0x4e, ''],
    ['NegotiateProtocolVersion shorter than 8 bytes', 0x76, Buffer.alloc(7)],
    ['NegotiateProtocolVersion for major version 4', 0x76, Buffer.from('0004000000000000', 'hex')],
    ['NegotiateProtocolVersion with a huge option count', 0x76, Buffer.from('000300027fffffff', 'hex')],
    ['NegotiateProtocolVersion with a negative option count', 0x76, Buffer.from('00030002ffffffff', 'hex')],
    ['NegotiateProtocolVersion with fewer options than counted', 0x76, Buffer.from('0003000200000002615f00625f00', 'hex').subarray(0, 12)],
    ['NegotiateProtocolVersion with bytes after the options', 0x76, Buffer.concat([Buffer.from('0003000200000001', 'hex'), Buffer.from('_pq_.a\0zz')])],
  ])('rejects %s', (_name, type, body) => {
    expectMalformed(type, body);
  });
});

describe('backend encoders refuse what cannot be sent', () => {
  it('refuses an MD5 salt that is not 4 bytes and cancel keys outside 4..256 bytes', () => {
    expect(() => authenticationMD5Password(Buffer.alloc(5))).toThrow(RangeError);
    expect(() => backendKeyData(1, Buffer.alloc(3))).toThrow(RangeError);
    expect(() => backendKeyData(1, Buffer.alloc(257))).toThrow(RangeError);
  });

  it('refuses a NUL inside a parameter name or value, which would let a value smuggle a second message', () => {
    expect(() => parameterStatus('application_name', 'x\0Z')).toThrow(ProxyError);
    expect(() => parameterStatus('a\0b', 'x')).toThrow(ProxyError);
  });

  it('refuses an empty SASL mechanism name, which would end the list early', () => {
    expect(() => authenticationSASL(['SCRAM-SHA-256', ''])).toThrow(RangeError);
  });

  it('refuses a minor version outside 0..65535', () => {
    expect(() => negotiateProtocolVersion(-1, [])).toThrow(RangeError);
    expect(() => negotiateProtocolVersion(1.5, [])).toThrow(RangeError);
  });
});
