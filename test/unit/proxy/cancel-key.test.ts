import { describe, expect, it } from 'vitest';
import { cancelKeyId, cancelKeyOwner, CANCEL_KEY_TTL, issueCancelKey, withTtlDecremented } from '../../../src/proxy/cancel-key.js';

describe('cancel keys', () => {
  it('name the peer and the worker that own the session, with a fresh TTL', () => {
    for (let i = 0; i < 200; i++) {
      const key = issueCancelKey({ peerId: 0x1234, worker: 7 });
      expect(key.processId).toBeGreaterThan(0);
      expect(key.secretKey).toHaveLength(4);
      expect(cancelKeyOwner(key.processId, key.secretKey)).toEqual({ peerId: 0x1234, worker: 7, ttl: CANCEL_KEY_TTL });
    }
  });

  it('put the peer id in bytes 1-2 low byte first, as PgBouncer does', () => {
    const key = issueCancelKey({ peerId: 0x0102, worker: 0 });
    const bytes = Buffer.alloc(4);
    bytes.writeInt32BE(key.processId);
    expect([bytes[1], bytes[2]]).toEqual([0x02, 0x01]);
  });

  it('differ from one another in their random bits', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => {
      const key = issueCancelKey({ peerId: 5, worker: 1 });
      return cancelKeyId(key.processId, key.secretKey);
    }));
    expect(ids.size).toBe(1000);
  });

  it('still find their session after a peer hop used up some TTL, and run out after three hops', () => {
    const key = issueCancelKey({ peerId: 9, worker: 0 });
    const once = withTtlDecremented(key.secretKey);
    expect(cancelKeyId(key.processId, once)).toBe(cancelKeyId(key.processId, key.secretKey));
    expect(cancelKeyOwner(key.processId, once).ttl).toBe(CANCEL_KEY_TTL - 1);
    expect(cancelKeyOwner(key.processId, key.secretKey).ttl).toBe(CANCEL_KEY_TTL);
    const spent = withTtlDecremented(withTtlDecremented(once));
    expect(cancelKeyOwner(key.processId, spent).ttl).toBe(0);
    expect(cancelKeyOwner(key.processId, withTtlDecremented(spent)).ttl).toBe(0);
  });

  it('never match a key of another length (protocol 3.2 clients send longer ones only to servers that issued them)', () => {
    expect(cancelKeyId(1, Buffer.alloc(8))).toBeNull();
  });
});
