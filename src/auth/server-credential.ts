/**
 * How gatehouse logs in to PostgreSQL as one configured user: with a password (server_password),
 * by passthrough from the stored md5 hash or SCRAM secret, or with nothing (a backend that trusts
 * the pooler). Passthrough SCRAM needs the user's ClientKey, which only a client's own SCRAM proof
 * reveals: PassthroughKeys holds it, in memory only, per (pool, user).
 */
import { timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import type { ScramSecret } from './password-format.js';
import type { ScramLoginKeys } from './scram-client.js';
import { SCRAM_KEY_LEN, sha256 } from './scram-common.js';

/**
 * The ClientKey of one user's SCRAM secret, learnt from the first client of that user that proves
 * it knows the password. Deliberately opaque to logging: JSON and util.inspect show no key.
 */
export class PassthroughKeys {
  private clientKey: Buffer | null = null;

  constructor(private readonly secret: ScramSecret) {}

  /** Whether a client has authenticated since start-up, so a backend login is possible. */
  get ready(): boolean {
    return this.clientKey !== null;
  }

  /**
   * Keep the ClientKey a client's SCRAM proof revealed. It is checked once more against the
   * secret's StoredKey (H(ClientKey) = StoredKey), so only the right key is ever kept; returns
   * whether it was.
   */
  learn(clientKey: Buffer): boolean {
    if (clientKey.length !== SCRAM_KEY_LEN || !timingSafeEqual(sha256(clientKey), this.secret.storedKey)) return false;
    this.clientKey ??= Buffer.from(clientKey);
    return true;
  }

  /** The keys to log in with, or null until a client has authenticated. */
  loginKeys(): ScramLoginKeys | null {
    if (this.clientKey === null) return null;
    const { serverKey, salt, iterations } = this.secret;
    return { clientKey: this.clientKey, serverKey, salt, iterations };
  }

  toJSON(): string {
    return '[PassthroughKeys]';
  }

  [inspect.custom](): string {
    return '[PassthroughKeys]';
  }
}

export type ServerCredential =
  /** server_password (or a plaintext `password`): whatever PostgreSQL asks for, cleartext, MD5 or SCRAM. */
  | { kind: 'password'; password: string }
  /** The stored `md5…` hash answers PostgreSQL's MD5 challenge (md5(hash-hex + salt)); nothing else. */
  | { kind: 'md5-passthrough'; hash: string }
  /** The stored SCRAM secret plus the ClientKey a client revealed answers SCRAM-SHA-256; nothing else. */
  | { kind: 'scram-passthrough'; keys: PassthroughKeys }
  /** No password at all: only a PostgreSQL that trusts gatehouse lets it in. */
  | { kind: 'none' };

/** A one-word name of how a credential logs in, for logs and check-config (never the secret). */
export function describeServerCredential(credential: ServerCredential): string {
  switch (credential.kind) {
    case 'password':
      return 'server_password';
    case 'md5-passthrough':
      return 'md5 passthrough';
    case 'scram-passthrough':
      return 'SCRAM passthrough';
    case 'none':
      return 'no password';
  }
}
