/**
 * Target: MessageScanner (src/proxy/message-scanner.ts), the session-mode header scanner of the relay.
 * Input: chunking seed, length bound, then a message stream (see fuzz/lib/stream-input.mjs).
 * Oracle: fed in random chunks, the scanner reports exactly the stream's message ends, in order, each
 * with its type, its first body byte (-1 for an empty body), the offset of its end within the chunk
 * being scanned and its length word; a bad length word throws ProxyError 'relay.bad_length' (and
 * nothing else) after every message before it; after each chunk `partial` names the unfinished
 * message (type, and start within that chunk or -1) and `atBoundary` is true only between messages.
 */
import { MessageScanner } from '../../dist/src/proxy/message-scanner.js';
import { ProxyError } from '../../dist/src/protocol/index.js';
import { chunkStarts } from '../lib/input.mjs';
import { check, expectProxyError, readReference } from '../lib/reference-stream.mjs';
import { streamInput } from '../lib/stream-input.mjs';

export function fuzz(data) {
  const input = streamInput(data);
  if (input === null) return;
  const { stream, chunks, maxLength } = input;
  const expected = readReference(stream, maxLength);
  const starts = chunkStarts(chunks);
  let seen = 0;
  let chunkStart = 0;
  const scanner = new MessageScanner((type, first, end) => {
    const want = expected.messages[seen++];
    check(want !== undefined, `message ${seen} was not in the stream`);
    check(type === want.type, `message ${seen} has type ${type}, expected ${want.type}`);
    const wantFirst = want.length > 4 ? stream[want.start + 5] : -1;
    check(first === wantFirst, `message ${seen} has first byte ${first}, expected ${wantFirst}`);
    check(chunkStart + end === want.end, `message ${seen} ends at ${chunkStart + end}, expected ${want.end}`);
    check(scanner.messageLength === want.length, `message ${seen} has length ${scanner.messageLength}, expected ${want.length}`);
    return true;
  }, maxLength);
  let failed = null;
  try {
    chunks.forEach((piece, i) => {
      chunkStart = starts[i];
      scanner.scan(piece);
      const chunkEnd = chunkStart + piece.length;
      const done = seen === expected.messages.length ? expected.rest : expected.messages[seen].start;
      const open = done < chunkEnd;
      check(scanner.atBoundary === !open, `atBoundary ${scanner.atBoundary} after the chunk ending at ${chunkEnd}`);
      const partial = scanner.partial;
      const wantStart = open && done >= chunkStart ? done - chunkStart : -1;
      check(partial.type === (open ? stream[done] : -1), `partial type ${partial.type} after the chunk ending at ${chunkEnd}`);
      check(partial.start === wantStart, `partial start ${partial.start}, expected ${wantStart}`);
    });
  } catch (error) {
    failed = expectProxyError(error, ProxyError, ['relay.bad_length']);
  }
  check(seen === expected.messages.length, `${seen} messages out, ${expected.messages.length} in`);
  check((failed !== null) === (expected.badLength !== null), `bad length ${failed ? 'reported' : 'missed'}`);
}
