import { z } from 'zod';
import { parseDuration } from './duration.js';

/** Largest delay Node's timers honour (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** How a value appears in a message: strings quoted (and shortened), lists and maps named, never dumped. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeOf(value);
}

/** The kind of a value without the value itself: used for secrets. */
export function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}

type Issue = { readonly input?: unknown };

/** Error function for zod: "required" for a missing key, else "expected <what> (got <value>)". */
export function expected(what: string, opts: { secret?: boolean } = {}): (issue: Issue) => string {
  return (issue) => {
    if (issue.input === undefined) return 'required';
    return `expected ${what} (got ${opts.secret ? typeOf(issue.input) : show(issue.input)})`;
  };
}

export function mapOf<T extends z.core.$ZodLooseShape>(shape: T, what = 'a map') {
  return z.strictObject(shape, { error: expected(what) });
}

export function portField() {
  const error = expected('a port number 1..65535');
  return z.int({ error }).min(1, { error }).max(65535, { error });
}

export function positiveIntField() {
  const error = expected('a positive integer');
  return z.int({ error }).min(1, { error });
}

export function nonNegativeIntField() {
  const error = expected('a non-negative integer');
  return z.int({ error }).min(0, { error });
}

export function stringField(opts: { secret?: boolean } = {}) {
  return z.string({ error: expected('a string', opts) }).min(1, { error: () => 'must not be empty' });
}

export function booleanField() {
  return z.boolean({ error: expected('true or false') });
}

/** Duration in milliseconds: a number of ms or a string like "250ms", "5s", "1.5s", "5m", "5h", "1d". */
export function durationField() {
  return z.unknown().transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        input: value,
        message: `expected a duration: milliseconds or a string like "250ms", "5s", "1.5s", "5m", "5h", "1d" (got ${show(value)})`,
      });
      return z.NEVER;
    }
    if (ms > MAX_TIMER_MS) {
      ctx.addIssue({ code: 'custom', input: value, message: `must be at most 24d (${MAX_TIMER_MS}ms) (got ${show(value)})` });
      return z.NEVER;
    }
    return ms;
  });
}

function oneOf(values: readonly string[], value: unknown, hint = ''): string {
  return `must be one of ${values.join(', ')} (got ${show(value)})${hint}`;
}

/** Case-sensitive choice, like PgDoorman's tls_mode and pool_mode; a case-only mismatch gets a hint. */
export function enumField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) => {
      if (issue.input === undefined) return 'required';
      const folded = typeof issue.input === 'string' && values.includes(issue.input.toLowerCase());
      return oneOf(values, issue.input, folded ? ' (names are case-sensitive)' : '');
    },
  });
}

/** Case-insensitive choice, normalised to lower case (PgDoorman's server_tls_mode). */
export function foldedEnumField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.unknown().transform((value, ctx): T[number] => {
    const folded = typeof value === 'string' ? value.toLowerCase() : undefined;
    const match = values.find((v) => v === folded);
    if (match === undefined) {
      ctx.addIssue({ code: 'custom', input: value, message: oneOf(values, value) });
      return z.NEVER;
    }
    return match;
  });
}

/** A file mode as PgDoorman writes it: an octal string ("0600", "660", "0o660") of permission bits only. */
export function fileModeField() {
  return z.unknown().transform((value, ctx) => {
    const text = typeof value === 'string' ? value.replace(/^0o/i, '') : null;
    if (text === null || !/^[0-7]{1,4}$/.test(text) || Number.parseInt(text, 8) > 0o777) {
      const hint = typeof value === 'number' ? ' (quote it: YAML reads an unquoted 0600 as a decimal number)' : '';
      ctx.addIssue({ code: 'custom', input: value, message: `expected an octal file mode up to "0777", like "0600" (got ${show(value)})${hint}` });
      return z.NEVER;
    }
    return Number.parseInt(text, 8);
  });
}
