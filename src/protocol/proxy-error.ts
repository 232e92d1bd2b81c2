import type { AnySqlState } from './sqlstate.js';

export type ProxyErrorSeverity = 'FATAL' | 'ERROR';

export interface ProxyErrorOptions {
  severity?: ProxyErrorSeverity;
  detail?: string;
  hint?: string;
  cause?: unknown;
}

/**
 * An error that is safe to show a client: it carries an internal code for logs and metrics
 * (e.g. 'startup.too_long'), the SQLSTATE and severity sent in the ErrorResponse, and a message.
 * Only ProxyErrors are encoded to clients; any other error is a bug and is logged instead.
 */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  readonly code: string;
  readonly sqlstate: AnySqlState;
  readonly severity: ProxyErrorSeverity;
  readonly detail?: string;
  readonly hint?: string;

  constructor(code: string, sqlstate: AnySqlState, message: string, opts: ProxyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.sqlstate = sqlstate;
    this.severity = opts.severity ?? 'FATAL';
    if (opts.detail !== undefined) this.detail = opts.detail;
    if (opts.hint !== undefined) this.hint = opts.hint;
  }
}
