import { describe, expect, it } from 'vitest';
import { encodeErrorResponse } from '../../../src/protocol/index.js';
import { listenerRejectionReason } from '../../../src/observability/rejection-reason.js';
import { ClientTraffic, ERROR_GROUPS, errorGroupAt, PoolTraffic } from '../../../src/observability/traffic.js';

/** The body of an ErrorResponse PostgreSQL would send with `code`. */
function errorBody(code: string): Buffer {
  return encodeErrorResponse({ severity: 'ERROR', sqlstate: code, message: 'boom' }).subarray(5);
}

describe('traffic counters', () => {
  it.each([
    ['08006', '08'],
    ['08P01', '08'],
    ['53300', '53'],
    ['57P01', '57'],
    ['25P02', '25P02'],
    ['25P01', 'other'],
    ['26000', '26000'],
    ['22012', 'other'],
  ])('puts SQLSTATE %s in PgDoorman\'s group %s', (code, group) => {
    const body = errorBody(code);
    expect(ERROR_GROUPS[errorGroupAt(body, 0, body.length)]).toBe(group);
  });

  it('reads the code in place inside a larger chunk, and calls a body cut before its code "other"', () => {
    const body = errorBody('53300');
    const chunk = Buffer.concat([Buffer.from('xxxxx'), body, Buffer.from('yy')]);
    expect(ERROR_GROUPS[errorGroupAt(chunk, 5, 5 + body.length)]).toBe('53');
    const cut = body.indexOf(0x43) + 3; // 'C', then two digits only
    expect(ERROR_GROUPS[errorGroupAt(body, 0, cut)]).toBe('other');
  });

  it('keeps a client\'s longest wait and adds every wait to its pool\'s histogram', () => {
    const pool = new PoolTraffic();
    const client = new ClientTraffic('c1');
    client.waitingSince = 123;
    client.waited(5_000, pool);
    client.waited(0, pool);
    expect({ waiting: client.waitingSince, max: client.maxWaitMicros, total: client.waitMicros }).toEqual({ waiting: 0, max: 5_000, total: 5_000 });
    expect({ count: pool.waitDurations.count, total: pool.waitMicros }).toEqual({ count: 2, total: 5_000 });
  });

  it('labels rejections with PgDoorman\'s reason values, keeping gatehouse-only reasons as they are', () => {
    expect(listenerRejectionReason('tls_handshake_failed')).toBe('tls_handshake_fail');
    expect(listenerRejectionReason('client_certificate_rejected')).toBe('tls_handshake_fail');
    expect(listenerRejectionReason('hba_cert_missing')).toBe('hba');
    expect(listenerRejectionReason('unencrypted_bytes_after_ssl_request')).toBe('protocol_error');
    for (const same of ['hba', 'tls_required', 'protocol_error', 'invalid_startup', 'too_many_clients', 'auth_failed']) expect(listenerRejectionReason(same)).toBe(same);
  });
});
