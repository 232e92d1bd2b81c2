/**
 * Target: ReplyScanner (src/proxy/reply-scanner.ts), the transaction-pooling reader of server replies.
 * Input: chunking seed, length bound, then a message stream (see fuzz/lib/stream-input.mjs). Which
 * messages the owner drops is decided by the stream itself: every message whose type byte is odd.
 * Oracle: fed in random chunks, what goes to the client is exactly the kept messages, byte for
 * byte, in order; every message ends once, with its type, and with the first 96 body bytes for
 * CommandComplete and ReadyForQuery, up to 8192 for ErrorResponse, none for any other type; a bad
 * length word throws ProxyError 'relay.bad_length' (and nothing else) after every message before it.
 */
import { ReplyScanner } from '../../dist/src/proxy/reply-scanner.js';
import { BackendType, ProxyError } from '../../dist/src/protocol/index.js';
import { check, expectProxyError, readReference } from '../lib/reference-stream.mjs';
import { streamInput } from '../lib/stream-input.mjs';

const CAPTURE = { [BackendType.CommandComplete]: 96, [BackendType.ReadyForQuery]: 96, [BackendType.ErrorResponse]: 8192 };
const dropped = (type) => type % 2 === 1;

export function fuzz(data) {
  const input = streamInput(data);
  if (input === null) return;
  const { stream, chunks, maxLength } = input;
  const expected = readReference(stream, maxLength);
  let started = 0;
  let ended = 0;
  const scanner = new ReplyScanner({
    starts(type) {
      started++;
      return !dropped(type);
    },
    ended(type, head) {
      const want = expected.messages[ended++];
      check(want !== undefined, `message ${ended} was not in the stream`);
      check(type === want.type, `message ${ended} has type ${type}, expected ${want.type}`);
      const body = stream.subarray(want.start + 5, want.end);
      const wantHead = body.subarray(0, CAPTURE[type] ?? 0);
      check(head.equals(wantHead), `message ${ended} captured ${head.length} bytes, expected ${wantHead.length}`);
    },
  }, maxLength);
  const out = [];
  let failed = null;
  try {
    for (const piece of chunks) out.push(...scanner.scan(piece));
  } catch (error) {
    failed = expectProxyError(error, ProxyError, ['relay.bad_length']);
  }
  check(ended === expected.messages.length, `${ended} messages ended, ${expected.messages.length} in`);
  check((failed !== null) === (expected.badLength !== null), `bad length ${failed ? 'reported' : 'missed'}`);
  if (failed !== null) return;
  const tail = stream.subarray(expected.rest);
  check(started === ended + (tail.length > 0 ? 1 : 0), `${started} messages started, ${ended} ended, tail ${tail.length}`);
  check(scanner.atBoundary === (tail.length === 0), `atBoundary ${scanner.atBoundary} with a ${tail.length}-byte tail`);
  const kept = expected.messages.filter((m) => !dropped(m.type)).map((m) => stream.subarray(m.start, m.end));
  if (tail.length > 0 && !dropped(tail[0])) kept.push(tail);
  check(Buffer.concat(out).equals(Buffer.concat(kept)), 'the client got other bytes than the kept messages');
}
