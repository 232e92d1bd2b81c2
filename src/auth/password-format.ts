import { decodeBase64, SCRAM_KEY_LEN } from './scram-common.js';

/** The parts of a SCRAM-SHA-256 secret, as PostgreSQL keeps them in pg_authid.rolpassword. */
export interface ScramSecret {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export type StoredPassword =
  | { kind: 'plain'; password: string }
  | { kind: 'md5'; hash: string /* 'md5' + 32 lowercase hex */ }
  | ({ kind: 'scram' } & ScramSecret);

const SCRAM_PREFIX = 'SCRAM-SHA-256$';
const MD5_HASH = /^md5[0-9a-f]{32}$/;
/** 'md5' followed by a long run of hex digits: meant as a hash, whatever its flaws. */
const MD5_LOOKALIKE = /^md5[0-9a-f]{16,}$/i;
const POSITIVE_INT = /^[1-9][0-9]*$/;
const INT32_MAX = 2 ** 31 - 1;

/**
 * Classifies a configured password the way PostgreSQL classifies pg_authid.rolpassword:
 * 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>' is a SCRAM secret, 'md5' followed
 * by 32 lowercase hex digits is an md5 hash, anything else is a plain-text password. A value that
 * is plainly meant as a secret or hash but is malformed throws an Error saying what is wrong,
 * rather than silently becoming a plain-text password nobody can type. Messages never repeat the
 * value itself.
 */
export function parseStoredPassword(value: string): StoredPassword {
  if (value.toUpperCase().startsWith(SCRAM_PREFIX)) return { kind: 'scram', ...parseScramSecret(value) };
  if (MD5_HASH.test(value)) return { kind: 'md5', hash: value };
  if (MD5_LOOKALIKE.test(value)) throw new Error(describeBadMd5(value));
  return { kind: 'plain', password: value };
}

function parseScramSecret(value: string): ScramSecret {
  const shape = `a SCRAM secret must look like ${SCRAM_PREFIX}<iterations>:<salt>$<StoredKey>:<ServerKey>`;
  if (!value.startsWith(SCRAM_PREFIX)) {
    throw new Error(`${shape}, with "SCRAM-SHA-256" in upper case`);
  }
  const sections = value.slice(SCRAM_PREFIX.length).split('$');
  if (sections.length !== 2) throw new Error(`${shape} (found ${sections.length} "$"-separated sections after the prefix, expected 2)`);
  const head = sections[0].split(':');
  const keys = sections[1].split(':');
  if (head.length !== 2) throw new Error(`${shape} (the part before the second "$" must be <iterations>:<salt>)`);
  if (keys.length !== 2) throw new Error(`${shape} (the part after the second "$" must be <StoredKey>:<ServerKey>)`);

  const [iterationText, saltText] = head;
  if (!POSITIVE_INT.test(iterationText) || Number(iterationText) > INT32_MAX) {
    throw new Error(`SCRAM secret has an invalid iteration count (expected a positive integer up to ${INT32_MAX})`);
  }
  const salt = decodeBase64(saltText);
  if (salt === null || salt.length === 0) throw new Error('SCRAM secret has an invalid salt (expected non-empty base64)');
  return {
    iterations: Number(iterationText),
    salt,
    storedKey: decodeKey(keys[0], 'StoredKey'),
    serverKey: decodeKey(keys[1], 'ServerKey'),
  };
}

function decodeKey(text: string, name: string): Buffer {
  const key = decodeBase64(text);
  if (key === null) throw new Error(`SCRAM secret has an invalid ${name} (expected base64)`);
  if (key.length !== SCRAM_KEY_LEN) {
    throw new Error(`SCRAM secret has an invalid ${name} (expected ${SCRAM_KEY_LEN} bytes, found ${key.length})`);
  }
  return key;
}

function describeBadMd5(value: string): string {
  const digits = value.length - 3;
  const problems: string[] = [];
  if (value.slice(0, 3) !== 'md5') problems.push('the "md5" prefix must be lower case');
  if (digits !== 32) problems.push(`it has ${digits} hex digits where 32 are needed`);
  if (/[A-F]/.test(value.slice(3))) problems.push('the hex digits must be lower case');
  return `md5 password hash is malformed: ${problems.join('; ')} (PostgreSQL would treat this value as a plain-text password)`;
}

/** The pg_authid text form: 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>' (base64). */
export function formatScramSecret(s: ScramSecret): string {
  return `${SCRAM_PREFIX}${s.iterations}:${s.salt.toString('base64')}$${s.storedKey.toString('base64')}:${s.serverKey.toString('base64')}`;
}
