/**
 * How fuzz targets cut one libFuzzer input into the pieces they need, so that a seed file stays a
 * real protocol input with a short prefix in front of it.
 */

/**
 * Splits `data` into `count` parts: each but the last is a big-endian uint16 length and that many
 * bytes (fewer when the input ends first); the last part is whatever remains.
 */
export function takeParts(data, count) {
  const parts = [];
  let at = 0;
  for (let i = 0; i < count - 1; i++) {
    const length = at + 2 <= data.length ? data.readUInt16BE(at) : 0;
    at = Math.min(at + 2, data.length);
    parts.push(data.subarray(at, Math.min(at + length, data.length)));
    at = Math.min(at + length, data.length);
  }
  parts.push(data.subarray(at));
  return parts;
}

/** Encodes parts in the layout takeParts reads (used to write seed files). */
export function joinParts(parts) {
  const out = [];
  parts.forEach((part, i) => {
    if (i < parts.length - 1) {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(part.length);
      out.push(length);
    }
    out.push(part);
  });
  return Buffer.concat(out);
}

/**
 * Cuts `stream` into chunks whose sizes come from a xorshift generator seeded with `seed`
 * (1 to 64 bytes, with an occasional chunk of up to 4 KiB), each copied into its own buffer as a
 * socket would deliver it. Seed 0 delivers the stream whole.
 */
export function chunk(stream, seed) {
  if (seed === 0) return stream.length === 0 ? [] : [Buffer.from(stream)];
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const chunks = [];
  for (let at = 0; at < stream.length; ) {
    const r = next();
    const size = r % 16 === 0 ? 1 + (r >>> 4) % 4096 : 1 + (r >>> 4) % 64;
    chunks.push(Buffer.from(stream.subarray(at, at + size)));
    at += size;
  }
  return chunks;
}

/** Where each chunk starts in the stream. */
export function chunkStarts(chunks) {
  const starts = [];
  let at = 0;
  for (const c of chunks) {
    starts.push(at);
    at += c.length;
  }
  return starts;
}
