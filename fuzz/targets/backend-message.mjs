/**
 * Target: parseBackendMessage (src/protocol/backend-messages.ts), how gatehouse reads what a server
 * sends during login (Authentication*, ParameterStatus, BackendKeyData, ReadyForQuery,
 * ErrorResponse, NoticeResponse, NegotiateProtocolVersion).
 * Input: one type byte, then the body.
 * Oracle: a malformed body throws a ProxyError with SQLSTATE 08P01 and nothing else does; a parsed
 * message's buffers are copies (they outlive the framer's view of the body).
 */
import { parseBackendMessage, ProxyError, SqlState } from '../../dist/src/protocol/index.js';
import { check } from '../lib/reference-stream.mjs';

export function fuzz(data) {
  if (data.length < 1) return;
  const body = Buffer.from(data.subarray(1));
  let message;
  try {
    message = parseBackendMessage(data[0], body);
  } catch (error) {
    if (error instanceof ProxyError && error.sqlstate === SqlState.PROTOCOL_VIOLATION) return;
    throw error;
  }
  const copies = Object.entries(message).filter(([, value]) => Buffer.isBuffer(value));
  const before = copies.map(([, value]) => Buffer.from(value));
  body.fill(0xa5);
  copies.forEach(([name, value], i) => check(value.equals(before[i]), `${message.type}.${name} is a view of the body`));
}
