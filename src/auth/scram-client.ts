import { timingSafeEqual } from 'node:crypto';
import { ProxyError } from '../protocol/proxy-error.js';
import { SqlState } from '../protocol/sqlstate.js';
import {
  decodeBase64,
  hmacSha256,
  isPrintableNonce,
  randomNonce,
  saslPayloadText,
  SCRAM_KEY_LEN,
  sha256,
  splitAttribute,
  xorBuffers,
} from './scram-common.js';
import { scramKeysFor } from './scram-secret.js';

/**
 * Highest iteration count accepted from a server by default. PBKDF2 runs synchronously on the
 * event loop, and PostgreSQL lets any role choose scram_iterations (up to 2^31-1) when it sets its
 * own password: without a bound, one role could stall every connection the proxy carries.
 */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 1_000_000;

export interface ScramClientOptions {
  /** Client nonce; default 18 random bytes in base64, like libpq. For tests. */
  nonce?: string;
  /** Refuse servers asking for more PBKDF2 iterations than this (default 1,000,000). */
  maxIterations?: number;
}

/**
 * What passthrough authentication logs in with instead of a password: a user's ClientKey (recovered
 * from its own client's proof) and ServerKey (from the configured secret), with the salt and
 * iteration count they belong to. Without PBKDF2 these keys fit only the salt and iteration count of
 * the secret they came from, so PostgreSQL must offer exactly those.
 */
export interface ScramLoginKeys {
  clientKey: Buffer;
  serverKey: Buffer;
  salt: Buffer;
  iterations: number;
}

type Phase = 'initial' | 'client-first-sent' | 'client-final-sent' | 'finished';

const GS2_HEADER = 'n,,';
const POSITIVE_INT = /^[1-9][0-9]*$/;

function serverMalformed(detail: string): ProxyError {
  return new ProxyError('server.scram_malformed', SqlState.CONNECTION_FAILURE, 'malformed SCRAM message from PostgreSQL', {
    severity: 'FATAL',
    detail,
  });
}

function serverAuthFailed(message: string, detail?: string): ProxyError {
  return new ProxyError('server.auth_failed', SqlState.CONNECTION_FAILURE, message, {
    severity: 'FATAL',
    ...(detail === undefined ? {} : { detail }),
  });
}

/**
 * The client side of one SCRAM-SHA-256 exchange, used to log in to PostgreSQL. Sends an empty
 * username like libpq (PostgreSQL takes the user from the startup packet) and no channel binding.
 * Each method may be called once, in order; any failure ends the exchange.
 */
export class ScramClientSession {
  private phase: Phase = 'initial';
  private readonly nonce: string;
  private readonly maxIterations: number;
  private expectedServerSignature: Buffer | null = null;

  /** `credential`: the plain password, or the keys passthrough authentication recovered. */
  constructor(
    private readonly credential: string | ScramLoginKeys,
    opts: ScramClientOptions = {},
  ) {
    if (opts.nonce !== undefined && !isPrintableNonce(opts.nonce)) {
      throw new Error('ScramClientSession nonce must be printable ASCII without ","');
    }
    this.nonce = opts.nonce ?? randomNonce();
    this.maxIterations = opts.maxIterations ?? DEFAULT_MAX_SCRAM_ITERATIONS;
  }

  private get clientFirstBare(): string {
    return `n=,r=${this.nonce}`;
  }

  /** The client-first-message for SASLInitialResponse (mechanism SCRAM-SHA-256). */
  clientFirst(): Buffer {
    if (this.phase !== 'initial') throw new Error('ScramClientSession.clientFirst() may be called only once');
    this.phase = 'client-first-sent';
    return Buffer.from(GS2_HEADER + this.clientFirstBare, 'latin1');
  }

  /** Reads AuthenticationSASLContinue's server-first-message; returns the client-final-message. */
  handleServerFirst(data: Buffer): Buffer {
    this.advance('client-first-sent', 'AuthenticationSASLContinue');
    const payload = saslPayloadText(data);
    if ('problem' in payload) throw serverMalformed(payload.problem);
    const serverFirst = payload.text;
    const parts = serverFirst.split(',');
    if (parts[0].startsWith('m=')) throw serverMalformed('The server requires an unsupported SCRAM extension.');

    const nonce = splitAttribute(parts[0]);
    if (nonce?.name !== 'r') throw serverMalformed('Expected attribute "r" in server-first-message.');
    // A server that does not extend our nonce (or changes it) is replaying or confused.
    if (!nonce.value.startsWith(this.nonce) || nonce.value.length === this.nonce.length || !isPrintableNonce(nonce.value)) {
      throw serverMalformed('The server nonce does not extend the client nonce.');
    }
    const saltAttr = splitAttribute(parts[1] ?? '');
    if (saltAttr?.name !== 's') throw serverMalformed('Expected attribute "s" in server-first-message.');
    const salt = decodeBase64(saltAttr.value);
    if (salt === null || salt.length === 0) throw serverMalformed('The salt is not valid base64.');
    const iterAttr = splitAttribute(parts[2] ?? '');
    if (iterAttr?.name !== 'i') throw serverMalformed('Expected attribute "i" in server-first-message.');
    if (!POSITIVE_INT.test(iterAttr.value)) throw serverMalformed('The iteration count is not a positive integer.');
    const iterations = Number(iterAttr.value);
    if (iterations > this.maxIterations) {
      throw serverMalformed(
        `The server asks for ${iterAttr.value} PBKDF2 iterations, more than the limit of ${this.maxIterations}.`,
      );
    }
    if (parts.length !== 3) throw serverMalformed('Garbage found at the end of server-first-message.');

    const { clientKey, serverKey } = this.keysFor(salt, iterations);
    const withoutProof = `c=${Buffer.from(GS2_HEADER, 'latin1').toString('base64')},r=${nonce.value}`;
    const authMessage = Buffer.from(`${this.clientFirstBare},${serverFirst},${withoutProof}`, 'latin1');
    const proof = xorBuffers(clientKey, hmacSha256(sha256(clientKey), authMessage));
    this.expectedServerSignature = hmacSha256(serverKey, authMessage);
    this.phase = 'client-final-sent';
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'latin1');
  }

  /** Checks AuthenticationSASLFinal's server-final-message: the server must prove it knows the password. */
  verifyServerFinal(data: Buffer): void {
    this.advance('client-final-sent', 'AuthenticationSASLFinal');
    const payload = saslPayloadText(data);
    if ('problem' in payload) throw serverMalformed(payload.problem);
    const attr = splitAttribute(payload.text);
    if (attr?.name === 'e') {
      const reason = attr.value.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
      throw serverAuthFailed(`PostgreSQL reported a SCRAM authentication error: ${reason}`);
    }
    if (attr?.name !== 'v') throw serverMalformed('Expected attribute "v" or "e" in server-final-message.');
    const signature = decodeBase64(attr.value);
    if (signature === null || signature.length !== SCRAM_KEY_LEN) {
      throw serverMalformed('The server signature is not 32 bytes of base64.');
    }
    const expected = this.expectedServerSignature as Buffer;
    this.expectedServerSignature = null;
    // Server impersonation: only a server holding this role's ServerKey can produce this value.
    if (!timingSafeEqual(signature, expected)) {
      throw serverAuthFailed(
        'PostgreSQL sent an incorrect SCRAM server signature',
        'The server could not prove that it knows the password, so it may not be the server it claims to be.',
      );
    }
  }

  private keysFor(salt: Buffer, iterations: number): { clientKey: Buffer; serverKey: Buffer } {
    const credential = this.credential;
    if (typeof credential === 'string') return scramKeysFor(credential, salt, iterations);
    if (!salt.equals(credential.salt) || iterations !== credential.iterations) {
      throw serverAuthFailed(
        'the SCRAM secret configured for this user is not the one PostgreSQL has (its salt or iteration count differ)',
        'Passthrough authentication needs the secret exactly as pg_authid.rolpassword holds it: copy it again, or set server_password.',
      );
    }
    return credential;
  }

  /** Ends the exchange unless the caller moves it on: any failure after this is final. */
  private advance(expected: Phase, message: string): void {
    if (this.phase === 'initial') throw new Error(`ScramClientSession: clientFirst() must be called before ${message}`);
    const current = this.phase;
    this.phase = 'finished';
    if (current !== expected) throw serverMalformed(`Unexpected ${message} in the SCRAM exchange.`);
  }
}
