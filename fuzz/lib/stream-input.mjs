import { chunk } from './input.mjs';

/** PostgreSQL's MaxAllocSize, every reader's default bound. */
export const DEFAULT_MAX = 0x3fffffff;

/**
 * Input layout of the stream targets: uint16 chunking seed, one byte choosing the length bound
 * (0: the default 1 GiB - 1; n: 4 + 8n, so that the bound itself gets exercised), then the stream.
 */
export function streamInput(data) {
  if (data.length < 3) return null;
  const seed = data.readUInt16BE(0);
  const selector = data[2];
  const stream = data.subarray(3);
  return { stream, chunks: chunk(stream, seed), maxLength: selector === 0 ? DEFAULT_MAX : 4 + selector * 8 };
}
