import { FrontendType } from './message-types.js';
import { MessageWriter, cstringLength, protocolViolation, readCString } from './wire.js';

// ---- Encoders of messages gatehouse sends to servers (type byte and length included). ----

export function passwordMessage(password: string): Buffer {
  return new MessageWriter(FrontendType.Password, cstringLength(password)).cstring(password, 'password').done();
}

/** SASLInitialResponse with `data` as the initial response (an empty one is sent as length 0). */
export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return new MessageWriter(FrontendType.Password, cstringLength(mechanism) + 4 + data.length)
    .cstring(mechanism, 'SASL mechanism name')
    .int32(data.length)
    .bytes(data)
    .done();
}

export function saslResponse(data: Buffer): Buffer {
  return new MessageWriter(FrontendType.Password, data.length).bytes(data).done();
}

export function query(sql: string): Buffer {
  return new MessageWriter(FrontendType.Query, cstringLength(sql)).cstring(sql, 'query text').done();
}

/**
 * One statement with text parameters over the extended protocol, unnamed statement and portal:
 * Parse, Bind, Describe (portal), Execute (all rows), Sync. Parameters travel apart from the SQL, so a
 * value (a user name, say) can never change the statement.
 */
export function extendedQuery(sql: string, params: string[]): Buffer {
  const values = params.map((p) => Buffer.from(p, 'utf8'));
  const parse = new MessageWriter(FrontendType.Parse, 1 + cstringLength(sql) + 2).cstring('', 'statement name').cstring(sql, 'query text').int16(0).done();
  const bind = new MessageWriter(FrontendType.Bind, 1 + 1 + 2 + 2 + values.reduce((n, v) => n + 4 + v.length, 0) + 2)
    .cstring('', 'portal name')
    .cstring('', 'statement name')
    .int16(0);
  bind.int16(values.length);
  for (const v of values) bind.int32(v.length).bytes(v);
  const describe = new MessageWriter(FrontendType.Describe, 2).byte(0x50).cstring('', 'portal name').done();
  const execute = new MessageWriter(FrontendType.Execute, 1 + 4).cstring('', 'portal name').int32(0).done();
  return Buffer.concat([parse, bind.int16(0).done(), describe, execute, sync()]);
}

export function terminate(): Buffer {
  return new MessageWriter(FrontendType.Terminate, 0).done();
}

export function sync(): Buffer {
  return new MessageWriter(FrontendType.Sync, 0).done();
}

// ---- Parsers of 'p' message bodies a client sends (body as returned by MessageFramer.next()). ----

/** PasswordMessage body: one C string that must end exactly at the end of the body. */
export function parsePasswordMessage(body: Buffer): string {
  const password = readCString(body, 0, body.length, 'password');
  if (password.next !== body.length) {
    throw protocolViolation('frontend.invalid_password_packet', 'invalid password packet size');
  }
  return password.value;
}

/**
 * SASLInitialResponse body: mechanism name, int32 length of the initial response (-1 for none,
 * returned as an empty buffer), the response bytes, and nothing after. `data` is a copy.
 */
export function parseSaslInitialResponse(body: Buffer): { mechanism: string; data: Buffer } {
  const mechanism = readCString(body, 0, body.length, 'SASL mechanism name');
  const rest = body.length - mechanism.next;
  if (rest < 4) {
    throw protocolViolation('frontend.invalid_sasl_initial_response', 'invalid SASL initial response: missing response length');
  }
  const length = body.readInt32BE(mechanism.next);
  const expected = length === -1 ? 0 : length;
  if (length < -1 || expected !== rest - 4) {
    throw protocolViolation(
      'frontend.invalid_sasl_initial_response',
      'invalid SASL initial response: length does not match the message',
      `declared ${length}, ${rest - 4} bytes present`,
    );
  }
  const start = mechanism.next + 4;
  return { mechanism: mechanism.value, data: Buffer.from(body.subarray(start, start + expected)) };
}
