import {
  inTable,
  lCat,
  mappedToNothing,
  nonAsciiSpace,
  prohibitedOutput,
  randALCat,
  unassignedCodePoints,
} from './saslprep-tables.js';

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The bytes PostgreSQL feeds to PBKDF2 for `password`: SASLprep (RFC 4013) with PostgreSQL's
 * leniency (src/common/saslprep.c): pure ASCII is used unchanged; otherwise characters are mapped
 * (non-ASCII spaces to U+0020, "commonly mapped to nothing" removed) and NFKC-normalised, and if
 * the mapped input is empty, holds a prohibited or Unicode 3.2-unassigned code point, or breaks the
 * bidi rule, the raw UTF-8 bytes are used instead of failing. Like PostgreSQL, the prohibition and
 * bidi checks look at the mapped input rather than the normalised output.
 *
 * A JavaScript string with a lone surrogate has no UTF-8 form; it is encoded with U+FFFD in its
 * place, which PostgreSQL would also reject as prohibited and so also use unchanged.
 */
export function saslPrep(password: string): Buffer {
  const raw = Buffer.from(password, 'utf8');
  if (ASCII_ONLY.test(password) || LONE_SURROGATE.test(password)) return raw;

  const mapped: number[] = [];
  let mappedText = '';
  for (const char of password) {
    const code = char.codePointAt(0) as number;
    if (inTable(nonAsciiSpace, code)) {
      mapped.push(0x20);
      mappedText += ' ';
    } else if (!inTable(mappedToNothing, code)) {
      mapped.push(code);
      mappedText += char;
    }
  }
  if (mapped.length === 0) return raw; // PostgreSQL: "don't allow empty password"

  for (const code of mapped) {
    if (inTable(prohibitedOutput, code) || inTable(unassignedCodePoints, code)) return raw;
  }

  if (mapped.some((code) => inTable(randALCat, code))) {
    if (mapped.some((code) => inTable(lCat, code))) return raw;
    if (!inTable(randALCat, mapped[0]) || !inTable(randALCat, mapped[mapped.length - 1])) return raw;
  }

  return Buffer.from(mappedText.normalize('NFKC'), 'utf8');
}
