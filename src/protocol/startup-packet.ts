import { ProxyError } from './proxy-error.js';
import { SqlState } from './sqlstate.js';
import { MessageWriter, cstringLength, protocolViolation } from './wire.js';

/** Largest startup packet accepted, length word included (PostgreSQL's MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_LENGTH = 10000;
export const SSL_REQUEST_CODE = 80877103; // 1234.5679
export const GSSENC_REQUEST_CODE = 80877104; // 1234.5680
export const CANCEL_REQUEST_CODE = 80877102; // 1234.5678
/** Protocol 3.2 (PostgreSQL 18) allows cancel keys of up to 256 bytes; 3.0 uses 4. */
export const MIN_CANCEL_KEY_LENGTH = 4;
export const MAX_CANCEL_KEY_LENGTH = 256;
/** Newest protocol minor version gatehouse speaks (3.2). */
export const LATEST_MINOR_VERSION = 2;
/** First byte of a TLS handshake record: a PostgreSQL 17+ client doing direct TLS (sslnegotiation=direct). */
export const TLS_HANDSHAKE_RECORD = 0x16;
/** Prefix of protocol-level options (protocol 3.2); they are not run-time parameters. */
export const PROTOCOL_OPTION_PREFIX = '_pq_.';

export type StartupPacket =
  | { kind: 'sslRequest' }
  | { kind: 'gssEncRequest' }
  | { kind: 'cancelRequest'; processId: number; secretKey: Buffer }
  | {
      kind: 'startup';
      majorVersion: 3;
      minorVersion: number;
      parameters: Record<string, string>;
      /** Names of `_pq_.` protocol options; their values are ignored, as by PostgreSQL. */
      protocolOptions: string[];
    };

export type StartupParse =
  | { status: 'incomplete' }
  | { status: 'directTls' }
  | { status: 'packet'; packet: StartupPacket; length: number }
  | { status: 'invalid'; error: ProxyError };

function invalid(code: string, message: string): StartupParse {
  return { status: 'invalid', error: protocolViolation(code, message) };
}

/**
 * Reads the first packet a client sends, starting at `offset`. Never throws on any bytes: hostile
 * input gives 'invalid' (only a negative or fractional `offset`, a caller bug, throws RangeError).
 * The length word is checked as soon as its 4 bytes are present, before waiting for (or buffering)
 * the body, so a client cannot make us hold more than MAX_STARTUP_PACKET_LENGTH bytes.
 *
 * `length` of a 'packet' is the bytes consumed; bytes after it are the caller's concern (after an
 * SSLRequest they must not exist: CVE-2021-23214 plaintext injection before the TLS handshake).
 * `secretKey` of a cancel request is a copy; other results do not retain `buf`.
 */
export function parseStartupPacket(buf: Buffer, offset = 0): StartupParse {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new RangeError(`startup packet offset must be a non-negative integer, got ${offset}`);
  }
  const available = buf.length - offset;
  if (available < 1) return { status: 'incomplete' };
  if (buf[offset] === TLS_HANDSHAKE_RECORD) return { status: 'directTls' };
  if (available < 4) return { status: 'incomplete' };

  const length = buf.readInt32BE(offset);
  if (length < 8 || length > MAX_STARTUP_PACKET_LENGTH) {
    return invalid('startup.invalid_length', 'invalid length of startup packet');
  }
  if (available < length) return { status: 'incomplete' };

  const code = buf.readUInt32BE(offset + 4);
  const end = offset + length;
  switch (code) {
    case SSL_REQUEST_CODE:
      if (length !== 8) return invalid('startup.invalid_ssl_request_length', 'invalid length of SSL negotiation packet');
      return { status: 'packet', packet: { kind: 'sslRequest' }, length };
    case GSSENC_REQUEST_CODE:
      if (length !== 8) return invalid('startup.invalid_gssenc_request_length', 'invalid length of GSSAPI encryption negotiation packet');
      return { status: 'packet', packet: { kind: 'gssEncRequest' }, length };
    case CANCEL_REQUEST_CODE: {
      const keyLength = length - 12;
      if (keyLength < MIN_CANCEL_KEY_LENGTH || keyLength > MAX_CANCEL_KEY_LENGTH) {
        return invalid('startup.invalid_cancel_length', 'invalid length of query cancel packet');
      }
      const processId = buf.readInt32BE(offset + 8);
      const secretKey = Buffer.from(buf.subarray(offset + 12, end));
      return { status: 'packet', packet: { kind: 'cancelRequest', processId, secretKey }, length };
    }
    default:
      return parseStartupMessage(buf, offset, length, code);
  }
}

function parseStartupMessage(buf: Buffer, offset: number, length: number, code: number): StartupParse {
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    return {
      status: 'invalid',
      error: new ProxyError(
        'startup.unsupported_protocol',
        SqlState.FEATURE_NOT_SUPPORTED,
        `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.${LATEST_MINOR_VERSION}`,
      ),
    };
  }

  // name\0value\0 ... \0 — the terminator must be the last byte, exactly as PostgreSQL requires.
  // A null-prototype object keeps a parameter named "__proto__" from touching Object.prototype.
  const parameters: Record<string, string> = Object.create(null) as Record<string, string>;
  const protocolOptions: string[] = [];
  const end = offset + length;
  let pos = offset + 8;
  for (;;) {
    if (pos >= end) {
      return invalid('startup.missing_terminator', 'invalid startup packet layout: expected terminator as last byte');
    }
    if (buf[pos] === 0) break;
    const nameEnd = buf.indexOf(0, pos);
    if (nameEnd === -1 || nameEnd + 1 >= end) {
      return invalid('startup.missing_terminator', 'invalid startup packet layout: expected terminator as last byte');
    }
    const valueEnd = buf.indexOf(0, nameEnd + 1);
    if (valueEnd === -1 || valueEnd >= end) {
      return invalid('startup.missing_terminator', 'invalid startup packet layout: expected terminator as last byte');
    }
    const name = buf.toString('utf8', pos, nameEnd);
    if (name.startsWith(PROTOCOL_OPTION_PREFIX)) {
      if (!protocolOptions.includes(name)) protocolOptions.push(name);
    } else {
      parameters[name] = buf.toString('utf8', nameEnd + 1, valueEnd);
    }
    pos = valueEnd + 1;
  }
  if (pos !== end - 1) {
    return invalid('startup.trailing_bytes', 'invalid startup packet layout: expected terminator as last byte');
  }

  const user = parameters['user'];
  if (user === undefined || user === '') {
    return {
      status: 'invalid',
      error: new ProxyError(
        'startup.no_user',
        SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
        'no PostgreSQL user name specified in startup packet',
      ),
    };
  }
  return {
    status: 'packet',
    packet: { kind: 'startup', majorVersion: 3, minorVersion: minor, parameters, protocolOptions },
    length,
  };
}

export function encodeSslRequest(): Buffer {
  return new MessageWriter(null, 4).int32(SSL_REQUEST_CODE).done();
}

export function encodeGssEncRequest(): Buffer {
  return new MessageWriter(null, 4).int32(GSSENC_REQUEST_CODE).done();
}

export function encodeCancelRequest(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < MIN_CANCEL_KEY_LENGTH || secretKey.length > MAX_CANCEL_KEY_LENGTH) {
    throw new RangeError(
      `cancel key must be ${MIN_CANCEL_KEY_LENGTH} to ${MAX_CANCEL_KEY_LENGTH} bytes, got ${secretKey.length}`,
    );
  }
  return new MessageWriter(null, 8 + secretKey.length)
    .int32(CANCEL_REQUEST_CODE)
    .int32(processId)
    .bytes(secretKey)
    .done();
}

/** Encodes a protocol 3.x StartupMessage; keys starting with `_pq_.` are sent as protocol options. */
export function encodeStartupMessage(parameters: Record<string, string>, minorVersion = 0): Buffer {
  if (!Number.isInteger(minorVersion) || minorVersion < 0 || minorVersion > 0xffff) {
    throw new RangeError(`protocol minor version must be an integer from 0 to 65535, got ${minorVersion}`);
  }
  const entries = Object.entries(parameters);
  let bodyLength = 4 + 1;
  for (const [name, value] of entries) {
    // An empty name is the packet terminator: everything after it would be ignored.
    if (name === '') throw new RangeError('startup parameter names must not be empty');
    bodyLength += cstringLength(name) + cstringLength(value);
  }
  const writer = new MessageWriter(null, bodyLength).int32((3 << 16) | minorVersion);
  for (const [name, value] of entries) {
    writer.cstring(name, 'startup parameter name').cstring(value, `value of startup parameter "${name}"`);
  }
  return writer.byte(0).done();
}
