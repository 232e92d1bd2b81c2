/**
 * Target: MessageFramer (src/protocol/framer.ts), the reader of server messages during the handshake.
 * Input: chunking seed, length bound, then a message stream (see fuzz/lib/stream-input.mjs).
 * Oracle: fed in random chunks, the framer returns exactly the messages a naive whole-stream reading
 * finds (same types, same bodies, same order); at a bad length word it throws ProxyError
 * 'message.invalid_length' (and nothing else), only after every message before it; at the end the
 * unfinished tail is what `buffered` counts and `takeRemaining()` returns, byte for byte.
 */
import { MessageFramer, ProxyError } from '../../dist/src/protocol/index.js';
import { check, expectProxyError, readReference } from '../lib/reference-stream.mjs';
import { streamInput } from '../lib/stream-input.mjs';

export function fuzz(data) {
  const input = streamInput(data);
  if (input === null) return;
  const { stream, chunks, maxLength } = input;
  const expected = readReference(stream, maxLength);
  const framer = new MessageFramer({ maxMessageLength: maxLength });
  let seen = 0;
  let failed = null;
  try {
    for (const piece of chunks) {
      framer.push(piece);
      for (let message = framer.next(); message !== null; message = framer.next()) {
        const want = expected.messages[seen++];
        check(want !== undefined, `message ${seen} was not in the stream`);
        check(message.type === want.type, `message ${seen} has type ${message.type}, expected ${want.type}`);
        check(message.body.equals(stream.subarray(want.start + 5, want.end)), `message ${seen} has another body`);
      }
    }
  } catch (error) {
    failed = expectProxyError(error, ProxyError, ['message.invalid_length']);
  }
  check(seen === expected.messages.length, `${seen} messages out, ${expected.messages.length} in`);
  check((failed !== null) === (expected.badLength !== null), `bad length ${failed ? 'reported' : 'missed'}`);
  if (failed !== null) return;
  const tail = stream.subarray(expected.rest);
  check(framer.buffered === tail.length, `buffered ${framer.buffered}, tail is ${tail.length} bytes`);
  check(framer.takeRemaining().equals(tail), 'takeRemaining() differs from the unread tail');
  check(framer.buffered === 0 && framer.next() === null, 'takeRemaining() did not empty the framer');
}
