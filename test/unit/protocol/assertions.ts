/** Assertions shared by the protocol tests. */
import { expect } from 'vitest';
import { MessageFramer, ProxyError, SqlState } from '../../../src/protocol/index.js';

/** Frames `bytes` as exactly one complete message. */
export function frame(bytes: Buffer): { type: number; body: Buffer } {
  const framer = new MessageFramer();
  framer.push(bytes);
  const m = framer.next();
  expect(m).not.toBeNull();
  expect(framer.buffered).toBe(0);
  return m!;
}

/** `fn` throws a ProxyError with SQLSTATE 08P01; returns it for further checks. */
export function expectProtocolViolation(fn: () => unknown): ProxyError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProxyError);
  expect((caught as ProxyError).sqlstate).toBe(SqlState.PROTOCOL_VIOLATION);
  return caught as ProxyError;
}
