import { pbkdf2Sync, randomBytes } from 'node:crypto';
import type { ScramSecret, StoredPassword } from './password-format.js';
import { saslPrep } from './saslprep.js';
import {
  hmacSha256,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_DEFAULT_SALT_LEN,
  SCRAM_KEY_LEN,
  sha256,
} from './scram-common.js';

/** ClientKey and ServerKey of RFC 5802, both derived from SaltedPassword. */
export interface ScramKeys {
  clientKey: Buffer;
  serverKey: Buffer;
}

/** SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations), then the two keys. */
function deriveKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  const salted = pbkdf2Sync(saslPrep(password), salt, iterations, SCRAM_KEY_LEN, 'sha256');
  return { clientKey: hmacSha256(salted, 'Client Key'), serverKey: hmacSha256(salted, 'Server Key') };
}

/**
 * Builds the SCRAM-SHA-256 secret PostgreSQL would store for `password` (see formatScramSecret for
 * its text form). Defaults match PostgreSQL: a random 16-byte salt and 4096 iterations.
 */
export function deriveScramSecret(password: string, opts: { salt?: Buffer; iterations?: number } = {}): ScramSecret {
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new Error(`SCRAM iteration count must be a positive integer, got ${iterations}`);
  }
  const salt = opts.salt ?? randomBytes(SCRAM_DEFAULT_SALT_LEN);
  if (salt.length === 0) throw new Error('SCRAM salt must not be empty');
  const { clientKey, serverKey } = deriveKeys(password, salt, iterations);
  return { iterations, salt, storedKey: sha256(clientKey), serverKey };
}

/**
 * Memo keys are HMAC-SHA-256 digests of the password under a key that lives only in this process,
 * so the maps never hold a password, and a heap dump does not give an attacker an unsalted hash
 * to run a dictionary against.
 */
const memoKey = randomBytes(32);

function passwordDigest(password: string): string {
  return hmacSha256(memoKey, Buffer.from(password, 'utf8')).toString('base64');
}

const plainSecrets = new Map<string, ScramSecret>();

/**
 * The SCRAM secret to authenticate a client against. A stored secret is used as is; a plain-text
 * password is turned into a secret once per distinct password per process, because PBKDF2 costs
 * milliseconds and would otherwise be paid on every connection.
 */
export function scramSecretFor(stored: StoredPassword & { kind: 'plain' | 'scram' }): ScramSecret {
  if (stored.kind === 'scram') return stored;
  const key = passwordDigest(stored.password);
  let secret = plainSecrets.get(key);
  if (secret === undefined) {
    secret = deriveScramSecret(stored.password);
    plainSecrets.set(key, secret);
  }
  return secret;
}

/**
 * Keys for authenticating to PostgreSQL, memoised by (password, salt, iterations): a role's salt
 * and iteration count stay fixed until its password changes, so a pool opening many server
 * connections pays PBKDF2 once. The memo is bounded because the salt comes from the server.
 */
const MAX_CLIENT_KEYS = 256;
const clientKeys = new Map<string, ScramKeys>();

export function scramKeysFor(password: string, salt: Buffer, iterations: number): ScramKeys {
  const key = `${passwordDigest(password)}:${salt.toString('base64')}:${iterations}`;
  let keys = clientKeys.get(key);
  if (keys === undefined) {
    keys = deriveKeys(password, salt, iterations);
    if (clientKeys.size >= MAX_CLIENT_KEYS) clientKeys.delete(clientKeys.keys().next().value as string);
    clientKeys.set(key, keys);
  }
  return keys;
}

/** Forgets every memoised secret and key, e.g. after a configuration reload changed passwords. */
export function clearScramMemos(): void {
  plainSecrets.clear();
  clientKeys.clear();
}
