/**
 * Test helpers: the ways a peer's TCP stack may deliver bytes. `deliveries(bytes)` gives the whole
 * buffer, every two-part split (at every byte offset) and byte-by-byte delivery.
 */
export function deliveries(bytes: Buffer): Array<{ name: string; chunks: Buffer[] }> {
  const out: Array<{ name: string; chunks: Buffer[] }> = [{ name: 'whole', chunks: [bytes] }];
  for (let i = 1; i < bytes.length; i++) {
    out.push({ name: `split at ${i}`, chunks: [bytes.subarray(0, i), bytes.subarray(i)] });
  }
  const single: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  out.push({ name: 'byte by byte', chunks: single });
  return out;
}

/** Copies each chunk so that no test accidentally shares memory with the source buffer. */
export function copied(chunks: Buffer[]): Buffer[] {
  return chunks.map((c) => Buffer.from(c));
}
