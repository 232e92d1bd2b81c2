/**
 * Answers the authentication PostgreSQL asks for (cleartext, MD5, SCRAM-SHA-256) with the user's
 * server credential: a password, or passthrough from the stored md5 hash or SCRAM secret. Which
 * method is allowed is the machine's call; this only speaks the exchange, and says plainly when
 * the credential cannot answer what the server asks.
 */
import type { ServerAuthMethod } from '../../machines/server-handshake.types.js';
import { md5ClientResponse, md5SaltedResponse, ScramClientSession, type ServerCredential } from '../auth/index.js';
import { passwordMessage, saslInitialResponse, saslResponse } from '../protocol/index.js';

export type AuthStep = { message: Buffer | null } | { failure: string };

export class ServerAuthenticator {
  md5Salt: Buffer | null = null;
  private scram: ScramClientSession | null = null;
  private serverProven = false;

  /**
   * A SCRAM exchange started and the server has not proven it knows the password (no verified
   * server signature): AuthenticationOk now would let an impostor server skip the proof.
   */
  get awaitingServerProof(): boolean {
    return this.scram !== null && !this.serverProven;
  }

  constructor(
    private readonly user: string,
    private readonly credential: ServerCredential,
  ) {}

  respond(method: ServerAuthMethod): AuthStep {
    const credential = this.credential;
    const salt = this.md5Salt ?? Buffer.alloc(4);
    switch (credential.kind) {
      case 'none':
        return { failure: `server asked for ${method} authentication but no server_password is configured for user "${this.user}"` };
      case 'password':
        if (method === 'cleartext') return { message: passwordMessage(credential.password) };
        if (method === 'md5') return { message: passwordMessage(md5ClientResponse(this.user, credential.password, salt)) };
        return this.startScram(new ScramClientSession(credential.password));
      case 'md5-passthrough':
        if (method === 'md5') return { message: passwordMessage(md5SaltedResponse(credential.hash, salt)) };
        return {
          failure:
            `server asked for ${method} authentication for user "${this.user}", but its configured password is an md5 hash, ` +
            'which can answer only md5 authentication: use md5 in pg_hba.conf for this user, or set server_password',
        };
      case 'scram-passthrough': {
        if (method !== 'scram-sha-256') {
          return {
            failure:
              `server asked for ${method} authentication for user "${this.user}", but its configured password is a SCRAM secret, ` +
              'which can answer only scram-sha-256 authentication: use scram-sha-256 in pg_hba.conf for this user, or set server_password',
          };
        }
        const keys = credential.keys.loginKeys();
        if (keys === null) {
          return {
            failure:
              `cannot log in to PostgreSQL as "${this.user}" yet: its password is a SCRAM secret (passthrough authentication), ` +
              'and no client of this user has authenticated with it since gatehouse started, so its ClientKey is unknown ' +
              '(set server_password to log in without a client)',
          };
        }
        return this.startScram(new ScramClientSession(keys));
      }
    }
  }

  private startScram(session: ScramClientSession): AuthStep {
    this.scram = session;
    return { message: saslInitialResponse('SCRAM-SHA-256', session.clientFirst()) };
  }

  continueSasl(kind: 'authenticationSASLContinue' | 'authenticationSASLFinal', data: Buffer): AuthStep {
    if (!this.scram) return { failure: 'server sent a SASL message without a SASL exchange' };
    try {
      if (kind === 'authenticationSASLContinue') return { message: saslResponse(this.scram.handleServerFirst(data)) };
      this.scram.verifyServerFinal(data);
      this.serverProven = true;
      return { message: null };
    } catch (err) {
      return { failure: `SCRAM authentication with the server failed: ${(err as Error).message}` };
    }
  }
}
