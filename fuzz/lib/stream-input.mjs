import { chunk } from './input.mjs';

/** PostgreSQL's MaxAllocSize, every reader's default bound. */
export const DEFAULT_MAX = 0x3fffffff;
/** A repeated stream grows past this: beyond the framer's 16 KiB first storage and its compaction point. */
const REPEATED_SIZE = 48 * 1024;

/**
 * Input layout of the stream targets: uint16 chunking seed, one byte of options, then the stream.
 * The options' low 7 bits choose the length bound (0: the default 1 GiB - 1; n: 4 + 8n, so that the
 * bound itself gets exercised); the high bit repeats the stream until it passes 48 KiB, so that the
 * readers' buffer growth and compaction are reached by inputs of libFuzzer's usual size.
 */
export function streamInput(data) {
  if (data.length < 3) return null;
  const seed = data.readUInt16BE(0);
  const options = data[2];
  const bound = options & 0x7f;
  let stream = data.subarray(3);
  if (options & 0x80 && stream.length > 0) stream = Buffer.concat(Array(Math.ceil(REPEATED_SIZE / stream.length)).fill(stream));
  return { stream, chunks: chunk(stream, seed), maxLength: bound === 0 ? DEFAULT_MAX : 4 + bound * 8 };
}
