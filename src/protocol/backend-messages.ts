import { parseErrorFields, type ErrorFields } from './error-fields.js';
import { BackendType } from './message-types.js';
import { MAX_CANCEL_KEY_LENGTH, MIN_CANCEL_KEY_LENGTH } from './startup-packet.js';
import { MessageWriter, cstringLength, protocolViolation, readCString } from './wire.js';

export { parseErrorFields } from './error-fields.js';
export type { ErrorFields } from './error-fields.js';

/** Authentication request codes of the 'R' message. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

export type BackendMessage =
  | { type: 'authenticationOk' }
  | { type: 'authenticationCleartextPassword' }
  | { type: 'authenticationMD5Password'; salt: Buffer }
  | { type: 'authenticationSASL'; mechanisms: string[] }
  | { type: 'authenticationSASLContinue'; data: Buffer }
  | { type: 'authenticationSASLFinal'; data: Buffer }
  | { type: 'authenticationUnsupported'; code: number }
  | { type: 'parameterStatus'; name: string; value: string }
  | { type: 'backendKeyData'; processId: number; secretKey: Buffer }
  | { type: 'readyForQuery'; status: 'I' | 'T' | 'E' }
  | { type: 'errorResponse'; fields: ErrorFields }
  | { type: 'noticeResponse'; fields: ErrorFields }
  | { type: 'negotiateProtocolVersion'; newestMinorVersion: number; unrecognizedOptions: string[] }
  | { type: 'other'; code: number };

function malformed(what: string, detail?: string): never {
  throw protocolViolation('backend.malformed_message', `invalid ${what} message from server`, detail);
}

function expectLength(body: Buffer, length: number, what: string): void {
  if (body.length !== length) malformed(what, `expected a ${length}-byte body, got ${body.length} bytes`);
}

/**
 * Decodes the body of a message a server sent (as returned by MessageFramer.next()).
 * Buffers in the result are copies, so they outlive the framer's view. Throws ProxyError 08P01 on
 * a malformed body; types gatehouse does not interpret come back as { type: 'other' }.
 */
export function parseBackendMessage(type: number, body: Buffer): BackendMessage {
  switch (type) {
    case BackendType.Authentication:
      return parseAuthentication(body);
    case BackendType.ParameterStatus: {
      const name = readCString(body, 0, body.length, 'ParameterStatus name');
      const value = readCString(body, name.next, body.length, 'ParameterStatus value');
      if (value.next !== body.length) malformed('ParameterStatus', 'bytes after the value');
      return { type: 'parameterStatus', name: name.value, value: value.value };
    }
    case BackendType.BackendKeyData: {
      const keyLength = body.length - 4;
      if (keyLength < MIN_CANCEL_KEY_LENGTH || keyLength > MAX_CANCEL_KEY_LENGTH) {
        malformed('BackendKeyData', `cancel key of ${keyLength} bytes; allowed ${MIN_CANCEL_KEY_LENGTH} to ${MAX_CANCEL_KEY_LENGTH}`);
      }
      return { type: 'backendKeyData', processId: body.readInt32BE(0), secretKey: Buffer.from(body.subarray(4)) };
    }
    case BackendType.ReadyForQuery: {
      expectLength(body, 1, 'ReadyForQuery');
      const status = String.fromCharCode(body[0]);
      if (status !== 'I' && status !== 'T' && status !== 'E') malformed('ReadyForQuery', `unknown transaction status 0x${body[0].toString(16)}`);
      return { type: 'readyForQuery', status };
    }
    case BackendType.ErrorResponse:
      return { type: 'errorResponse', fields: parseErrorFields(body) };
    case BackendType.NoticeResponse:
      return { type: 'noticeResponse', fields: parseErrorFields(body) };
    case BackendType.NegotiateProtocolVersion:
      return parseNegotiateProtocolVersion(body);
    default:
      return { type: 'other', code: type };
  }
}

function parseAuthentication(body: Buffer): BackendMessage {
  if (body.length < 4) malformed('Authentication', `body of ${body.length} bytes has no request code`);
  const code = body.readInt32BE(0);
  switch (code) {
    case AuthCode.Ok:
      expectLength(body, 4, 'AuthenticationOk');
      return { type: 'authenticationOk' };
    case AuthCode.CleartextPassword:
      expectLength(body, 4, 'AuthenticationCleartextPassword');
      return { type: 'authenticationCleartextPassword' };
    case AuthCode.MD5Password:
      expectLength(body, 8, 'AuthenticationMD5Password');
      return { type: 'authenticationMD5Password', salt: Buffer.from(body.subarray(4, 8)) };
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      let pos = 4;
      for (;;) {
        if (pos >= body.length) malformed('AuthenticationSASL', 'mechanism list is not terminated');
        if (body[pos] === 0) break;
        const name = readCString(body, pos, body.length, 'SASL mechanism name');
        mechanisms.push(name.value);
        pos = name.next;
      }
      if (pos !== body.length - 1) malformed('AuthenticationSASL', 'bytes after the mechanism list');
      return { type: 'authenticationSASL', mechanisms };
    }
    case AuthCode.SASLContinue:
      return { type: 'authenticationSASLContinue', data: Buffer.from(body.subarray(4)) };
    case AuthCode.SASLFinal:
      return { type: 'authenticationSASLFinal', data: Buffer.from(body.subarray(4)) };
    default:
      return { type: 'authenticationUnsupported', code };
  }
}

/**
 * The version word is what PostgreSQL actually sends, the full protocol number (3 << 16 | minor);
 * a bare minor number (how the documentation words it) is accepted too.
 */
function parseNegotiateProtocolVersion(body: Buffer): BackendMessage {
  if (body.length < 8) malformed('NegotiateProtocolVersion', `body of ${body.length} bytes is shorter than 8`);
  const version = body.readUInt32BE(0);
  const major = version >>> 16;
  if (major !== 0 && major !== 3) malformed('NegotiateProtocolVersion', `server offers protocol major version ${major}`);
  const count = body.readInt32BE(4);
  // Each option takes at least 2 bytes; this also bounds the loop against a hostile count.
  if (count < 0 || count > (body.length - 8) / 2) malformed('NegotiateProtocolVersion', `option count ${count} does not fit the body`);
  const unrecognizedOptions: string[] = [];
  let pos = 8;
  for (let i = 0; i < count; i++) {
    const option = readCString(body, pos, body.length, 'NegotiateProtocolVersion option');
    unrecognizedOptions.push(option.value);
    pos = option.next;
  }
  if (pos !== body.length) malformed('NegotiateProtocolVersion', 'bytes after the option list');
  return { type: 'negotiateProtocolVersion', newestMinorVersion: version & 0xffff, unrecognizedOptions };
}

// ---- Encoders of messages gatehouse sends to its clients (type byte and length included). ----

function authentication(code: number, extra: number): MessageWriter {
  return new MessageWriter(BackendType.Authentication, 4 + extra).int32(code);
}

export function authenticationOk(): Buffer {
  return authentication(AuthCode.Ok, 0).done();
}

export function authenticationCleartextPassword(): Buffer {
  return authentication(AuthCode.CleartextPassword, 0).done();
}

export function authenticationMD5Password(salt: Buffer): Buffer {
  if (salt.length !== 4) throw new RangeError(`MD5 salt must be 4 bytes, got ${salt.length}`);
  return authentication(AuthCode.MD5Password, 4).bytes(salt).done();
}

export function authenticationSASL(mechanisms: string[]): Buffer {
  let extra = 1;
  for (const m of mechanisms) {
    if (m === '') throw new RangeError('SASL mechanism names must not be empty');
    extra += cstringLength(m);
  }
  const writer = authentication(AuthCode.SASL, extra);
  for (const m of mechanisms) writer.cstring(m, 'SASL mechanism name');
  return writer.byte(0).done();
}

export function authenticationSASLContinue(data: Buffer): Buffer {
  return authentication(AuthCode.SASLContinue, data.length).bytes(data).done();
}

export function authenticationSASLFinal(data: Buffer): Buffer {
  return authentication(AuthCode.SASLFinal, data.length).bytes(data).done();
}

export function parameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(BackendType.ParameterStatus, cstringLength(name) + cstringLength(value))
    .cstring(name, 'parameter name')
    .cstring(value, `value of parameter "${name}"`)
    .done();
}

export function backendKeyData(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < MIN_CANCEL_KEY_LENGTH || secretKey.length > MAX_CANCEL_KEY_LENGTH) {
    throw new RangeError(`cancel key must be ${MIN_CANCEL_KEY_LENGTH} to ${MAX_CANCEL_KEY_LENGTH} bytes, got ${secretKey.length}`);
  }
  return new MessageWriter(BackendType.BackendKeyData, 4 + secretKey.length).int32(processId).bytes(secretKey).done();
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return new MessageWriter(BackendType.ReadyForQuery, 1).byte(status.charCodeAt(0)).done();
}

/** Sent, like PostgreSQL does, as the full version word 3 << 16 | newestMinorVersion. */
export function negotiateProtocolVersion(newestMinorVersion: number, unrecognizedOptions: string[]): Buffer {
  if (!Number.isInteger(newestMinorVersion) || newestMinorVersion < 0 || newestMinorVersion > 0xffff) {
    throw new RangeError(`protocol minor version must be an integer from 0 to 65535, got ${newestMinorVersion}`);
  }
  let length = 8;
  for (const option of unrecognizedOptions) length += cstringLength(option);
  const writer = new MessageWriter(BackendType.NegotiateProtocolVersion, length)
    .int32((3 << 16) | newestMinorVersion)
    .int32(unrecognizedOptions.length);
  for (const option of unrecognizedOptions) writer.cstring(option, 'protocol option name');
  return writer.done();
}
