import { describe, expect, it } from 'vitest';
import {
  ProxyError,
  SqlState,
  encodeErrorResponse,
  encodeProxyError,
  parseBackendMessage,
  parseErrorFields,
} from '../../../src/protocol/index.js';
import { frame } from './assertions.js';

describe('SqlState', () => {
  it('holds only well-formed five-character SQLSTATE codes, each once', () => {
    const codes = Object.values(SqlState);
    for (const code of codes) expect(code).toMatch(/^[0-9A-Z]{5}$/);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('uses the codes PostgreSQL uses for the conditions clients branch on', () => {
    expect(SqlState.PROTOCOL_VIOLATION).toBe('08P01');
    expect(SqlState.INVALID_PASSWORD).toBe('28P01');
    expect(SqlState.TOO_MANY_CONNECTIONS).toBe('53300');
    expect(SqlState.CANNOT_CONNECT_NOW).toBe('57P03');
    expect(SqlState.ADMIN_SHUTDOWN).toBe('57P01');
  });
});

describe('ProxyError', () => {
  it('is an Error carrying an internal code, a SQLSTATE and FATAL severity by default', () => {
    const cause = new Error('socket reset');
    const err = new ProxyError('startup.too_long', SqlState.PROTOCOL_VIOLATION, 'invalid length of startup packet', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ProxyError');
    expect(err.code).toBe('startup.too_long');
    expect(err.sqlstate).toBe('08P01');
    expect(err.severity).toBe('FATAL');
    expect(err.cause).toBe(cause);
    expect(err.detail).toBeUndefined();
    expect(String(err)).toBe('ProxyError: invalid length of startup packet');
  });

  it('keeps a given severity, detail and hint', () => {
    const err = new ProxyError('pool.full', SqlState.TOO_MANY_CONNECTIONS, 'too many clients', {
      severity: 'ERROR',
      detail: 'pool app/alice is full',
      hint: 'raise max_client_conn',
    });
    expect([err.severity, err.detail, err.hint]).toEqual(['ERROR', 'pool app/alice is full', 'raise max_client_conn']);
  });
});

describe('encodeErrorResponse', () => {
  it('writes S, V, C, M, D and H fields in order, then the terminator', () => {
    const bytes = encodeErrorResponse({ severity: 'FATAL', sqlstate: '28P01', message: 'm', detail: 'd', hint: 'h' });
    const m = frame(bytes);
    expect(m.type).toBe(0x45);
    expect(m.body.toString('latin1')).toBe('SFATAL\0VFATAL\0C28P01\0Mm\0Dd\0Hh\0\0');
  });

  it('round-trips through parseErrorFields with non-ASCII text', () => {
    const m = frame(encodeErrorResponse({ severity: 'ERROR', sqlstate: '3D000', message: 'database "bäckerei" does not exist' }));
    expect(parseErrorFields(m.body)).toEqual({
      severity: 'ERROR',
      severityLocalized: 'ERROR',
      code: '3D000',
      message: 'database "bäckerei" does not exist',
    });
  });

  it('writes a NoticeResponse when asked for kind N', () => {
    const m = frame(encodeErrorResponse({ severity: 'NOTICE', sqlstate: '00000', message: 'hello' }, 'N'));
    expect(parseBackendMessage(m.type, m.body)).toMatchObject({ type: 'noticeResponse', fields: { severity: 'NOTICE', message: 'hello' } });
  });

  it('strips NUL bytes from quoted text so they cannot forge extra fields', () => {
    const m = frame(encodeErrorResponse({ severity: 'FATAL', sqlstate: '28000', message: 'role "x\0C00000" does not exist' }));
    expect(parseErrorFields(m.body)).toMatchObject({ code: '28000', message: 'role "xC00000" does not exist' });
  });
});

describe('encodeProxyError', () => {
  it('encodes what the client sees: severity, SQLSTATE, message, detail and hint', () => {
    const err = new ProxyError('auth.failed', SqlState.INVALID_PASSWORD, 'password authentication failed for user "alice"', {
      detail: 'no such user',
      hint: 'check the user name',
    });
    const m = frame(encodeProxyError(err));
    expect(parseBackendMessage(m.type, m.body)).toEqual({
      type: 'errorResponse',
      fields: {
        severity: 'FATAL',
        severityLocalized: 'FATAL',
        code: '28P01',
        message: 'password authentication failed for user "alice"',
        detail: 'no such user',
        hint: 'check the user name',
      },
    });
  });

  it('does not leak the internal code to the client', () => {
    const err = new ProxyError('internal.secret_code_name', SqlState.INTERNAL_ERROR, 'internal error', { severity: 'ERROR' });
    expect(encodeProxyError(err).toString('latin1')).not.toContain('secret_code_name');
    expect(encodeProxyError(err).toString('latin1')).toContain('SERROR\0');
  });
});
