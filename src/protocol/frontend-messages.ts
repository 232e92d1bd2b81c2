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
