/** How a configured `password` is stored: a SCRAM-SHA-256 secret, an md5 hash, or plaintext. */
export type PasswordKind = 'scram-sha-256' | 'md5' | 'plain';

export const SCRAM_PREFIX = 'SCRAM-SHA-256$';

// PostgreSQL's own test (get_password_type): "md5" followed by exactly 32 lower-case hex digits.
const MD5_HASH = /^md5[0-9a-f]{32}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SCRAM_KEY_BYTES = 32;

export function passwordKind(password: string): PasswordKind {
  if (password.startsWith(SCRAM_PREFIX)) return 'scram-sha-256';
  if (MD5_HASH.test(password)) return 'md5';
  return 'plain';
}

function base64Bytes(text: string): number | null {
  return text !== '' && BASE64.test(text) ? Buffer.from(text, 'base64').length : null;
}

/**
 * Checks a password that starts with `SCRAM-SHA-256$` against the form PostgreSQL stores in pg_authid:
 * `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`.
 * Returns what is wrong (never quoting the secret), or null when the form is right or the password is not SCRAM.
 */
export function scramSecretProblem(password: string): string | null {
  if (!password.startsWith(SCRAM_PREFIX)) return null;
  const form = `expected ${SCRAM_PREFIX}<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`;
  const parts = password.slice(SCRAM_PREFIX.length).split('$');
  if (parts.length !== 2) return `malformed SCRAM-SHA-256 secret: ${form}`;
  const head = parts[0].split(':');
  const keys = parts[1].split(':');
  if (head.length !== 2 || keys.length !== 2) return `malformed SCRAM-SHA-256 secret: ${form}`;
  const [iterations, salt] = head;
  if (!/^[1-9]\d*$/.test(iterations) || !Number.isSafeInteger(Number(iterations))) {
    return 'malformed SCRAM-SHA-256 secret: the iteration count must be a positive integer';
  }
  if (base64Bytes(salt) === null) return 'malformed SCRAM-SHA-256 secret: the salt is not base64';
  if (base64Bytes(keys[0]) !== SCRAM_KEY_BYTES) {
    return `malformed SCRAM-SHA-256 secret: StoredKey must be ${SCRAM_KEY_BYTES} bytes in base64`;
  }
  if (base64Bytes(keys[1]) !== SCRAM_KEY_BYTES) {
    return `malformed SCRAM-SHA-256 secret: ServerKey must be ${SCRAM_KEY_BYTES} bytes in base64`;
  }
  return null;
}
