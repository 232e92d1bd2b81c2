/**
 * Target: ClientFramer (src/proxy/client-framer.ts), the transaction-pooling reader of client messages.
 * Input: chunking seed, length bound, then a message stream (see fuzz/lib/stream-input.mjs).
 * Oracle: fed in random chunks, the messages handed on (whole ones as they are, CopyData as its
 * pieces, joined here) are exactly the stream's messages, header included, in order; a bad length
 * word throws ProxyError 'relay.bad_length' (and nothing else) after every message before it; at
 * the end `atBoundary` is true only when no tail is left, and the pieces of an unfinished CopyData
 * are a prefix of that tail while no other unfinished message has been handed on.
 */
import { ClientFramer } from '../../dist/src/proxy/client-framer.js';
import { FrontendType, ProxyError } from '../../dist/src/protocol/index.js';
import { check, expectProxyError, readReference } from '../lib/reference-stream.mjs';
import { streamInput } from '../lib/stream-input.mjs';

export function fuzz(data) {
  const input = streamInput(data);
  if (input === null) return;
  const { stream, chunks, maxLength } = input;
  const expected = readReference(stream, maxLength);
  const out = [];
  let copy = [];
  const framer = new ClientFramer((type, bytes, piece) => {
    if (!piece) {
      check(copy.length === 0, 'a whole message arrived inside an unfinished CopyData');
      out.push({ type, bytes: Buffer.from(bytes) });
      return;
    }
    check(type === FrontendType.CopyData, `type ${type} was streamed in pieces`);
    copy.push(Buffer.from(bytes));
    const joined = Buffer.concat(copy);
    if (joined.length >= 5 && joined.length === 1 + joined.readInt32BE(1)) {
      out.push({ type, bytes: joined });
      copy = [];
    }
  }, maxLength);
  let failed = null;
  try {
    for (const piece of chunks) framer.push(piece);
  } catch (error) {
    failed = expectProxyError(error, ProxyError, ['relay.bad_length']);
  }
  check(out.length === expected.messages.length, `${out.length} messages out, ${expected.messages.length} in`);
  expected.messages.forEach((want, i) => {
    check(out[i].type === want.type, `message ${i + 1} has type ${out[i].type}, expected ${want.type}`);
    check(out[i].bytes.equals(stream.subarray(want.start, want.end)), `message ${i + 1} has other bytes`);
  });
  check((failed !== null) === (expected.badLength !== null), `bad length ${failed ? 'reported' : 'missed'}`);
  if (failed !== null) return;
  const tail = stream.subarray(expected.rest);
  check(framer.atBoundary === (tail.length === 0), `atBoundary ${framer.atBoundary} with a ${tail.length}-byte tail`);
  const pieces = Buffer.concat(copy);
  check(pieces.equals(tail.subarray(0, pieces.length)), 'the pieces of the unfinished CopyData are not the tail');
  check(pieces.length === 0 || tail[0] === FrontendType.CopyData, 'an unfinished non-CopyData message was handed on');
}
