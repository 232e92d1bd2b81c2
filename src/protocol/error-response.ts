import type { ProxyError } from './proxy-error.js';

export type Severity = 'PANIC' | 'FATAL' | 'ERROR' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

export interface ErrorResponseFields {
  severity: Severity;
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** Field type bytes of ErrorResponse/NoticeResponse. */
export const ErrorField = {
  Severity: 0x53, // 'S' (may be localized)
  SeverityNonLocalized: 0x56, // 'V' (PostgreSQL 9.6+)
  Code: 0x43, // 'C'
  Message: 0x4d, // 'M'
  Detail: 0x44, // 'D'
  Hint: 0x48, // 'H'
} as const;

/**
 * A NUL would end the field early and let the rest of the text be read as further fields,
 * so error text (which may quote client input) has NULs removed rather than refused:
 * encoding an error must never fail.
 */
function clean(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

/** Encodes a full ErrorResponse ('E') or NoticeResponse ('N') message, type byte and length included. */
export function encodeErrorResponse(f: ErrorResponseFields, kind: 'E' | 'N' = 'E'): Buffer {
  const fields: Array<[number, string]> = [
    [ErrorField.Severity, clean(f.severity)],
    [ErrorField.SeverityNonLocalized, clean(f.severity)],
    [ErrorField.Code, clean(f.sqlstate)],
    [ErrorField.Message, clean(f.message)],
  ];
  if (f.detail !== undefined) fields.push([ErrorField.Detail, clean(f.detail)]);
  if (f.hint !== undefined) fields.push([ErrorField.Hint, clean(f.hint)]);

  let bodyLength = 1; // final terminator
  for (const [, value] of fields) bodyLength += 1 + Buffer.byteLength(value, 'utf8') + 1;

  const out = Buffer.allocUnsafe(5 + bodyLength);
  out[0] = kind.charCodeAt(0);
  let pos = out.writeInt32BE(4 + bodyLength, 1);
  for (const [type, value] of fields) {
    out[pos++] = type;
    pos += out.write(value, pos, 'utf8');
    out[pos++] = 0;
  }
  out[pos] = 0;
  return out;
}

/** Encodes a ProxyError as the ErrorResponse a client sees. */
export function encodeProxyError(err: ProxyError): Buffer {
  const fields: ErrorResponseFields = { severity: err.severity, sqlstate: err.sqlstate, message: err.message };
  if (err.detail !== undefined) fields.detail = err.detail;
  if (err.hint !== undefined) fields.hint = err.hint;
  return encodeErrorResponse(fields);
}
