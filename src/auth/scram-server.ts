import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ProxyError } from '../protocol/proxy-error.js';
import { SqlState } from '../protocol/sqlstate.js';
import type { ScramSecret } from './password-format.js';
import {
  decodeBase64,
  hmacSha256,
  isPrintableNonce,
  randomNonce,
  saslPayloadText,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_DEFAULT_SALT_LEN,
  SCRAM_KEY_LEN,
  SCRAM_SHA_256,
  sha256,
  splitAttribute,
  xorBuffers,
} from './scram-common.js';

/** Mechanisms offered in AuthenticationSASL, in order of preference. */
export const SCRAM_MECHANISMS: readonly string[] = Object.freeze([SCRAM_SHA_256]);

export interface ScramServerOptions {
  /** Server half of the nonce; default 18 random bytes in base64, like PostgreSQL. For tests. */
  nonce?: string;
  /**
   * Key from which unknown users' mock salts are derived. Default: random per process. Give a
   * stable key to keep mock salts stable across restarts, as PostgreSQL's cluster-wide
   * mock_auth_nonce does.
   */
  mockSaltKey?: Buffer;
}

const processMockSaltKey = randomBytes(32);

type Phase = 'awaiting-client-first' | 'awaiting-client-final' | 'finished';

function malformed(detail: string): ProxyError {
  return new ProxyError('auth.scram_malformed', SqlState.PROTOCOL_VIOLATION, 'malformed SCRAM message', {
    severity: 'FATAL',
    detail,
  });
}

function unsupported(code: string, message: string): ProxyError {
  return new ProxyError(code, SqlState.FEATURE_NOT_SUPPORTED, message, { severity: 'FATAL' });
}

/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as PostgreSQL runs it: the
 * username inside the SCRAM messages is ignored in favour of the startup packet's, and a failed
 * exchange ends with an ErrorResponse rather than 'e='. Each method may be called once, in order;
 * any failure ends the exchange.
 */
export class ScramServerSession {
  private phase: Phase = 'awaiting-client-first';
  private readonly secret: ScramSecret;
  /** True for a mock exchange: it runs to the end and then fails like a wrong password. */
  private readonly doomed: boolean;
  private readonly serverNonce: string;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private combinedNonce = '';
  private clientKey: Buffer | null = null;

  /**
   * `secret` null means the user is unknown (or has no SCRAM secret). User enumeration: answering
   * such users differently would tell an attacker which names exist, so, like PostgreSQL's mock
   * authentication, the exchange proceeds with a salt derived deterministically from the username
   * and the default iteration count, and fails only at the final step, after the same work.
   */
  constructor(
    private readonly username: string,
    secret: ScramSecret | null,
    opts: ScramServerOptions = {},
  ) {
    if (opts.nonce !== undefined && !isPrintableNonce(opts.nonce)) {
      throw new Error('ScramServerSession nonce must be printable ASCII without ","');
    }
    this.serverNonce = opts.nonce ?? randomNonce();
    this.doomed = secret === null;
    this.secret = secret ?? {
      iterations: SCRAM_DEFAULT_ITERATIONS,
      salt: hmacSha256(opts.mockSaltKey ?? processMockSaltKey, Buffer.from(username, 'utf8')).subarray(0, SCRAM_DEFAULT_SALT_LEN),
      storedKey: randomBytes(SCRAM_KEY_LEN),
      serverKey: randomBytes(SCRAM_KEY_LEN),
    };
  }

  /** Reads SASLInitialResponse (mechanism and client-first-message); returns server-first-message. */
  handleClientFirst(mechanism: string, data: Buffer): Buffer {
    this.advance('awaiting-client-first', 'SASLInitialResponse');
    if (mechanism !== SCRAM_SHA_256) {
      throw new ProxyError(
        'auth.sasl_mechanism_unsupported',
        SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
        'client selected an invalid SASL authentication mechanism',
        { severity: 'FATAL', detail: `This server offers only ${SCRAM_MECHANISMS.join(', ')}.` },
      );
    }
    const payload = saslPayloadText(data);
    if ('problem' in payload) throw malformed(payload.problem);
    const parts = payload.text.split(',');

    const flag = parts[0];
    if (flag.startsWith('p')) {
      throw new ProxyError(
        'auth.channel_binding_unsupported',
        SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
        'SCRAM channel binding is not supported',
        {
          severity: 'FATAL',
          detail: 'The client asked for channel binding, but the server offered only SCRAM-SHA-256, without channel binding.',
        },
      );
    }
    // 'y' means "I support channel binding but think the server does not". That is true: no
    // -PLUS mechanism is offered, so there is no downgrade to detect (RFC 5802 section 6).
    if (flag !== 'n' && flag !== 'y') throw malformed('Unexpected channel-binding flag in client-first-message.');
    if (parts.length < 4) throw malformed('The client-first-message is incomplete.');
    if (parts[1].startsWith('a=')) {
      throw unsupported('auth.scram_authzid_unsupported', 'client uses authorization identity, but it is not supported');
    }
    if (parts[1] !== '') throw malformed('Unexpected attribute in client-first-message.');

    const bare = parts.slice(2);
    if (bare[0].startsWith('m=')) {
      throw unsupported('auth.scram_extension_unsupported', 'client requires an unsupported SCRAM extension');
    }
    if (splitAttribute(bare[0])?.name !== 'n') throw malformed('Expected attribute "n" in client-first-message.');
    const nonce = splitAttribute(bare[1]);
    if (nonce?.name !== 'r') throw malformed('Expected attribute "r" in client-first-message.');
    if (!isPrintableNonce(nonce.value)) throw malformed('The client nonce is empty or has non-printable characters.');
    // Optional extensions may follow; PostgreSQL ignores them too.
    if (bare.slice(2).some((part) => splitAttribute(part) === null)) {
      throw malformed('Garbage found at the end of client-first-message.');
    }

    this.gs2Header = `${flag},,`;
    this.clientFirstBare = bare.join(',');
    this.combinedNonce = nonce.value + this.serverNonce;
    const { salt, iterations } = this.secret;
    this.serverFirst = `r=${this.combinedNonce},s=${salt.toString('base64')},i=${iterations}`;
    this.phase = 'awaiting-client-final';
    return Buffer.from(this.serverFirst, 'latin1');
  }

  /** Reads SASLResponse (client-final-message), checks the proof; returns server-final-message. */
  handleClientFinal(data: Buffer): Buffer {
    this.advance('awaiting-client-final', 'SASLResponse');
    const payload = saslPayloadText(data);
    if ('problem' in payload) throw malformed(payload.problem);
    const parts = payload.text.split(',');

    const binding = splitAttribute(parts[0]);
    if (binding?.name !== 'c') throw malformed('Expected attribute "c" in client-final-message.');
    // Channel-binding downgrade: c= must repeat the gs2 header of client-first-message exactly
    // (base64 of 'n,,' or 'y,,'), so a flag rewritten in transit cannot go unnoticed.
    if (binding.value !== Buffer.from(this.gs2Header, 'latin1').toString('base64')) {
      throw malformed('The channel-binding attribute of client-final-message does not match client-first-message.');
    }
    const nonce = splitAttribute(parts[1] ?? '');
    if (nonce?.name !== 'r') throw malformed('Expected attribute "r" in client-final-message.');
    const proofAttr = splitAttribute(parts[parts.length - 1]);
    if (parts.length < 3 || proofAttr?.name !== 'p') throw malformed('Expected attribute "p" at the end of client-final-message.');
    if (parts.slice(2, -1).some((part) => splitAttribute(part) === null)) {
      throw malformed('Unexpected text in client-final-message.');
    }
    const proof = decodeBase64(proofAttr.value);
    if (proof === null || proof.length !== SCRAM_KEY_LEN) throw malformed('Malformed proof in client-final-message.');

    const withoutProof = parts.slice(0, -1).join(',');
    const authMessage = Buffer.from(`${this.clientFirstBare},${this.serverFirst},${withoutProof}`, 'latin1');
    // The proof is checked even when the outcome is already known (mock exchange, wrong nonce),
    // so response timing does not reveal whether the user exists.
    const clientKey = xorBuffers(proof, hmacSha256(this.secret.storedKey, authMessage));
    const storedKey = this.secret.storedKey;
    const proofMatches = storedKey.length === SCRAM_KEY_LEN && timingSafeEqual(sha256(clientKey), storedKey);
    if (!proofMatches || nonce.value !== this.combinedNonce || this.doomed) {
      throw new ProxyError('auth.failed', SqlState.INVALID_PASSWORD, `password authentication failed for user "${this.username}"`, {
        severity: 'FATAL',
      });
    }
    // Passthrough authentication: the proof checked, so this is the user's real ClientKey
    // (H(ClientKey) = StoredKey), with which gatehouse can log in to PostgreSQL as the user.
    this.clientKey = clientKey;
    return Buffer.from(`v=${hmacSha256(this.secret.serverKey, authMessage).toString('base64')}`, 'latin1');
  }

  /**
   * The ClientKey recovered from a successful exchange (ClientProof XOR ClientSignature, checked
   * against StoredKey), or null before success and for mock exchanges. A secret: never log it.
   */
  get recoveredClientKey(): Buffer | null {
    return this.clientKey;
  }

  private advance(expected: Phase, message: string): void {
    const current = this.phase;
    this.phase = 'finished';
    if (current !== expected) {
      throw new ProxyError('auth.scram_out_of_order', SqlState.PROTOCOL_VIOLATION, `unexpected ${message} in SCRAM exchange`, {
        severity: 'FATAL',
      });
    }
  }
}
