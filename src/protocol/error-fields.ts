import { protocolViolation, readCString } from './wire.js';

/**
 * Decoded fields of an ErrorResponse/NoticeResponse. `severity` is the non-localized 'V' field when
 * present (PostgreSQL 9.6+), else 'S'; the 'S' text is also kept as `severityLocalized`. Known field
 * types get the names below; a type byte gatehouse does not know is kept under its one-letter name.
 */
export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  [field: string]: string | undefined;
}

const FIELD_NAMES: Readonly<Record<string, string>> = {
  S: 'severityLocalized',
  V: 'severity',
  C: 'code',
  M: 'message',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

/** Decodes an ErrorResponse/NoticeResponse body. Throws ProxyError 08P01 when malformed or when S, C or M is missing. */
export function parseErrorFields(body: Buffer): ErrorFields {
  const fields: Record<string, string> = {};
  let pos = 0;
  for (;;) {
    if (pos >= body.length) {
      throw protocolViolation('backend.malformed_error', 'invalid error message from server: field list is not terminated');
    }
    const typeByte = body[pos];
    if (typeByte === 0) break;
    const letter = String.fromCharCode(typeByte);
    const value = readCString(body, pos + 1, body.length, `error field '${letter}'`);
    fields[Object.hasOwn(FIELD_NAMES, letter) ? FIELD_NAMES[letter] : letter] = value.value;
    pos = value.next;
  }
  if (pos !== body.length - 1) {
    throw protocolViolation('backend.malformed_error', 'invalid error message from server: bytes after the field list');
  }
  const severity = fields['severity'] ?? fields['severityLocalized'];
  const { code, message } = fields;
  if (severity === undefined || code === undefined || message === undefined) {
    throw protocolViolation(
      'backend.malformed_error',
      'invalid error message from server: severity, code or message field missing',
    );
  }
  return { ...fields, severity, code, message };
}
