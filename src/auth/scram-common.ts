import { createHash, createHmac, randomBytes } from 'node:crypto';

/** The one mechanism gatehouse speaks, in both directions. */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** Length of SHA-256 output: StoredKey, ServerKey, proofs and signatures. */
export const SCRAM_KEY_LEN = 32;
/** Raw nonce length, as PostgreSQL (SCRAM_RAW_NONCE_LEN); sent as 24 base64 characters. */
export const SCRAM_RAW_NONCE_LEN = 18;
/** PostgreSQL's default scram_iterations. */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** PostgreSQL's salt length for secrets it generates (SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_DEFAULT_SALT_LEN = 16;

export function hmacSha256(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

export function xorBuffers(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

export function randomNonce(): string {
  return randomBytes(SCRAM_RAW_NONCE_LEN).toString('base64');
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical, padded base64; null for anything else (Buffer.from would silently skip junk). */
export function decodeBase64(text: string): Buffer | null {
  return STRICT_BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}

/** RFC 5802 printable: %x21-2B / %x2D-7E (visible ASCII except ','). */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

export function isPrintableNonce(text: string): boolean {
  return PRINTABLE.test(text);
}

/**
 * Turns a SASL payload into text for parsing. latin1 maps each byte to one char, so slicing and
 * re-encoding reproduce the exact bytes (AuthMessage is computed over bytes). Returns a reason
 * instead when the payload is empty or carries a NUL, which PostgreSQL also rejects.
 */
export function saslPayloadText(data: Buffer): { text: string } | { problem: string } {
  if (data.length === 0) return { problem: 'The message is empty.' };
  if (data.includes(0)) return { problem: 'The message contains a null byte.' };
  return { text: data.toString('latin1') };
}

/** One `x=value` attribute of a SCRAM message, or null when `part` is not of that shape. */
export function splitAttribute(part: string): { name: string; value: string } | null {
  if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0])) return null;
  return { name: part[0], value: part.slice(2) };
}
