/**
 * Answers the authentication PostgreSQL asks for (cleartext, MD5, SCRAM-SHA-256) with the
 * configured server_username/server_password. Which method is allowed is the machine's call;
 * this only speaks the exchange.
 */
import type { ServerAuthMethod } from '../../machines/server-handshake.types.js';
import { md5ClientResponse, ScramClientSession } from '../auth/index.js';
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
    private readonly password: string | null,
  ) {}

  respond(method: ServerAuthMethod): AuthStep {
    if (this.password === null) {
      return { failure: `server asked for ${method} authentication but no server_password is configured for user "${this.user}"` };
    }
    switch (method) {
      case 'cleartext':
        return { message: passwordMessage(this.password) };
      case 'md5':
        return { message: passwordMessage(md5ClientResponse(this.user, this.password, this.md5Salt ?? Buffer.alloc(4))) };
      case 'scram-sha-256':
        this.scram = new ScramClientSession(this.password);
        return { message: saslInitialResponse('SCRAM-SHA-256', this.scram.clientFirst()) };
    }
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
