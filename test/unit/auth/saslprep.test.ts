import { describe, expect, test } from 'vitest';
import { saslPrep } from '../../../src/auth/index.js';
import {
  type CodePointTable,
  inTable,
  lCat,
  mappedToNothing,
  nonAsciiSpace,
  prohibitedOutput,
  randALCat,
  unassignedCodePoints,
} from '../../../src/auth/saslprep-tables.js';

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('saslPrep', () => {
  test.each([
    ['plain ASCII unchanged', 'pencil', 'pencil'],
    ['ASCII control characters unchanged (PostgreSQL skips ASCII input entirely)', 'ab\u0007c', 'ab\u0007c'],
    ['SOFT HYPHEN removed (RFC 4013 example)', 'I\u00adX', 'IX'],
    ['NO-BREAK SPACE mapped to a space', 'a\u00a0b', 'a b'],
    ['FEMININE ORDINAL INDICATOR normalised to "a" (RFC 4013 example)', '\u00aa', 'a'],
    ['ROMAN NUMERAL NINE normalised to "IX" (RFC 4013 example)', '\u2168', 'IX'],
    ['full-width letters normalised', '\uff30\uff41\uff53\uff53', 'Pass'],
    ['the "fi" ligature normalised', '\ufb01x', 'fix'],
    ['a decomposed accent composed', 'cafe\u0301', 'caf\u00e9'],
  ])('gives %s', (_name, input, output) => {
    expect(saslPrep(input)).toEqual(utf8(output));
  });

  test.each([
    ['only characters mapped to nothing', '\u00ad'],
    ['a prohibited character (private use)', 'a\ue000\u00aa'],
    ['a character unassigned in Unicode 3.2 (U+1F100, whose NFKC form is "0.")', 'a\u{1f100}'],
    ['an emoji (unassigned in Unicode 3.2)', '\u00aa\u{1f600}'],
    ['right-to-left text ending in a digit', '\u0627\uff11'],
    ['right-to-left mixed with left-to-right text', '\u05d0\u00aa\u05d0'],
    ['a lone surrogate', 'a\ud800\u00aa'],
  ])('falls back to the raw UTF-8 bytes, as PostgreSQL does, for %s', (_name, input) => {
    expect(saslPrep(input)).toEqual(utf8(input));
  });

  test('accepts right-to-left text that starts and ends with a right-to-left character', () => {
    expect(saslPrep('\u05d0\ufb21\u05d0')).toEqual(utf8('\u05d0\u05d0\u05d0'));
  });
});

function ranges(table: CodePointTable): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < table.length; i += 2) out.push([table[i], table[i + 1]]);
  return out;
}

function codePointsIn(table: CodePointTable): number[] {
  return ranges(table).flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_v, i) => first + i));
}

describe('SASLprep tables', () => {
  test.each([
    ['C.1.2', nonAsciiSpace],
    ['B.1', mappedToNothing],
    ['prohibited', prohibitedOutput],
    ['A.1', unassignedCodePoints],
    ['D.1', randALCat],
    ['D.2', lCat],
  ])('%s is sorted, non-overlapping ranges within Unicode', (_name, table) => {
    const list = ranges(table);
    list.forEach(([first, last], i) => {
      expect(first).toBeLessThanOrEqual(last);
      expect(last).toBeLessThanOrEqual(0x10ffff);
      if (i > 0) expect(first).toBeGreaterThan(list[i - 1][1]);
    });
  });

  test('every code point still unassigned today is unassigned in 3.2 or prohibited', () => {
    const missing: string[] = [];
    for (let code = 0; code <= 0x10ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      if (/\p{Cn}/u.test(String.fromCodePoint(code)) && !inTable(unassignedCodePoints, code) && !inTable(prohibitedOutput, code)) {
        missing.push(code.toString(16));
      }
    }
    expect(missing.slice(0, 20)).toEqual([]);
  });

  test('bidi tables list only characters assigned in Unicode 3.2', () => {
    const stray = [...codePointsIn(randALCat), ...codePointsIn(lCat)].filter(
      (code) => inTable(unassignedCodePoints, code) || (!inTable(prohibitedOutput, code) && /\p{Cn}/u.test(String.fromCodePoint(code))),
    );
    expect(stray.slice(0, 20).map((c) => c.toString(16))).toEqual([]);
  });

  test('D.1 holds right-to-left letters and D.2 left-to-right ones', () => {
    expect(codePointsIn(randALCat).filter((code) => inTable(lCat, code))).toEqual([]);
    const samples: [string, CodePointTable][] = [
      ['\u05d0', randALCat], // HEBREW LETTER ALEF
      ['\u0627', randALCat], // ARABIC LETTER ALEF
      ['\u0710', randALCat], // SYRIAC LETTER ALAPH
      ['A', lCat],
      ['\u00e9', lCat],
      ['\u4e00', lCat],
      ['\uac00', lCat],
    ];
    for (const [char, table] of samples) expect(inTable(table, char.codePointAt(0) as number)).toBe(true);
    expect(inTable(lCat, 0x31)).toBe(false);
    expect(inTable(randALCat, 0x41)).toBe(false);
  });
});
