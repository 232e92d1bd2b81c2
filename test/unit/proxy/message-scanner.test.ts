/**
 * The relay's MessageScanner finds message boundaries in chunks as TCP delivers them. Whatever the
 * cuts, it must report the same messages at the same places as a reader of the whole stream would:
 * a wrong boundary means a server handed to the next client in the middle of a message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/protocol/index.js';
import { MessageScanner } from '../../../src/proxy/message-scanner.js';
import { be, fe, frames, message, type Frame } from './support/pg-messages.js';

interface Run {
  frames: Frame[];
  /** atBoundary after each chunk, keyed by the stream offset the chunk ended at. */
  boundaries: Map<number, boolean>;
}

/**
 * Feeds `stream` cut at `cuts` (sorted offsets) and records (type, first, absolute end). With
 * `stopAt`, the sink returns false after those message indexes and the rest of that chunk is scanned
 * again from where the scan stopped, as a caller that paused would.
 */
function scanCut(stream: Buffer, cuts: number[], stopAt: ReadonlySet<number> = new Set(), max?: number): Run {
  const out: Frame[] = [];
  const boundaries = new Map<number, boolean>();
  let base = 0;
  let stoppedAt = -1;
  const scanner = new MessageScanner((type, first, end) => {
    out.push({ type, first, end: base + end });
    if (stopAt.has(out.length - 1)) {
      stoppedAt = end;
      return false;
    }
    return true;
  }, max);
  let from = 0;
  for (const to of [...cuts, stream.length]) {
    if (to <= from) continue;
    const chunk = stream.subarray(from, to);
    let offset = 0;
    while (offset < chunk.length) {
      stoppedAt = -1;
      base = from + offset;
      scanner.scan(chunk.subarray(offset));
      if (stoppedAt < 0) break;
      // Stopped: the scanner must be between messages, ready for the rest of the chunk.
      if (!scanner.atBoundary) throw new Error(`not at a boundary after stopping at ${base + stoppedAt}`);
      offset += stoppedAt;
    }
    boundaries.set(to, scanner.atBoundary);
    from = to;
  }
  return { frames: out, boundaries };
}

/** Compares without calling expect per case (thousands of cases), then fails with the first difference. */
function sameFrames(actual: Frame[], expected: Frame[], label: string): void {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!a || !e || a.type !== e.type || a.first !== e.first || a.end !== e.end) {
      expect({ case: label, index: i, frame: a }).toEqual({ case: label, index: i, frame: e });
    }
  }
}

function boundarySet(stream: Buffer): Set<number> {
  return new Set([0, ...frames(stream).map((f) => f.end)]);
}

function checkBoundaries(run: Run, stream: Buffer, label: string): void {
  const at = boundarySet(stream);
  for (const [offset, boundary] of run.boundaries) {
    if (boundary !== at.has(offset)) expect({ case: label, offset, atBoundary: boundary }).toEqual({ case: label, offset, atBoundary: at.has(offset) });
  }
}

const streams: Record<string, Buffer> = {
  'empty-body messages': Buffer.concat([fe.sync(), fe.flush(), fe.copyDone(), be.parseComplete(), be.bindComplete(), be.noData()]),
  'ReadyForQuery with each status': Buffer.concat([be.readyForQuery('I'), be.readyForQuery('T'), be.readyForQuery('E')]),
  '1-byte bodies (0x00, 0xff, 0x80) and type bytes 0x00 and 0xff': Buffer.concat([
    message('x', Buffer.from([0x00])),
    message(0xff, Buffer.from([0xff])),
    message(0x00, Buffer.from([0x80])),
  ]),
  'a simple query and its answer': Buffer.concat([fe.query('select 1'), be.readyForQuery('I'), fe.sync()]),
  'an empty message after one with a body': Buffer.concat([be.readyForQuery('T'), fe.sync(), message('q', Buffer.from([7])), fe.flush()]),
};

const large = Buffer.concat([
  fe.sync(),
  be.dataRow(Buffer.alloc(70_000, 0x61)),
  be.readyForQuery('E'),
  message('d', Buffer.alloc(65_536 - 4, 0x62)), // length word 0x00010000
  fe.flush(),
]);

const many = Buffer.concat(
  Array.from({ length: 400 }, (_, i) =>
    i % 4 === 0 ? fe.sync() : i % 4 === 1 ? be.readyForQuery((['I', 'T', 'E'] as const)[i % 3]) : i % 4 === 2 ? message('x', Buffer.from([i & 0xff])) : fe.query(`select ${i}`),
  ),
);

describe('MessageScanner: boundaries do not depend on how TCP cuts the stream', () => {
  for (const [name, stream] of Object.entries({ ...streams, 'large bodies (70 KB, 64 KB)': large, 'many small messages in one chunk': many })) {
    it(`${name}: the same messages at the same offsets, cut at every byte`, () => {
      const expected = frames(stream);
      sameFrames(scanCut(stream, []).frames, expected, 'whole');
      for (let cut = 1; cut < stream.length; cut++) {
        const run = scanCut(stream, [cut]);
        sameFrames(run.frames, expected, `cut at ${cut}`);
        checkBoundaries(run, stream, `cut at ${cut}`);
      }
    });
  }

  for (const [name, stream] of Object.entries({ ...streams, 'many small messages': many.subarray(0, frames(many)[60].end) })) {
    it(`${name}: the same messages fed one byte at a time, at a boundary exactly between messages`, () => {
      const cuts = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
      const run = scanCut(stream, cuts);
      sameFrames(run.frames, frames(stream), 'byte by byte');
      checkBoundaries(run, stream, 'byte by byte');
    });
  }

  for (const [name, stream] of Object.entries(streams)) {
    it(`${name}: the same messages for every pair of cut points`, () => {
      const expected = frames(stream);
      for (let a = 1; a < stream.length; a++) {
        for (let b = a + 1; b < stream.length; b++) {
          const run = scanCut(stream, [a, b]);
          sameFrames(run.frames, expected, `cuts at ${a},${b}`);
          checkBoundaries(run, stream, `cuts at ${a},${b}`);
        }
      }
    });
  }

  it('is at a boundary after a prefix exactly when the prefix ends a message', () => {
    for (const stream of [...Object.values(streams), many.subarray(0, frames(many)[40].end)]) {
      const at = boundarySet(stream);
      for (let p = 0; p <= stream.length; p++) {
        const scanner = new MessageScanner(() => true);
        scanner.scan(stream.subarray(0, p));
        if (scanner.atBoundary !== at.has(p)) expect({ prefix: p, atBoundary: scanner.atBoundary }).toEqual({ prefix: p, atBoundary: at.has(p) });
      }
    }
  });

  it('reports the first body byte of each message, not one left over from the message before', () => {
    const stream = Buffer.concat([be.readyForQuery('T'), fe.sync(), be.readyForQuery('I'), message('x', Buffer.from([0])), fe.flush()]);
    const seen: number[] = [];
    const scanner = new MessageScanner((_t, first) => seen.push(first) > 0);
    scanner.scan(stream);
    expect(seen).toEqual([0x54, -1, 0x49, 0, -1]);
  });
});

describe('MessageScanner: a caller that stops the scan resumes where it stopped', () => {
  for (const [name, stream] of Object.entries({ ...streams, 'many small messages': many.subarray(0, frames(many)[20].end) })) {
    it(`${name}: stopping after any message, with the stream cut at any byte, loses and repeats nothing`, () => {
      const expected = frames(stream);
      for (let k = 0; k < expected.length; k++) {
        for (let cut = 0; cut < stream.length; cut++) {
          sameFrames(scanCut(stream, cut === 0 ? [] : [cut], new Set([k])).frames, expected, `stop after #${k}, cut at ${cut}`);
        }
      }
      // Stopping after every message.
      sameFrames(scanCut(stream, [], new Set(expected.map((_, i) => i))).frames, expected, 'stop after each');
    });
  }

  it('does not report the messages after the stop in the same call', () => {
    const stream = Buffer.concat([fe.sync(), fe.terminate(), fe.query('select 1')]);
    const seen: number[] = [];
    const scanner = new MessageScanner((type) => {
      seen.push(type);
      return type !== 0x58;
    });
    scanner.scan(stream);
    expect(seen).toEqual([0x53, 0x58]);
    expect(scanner.atBoundary).toBe(true);
  });
});

describe('MessageScanner: impossible lengths are a protocol violation (08P01), however the header arrives', () => {
  const header = (length: number) => {
    const h = Buffer.alloc(5);
    h[0] = 0x51;
    h.writeUInt32BE(length >>> 0, 1);
    return h;
  };
  const cases: [string, number, number | undefined][] = [
    ['length 0', 0, undefined],
    ['length 3 (shorter than the length word)', 3, undefined],
    ['length -1 (0xffffffff)', 0xffffffff, undefined],
    ['length -2^31 (0x80000000)', 0x80000000, undefined],
    ['a length with the top bit set (0x80000005)', 0x80000005, undefined],
    ['length one past a configured maximum of 100', 101, 100],
    ['length one past the default maximum (0x40000000)', 0x40000000, undefined],
  ];
  for (const [name, length, max] of cases) {
    it(`${name}: rejected whole, split at every byte, and byte by byte`, () => {
      const stream = Buffer.concat([be.readyForQuery('I'), header(length), Buffer.alloc(8)]);
      const headerEnd = 6 + 5; // the fifth header byte is the one that completes the length
      const cutsList: number[][] = [[]];
      for (let c = 1; c < headerEnd; c++) cutsList.push([c]);
      cutsList.push(Array.from({ length: stream.length - 1 }, (_, i) => i + 1));
      for (const cuts of cutsList) {
        const seen: number[] = [];
        const scanner = new MessageScanner((type) => seen.push(type) > 0, max);
        let from = 0;
        let thrown: unknown = null;
        let thrownAt = -1;
        for (const to of [...cuts, stream.length]) {
          try {
            scanner.scan(stream.subarray(from, to));
          } catch (err) {
            thrown = err;
            thrownAt = to;
            break;
          }
          from = to;
        }
        expect(thrown, `cuts ${cuts.join(',')}`).toBeInstanceOf(ProxyError);
        expect((thrown as ProxyError).sqlstate).toBe('08P01');
        // It throws in the chunk that completes the length word, after reporting the message before it.
        expect(thrownAt, `cuts ${cuts.join(',')}`).toBeGreaterThanOrEqual(headerEnd);
        expect(cuts.filter((c) => c < headerEnd).every((c) => c < thrownAt)).toBe(true);
        expect(seen).toEqual([0x5a]);
      }
    });
  }

  it('accepts the extremes: length 4 (empty body) and exactly the configured maximum', () => {
    const stream = Buffer.concat([message('S'), message('d', Buffer.alloc(96))]);
    for (let cut = 0; cut < stream.length; cut++) {
      sameFrames(scanCut(stream, cut ? [cut] : [], new Set(), 100).frames, frames(stream), `cut at ${cut}`);
    }
  });
});

describe('MessageScanner: properties', () => {
  const messageArb = fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.oneof({ weight: 8, arbitrary: fc.uint8Array({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 3000 }) }))
    .map(([type, body]) => message(type, Buffer.from(body)));

  it('random messages cut at random places are reported as the whole stream would be', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 5 }), (msgs, rawCuts, rawStops) => {
        const stream = Buffer.concat(msgs);
        const cuts = [...new Set(rawCuts.map((c) => c % stream.length))].filter((c) => c > 0).sort((a, b) => a - b);
        const stops = new Set(rawStops.map((s) => s % msgs.length));
        const run = scanCut(stream, cuts, stops);
        sameFrames(run.frames, frames(stream), `cuts ${cuts.join(',')} stops ${[...stops].join(',')}`);
        checkBoundaries(run, stream, `cuts ${cuts.join(',')}`);
      }),
      { numRuns: 500 },
    );
  });
});
