import { createSecureContext } from 'node:tls';
import { show, stringField } from './fields.js';
import { TLS13_CIPHERSUITE_NAMES } from './types.js';

// TLS 1.2 cipher names (ECDHE-RSA-AES128-GCM-SHA256, …) never start with TLS_; TLS 1.3 suite names always do.
const TLS13_PREFIX = 'TLS_';
const TLS12_EXAMPLE = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256';

/** Why an OpenSSL TLS 1.2 cipher list cannot be used, or null when OpenSSL selects at least one cipher from it. */
export function tlsCiphersProblem(list: string): string | null {
  const tls13 = list.split(':').filter((name) => name.trim().startsWith(TLS13_PREFIX));
  if (tls13.length > 0) {
    return `${tls13.map((name) => show(name)).join(', ')} ${tls13.length === 1 ? 'is a TLS 1.3 suite' : 'are TLS 1.3 suites'}: list it in general.tls13_ciphersuites (tls_ciphers is for TLS 1.2)`;
  }
  try {
    // OpenSSL throws "no cipher match" when the list selects nothing; it skips unknown names next to known ones.
    createSecureContext({ ciphers: list });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ERR_SSL_NO_CIPHER_MATCH' ? '' : ` (${(error as Error).message})`;
    return `no cipher matches ${show(list)}${reason}: expected an OpenSSL cipher list such as "${TLS12_EXAMPLE}"`;
  }
  return null;
}

/** Why a colon-separated list of TLS 1.3 suites cannot be used (an unknown or empty name), or null. */
export function tls13CiphersuitesProblem(list: string): string | null {
  const known: readonly string[] = TLS13_CIPHERSUITE_NAMES;
  const names = list.split(':');
  if (names.some((name) => name === '')) return `empty suite name in ${show(list)} (names are separated by single colons)`;
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length === 0) return null;
  const folded = unknown.every((name) => known.includes(name.toUpperCase()));
  const tls12 = unknown.some((name) => !name.toUpperCase().startsWith(TLS13_PREFIX));
  const hint = folded ? ' (names are case-sensitive)' : tls12 ? ' (TLS 1.2 ciphers go in general.tls_ciphers)' : '';
  const what = unknown.length === 1 ? 'unknown TLS 1.3 cipher suite' : 'unknown TLS 1.3 cipher suites';
  return `${what} ${unknown.map((name) => show(name)).join(', ')}: each must be one of ${known.join(', ')}${hint}`;
}

/** An OpenSSL TLS 1.2 cipher list that selects at least one cipher. */
export function tlsCiphersField() {
  return stringField().superRefine((value, ctx) => {
    const problem = tlsCiphersProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Colon-separated TLS 1.3 suite names, each one OpenSSL knows. */
export function tls13CiphersuitesField() {
  return stringField().superRefine((value, ctx) => {
    const problem = tls13CiphersuitesProblem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
}
