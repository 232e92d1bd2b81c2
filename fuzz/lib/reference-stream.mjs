/**
 * The oracle for every message reader: a deliberately naive reading of a whole protocol 3 stream
 * (type byte, int32 length counting itself, body), written without any of the readers' buffering.
 */

/**
 * Returns the whole messages of `stream` ({ type, start, end, length }: `start` at the type byte,
 * `end` just past the body), `badLength` ({ start, length }) for the first header whose length is
 * below 4 or above `maxLength` (reading stops there), and `rest`, where the unfinished tail begins.
 */
export function readReference(stream, maxLength) {
  const messages = [];
  let at = 0;
  while (stream.length - at >= 5) {
    const length = stream.readInt32BE(at + 1);
    if (length < 4 || length > maxLength) return { messages, badLength: { start: at, length }, rest: at };
    if (stream.length - at < 1 + length) break;
    messages.push({ type: stream[at], start: at, end: at + 1 + length, length });
    at += 1 + length;
  }
  return { messages, badLength: null, rest: at };
}

/** Throws (a fuzzing crash) with `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(`oracle violated: ${message}`);
}

/** Rethrows anything but a ProxyError with one of `codes`; returns the ProxyError. */
export function expectProxyError(error, ProxyError, codes) {
  if (!(error instanceof ProxyError) || !codes.includes(error.code)) throw error;
  return error;
}
