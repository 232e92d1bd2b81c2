/**
 * Authenticates a client against its configured password with the exchange the machine chose
 * (`auth.start`): SCRAM-SHA-256 against a SCRAM secret (a plaintext password's is derived), or MD5
 * against an md5 hash (a plaintext password's is computed). A mock exchange, for an unknown user
 * or a password that has nothing to check the chosen method against, runs to the end and fails
 * like a wrong password, so a refusal does not tell which user names exist. Speaks the exchange
 * only; the machine decides what success and failure lead to.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { md5PasswordHash, md5SaltedResponse, SCRAM_MECHANISMS, ScramServerSession, scramSecretFor, type StoredPassword } from '../auth/index.js';
import {
  authenticationMD5Password,
  authenticationOk,
  authenticationSASL,
  authenticationSASLContinue,
  authenticationSASLFinal,
  FrontendType,
  parsePasswordMessage,
  parseSaslInitialResponse,
  ProxyError,
  SqlState,
} from '../protocol/index.js';

export type ClientAuthStep = { reply: Buffer; done: boolean } | { failed: ProxyError };

export class ClientAuthenticator {
  private readonly scram: ScramServerSession | null;
  private readonly md5Salt: Buffer | null;
  /** The md5 hash the client's answer is checked against; null for a mock MD5 exchange. */
  private readonly md5Hash: string | null;
  private step = 0;

  constructor(
    private readonly user: string,
    stored: StoredPassword | null,
    method: 'scram-sha-256' | 'md5',
    mock: boolean,
  ) {
    if (method === 'md5') {
      this.scram = null;
      this.md5Salt = randomBytes(4);
      this.md5Hash = mock || stored === null ? null : stored.kind === 'md5' ? stored.hash : stored.kind === 'plain' ? md5PasswordHash(user, stored.password) : null;
    } else {
      const secret = mock || stored === null || stored.kind === 'md5' ? null : scramSecretFor(stored);
      this.scram = new ScramServerSession(user, secret);
      this.md5Salt = null;
      this.md5Hash = null;
    }
  }

  /** The authentication request that opens the exchange. */
  start(): Buffer {
    return this.md5Salt ? authenticationMD5Password(this.md5Salt) : authenticationSASL([...SCRAM_MECHANISMS]);
  }

  /** One message from the client during authentication. */
  onMessage(type: number, body: Buffer): ClientAuthStep {
    if (type !== FrontendType.Password) {
      return {
        failed: new ProxyError('auth.unexpected_message', SqlState.PROTOCOL_VIOLATION, `expected password response, got message type "${String.fromCharCode(type)}"`),
      };
    }
    try {
      return this.md5Salt ? this.md5(body) : this.scramStep(body);
    } catch (err) {
      if (err instanceof ProxyError) return { failed: err };
      throw err;
    }
  }

  private md5(body: Buffer): ClientAuthStep {
    // A mock exchange compares with a hash nobody knows, so it takes the same work and always fails.
    const hash = this.md5Hash ?? `md5${randomBytes(16).toString('hex')}`;
    const expected = Buffer.from(md5SaltedResponse(hash, this.md5Salt!));
    const got = Buffer.from(parsePasswordMessage(body));
    const same = got.length === expected.length && timingSafeEqual(got, expected);
    if (!same || this.md5Hash === null) return { failed: this.passwordFailed() };
    return { reply: authenticationOk(), done: true };
  }

  private scramStep(body: Buffer): ClientAuthStep {
    if (this.step++ === 0) {
      const { mechanism, data } = parseSaslInitialResponse(body);
      return { reply: authenticationSASLContinue(this.scram!.handleClientFirst(mechanism, data)), done: false };
    }
    const final = this.scram!.handleClientFinal(body);
    return { reply: Buffer.concat([authenticationSASLFinal(final), authenticationOk()]), done: true };
  }

  /**
   * After a successful SCRAM exchange, the ClientKey the client's proof revealed (passthrough
   * authentication logs in to PostgreSQL with it); null otherwise. A secret: never logged.
   */
  get clientKey(): Buffer | null {
    return this.scram?.recoveredClientKey ?? null;
  }

  private passwordFailed(): ProxyError {
    return new ProxyError('auth.failed', SqlState.INVALID_PASSWORD, `password authentication failed for user "${this.user}"`, { severity: 'FATAL' });
  }
}
