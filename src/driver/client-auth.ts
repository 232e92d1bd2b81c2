/**
 * Authenticates a client against its configured password: SCRAM-SHA-256 for plaintext and
 * SCRAM secrets, MD5 for md5 hashes, and a mock SCRAM exchange for unknown users (so a refusal
 * does not tell which user names exist). Speaks the exchange only; the machine decides what
 * success and failure lead to.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { md5SaltedResponse, SCRAM_MECHANISMS, ScramServerSession, scramSecretFor, type StoredPassword } from '../auth/index.js';
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
  private step = 0;

  constructor(
    private readonly user: string,
    private readonly stored: StoredPassword | null,
  ) {
    if (stored?.kind === 'md5') {
      this.scram = null;
      this.md5Salt = randomBytes(4);
    } else {
      this.scram = new ScramServerSession(user, stored ? scramSecretFor(stored) : null);
      this.md5Salt = null;
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
    const expected = Buffer.from(md5SaltedResponse((this.stored as { hash: string }).hash, this.md5Salt!));
    const got = Buffer.from(parsePasswordMessage(body));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return { failed: this.passwordFailed() };
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
    return new ProxyError('auth.failed', SqlState.INVALID_PASSWORD, `password authentication failed for user "${this.user}"`);
  }
}
