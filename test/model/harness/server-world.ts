/**
 * One generated server-handshake path against the real server driver (connectServer) and a
 * scripted backend on a real socket. The test plays PostgreSQL: it answers SSLRequest, runs the
 * TLS server side, asks for authentication, reports errors and ReadyForQuery.
 */
import type { Logger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import type { MachineRun } from '../../../src/driver/machine-host.js';
import type { ServerEvent, ServerHandshakeInput } from '../../../machines/server-handshake.js';
import { ScramServerSession, deriveScramSecret } from '../../../src/auth/index.js';
import { connectServer } from '../../../src/driver/server-driver.js';
import type { JournalBook, JournalEntry } from '../../../src/journal/journal.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import type { ServerConnection } from '../../../src/pool/server-connection.js';
import {
  authenticationCleartextPassword,
  authenticationMD5Password,
  authenticationOk,
  authenticationSASL,
  authenticationSASLContinue,
  authenticationSASLFinal,
  backendKeyData,
  encodeErrorResponse,
  parameterStatus,
  parseSaslInitialResponse,
  readyForQuery,
} from '../../../src/protocol/index.js';
import type { ServerTlsMaterial } from '../../../src/tls/server-tls.js';
import { EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { ManualTimers } from './manual-timers.js';
import { nextStepOf, type ModelPath, type ModelStep } from './model-paths.js';
import type { ModelPki } from './pki.js';
import { BackendPeer, ScriptedBackend } from './server-backend.js';
import {
  BYTES_AFTER_READY,
  certChoiceOf,
  INJECTED_AFTER_N,
  INJECTED_AFTER_S,
  SERVER_PASSWORD,
  SERVER_USER,
  SSL_REQUEST_ERROR,
  STARTUP_PARAMETERS,
} from './server-samples.js';

export interface ServerFixture {
  pki: ModelPki;
  metrics: Metrics;
  logger: Logger;
  book: JournalBook;
  /** TLS material of each mode (null for disable), loaded with the real loader. */
  material: (input: ServerHandshakeInput) => ServerTlsMaterial | null;
  /** A port nobody listens on. */
  closedPort: () => Promise<number>;
}

export const BACKEND_PARAMETERS: ReadonlyArray<[string, string]> = [
  ['server_version', '17.2'],
  ['integer_datetimes', 'on'],
];
export const BACKEND_KEY = { processId: 777, secretKey: Buffer.from([0xca, 0xfe, 0xba, 0xbe]) };

type Outcome = { ok: ServerConnection } | { err: Error & { sqlstate?: string; code?: string } };
type AuthAsked = 'cleartext' | 'md5' | 'scram-sha-256' | 'unsupported';

let worlds = 0;

export class ServerWorld {
  readonly id = `server-${++worlds}`;
  readonly timers = new ManualTimers();
  readonly backend = new ScriptedBackend();
  actor!: MachineRun<AnyStateMachine>;
  outcome!: Promise<Outcome>;
  settled: Outcome | null = null;
  /** The last authentication the backend asked for on the current connection. */
  authAsked: AuthAsked | null = null;
  md5Salt = Buffer.from([1, 2, 3, 4]);

  constructor(
    readonly fixture: ServerFixture,
    readonly input: ServerHandshakeInput,
    private readonly path: ModelPath<ServerEvent>,
  ) {}

  /** Sets everything up, then starts the driver last: nothing may wait on I/O between that and the first step. */
  async open(): Promise<void> {
    const listening = await this.backend.listen();
    const refused = this.path.steps[1]?.event.type === 'socket.connectFailed';
    const port = refused ? await this.fixture.closedPort() : listening;
    let actor: MachineRun<AnyStateMachine> | null = null;
    const result = connectServer({
      id: this.id,
      pool: 'model',
      host: 'localhost',
      port,
      mode: this.input.mode,
      negotiation: this.input.negotiation,
      tls: this.fixture.material(this.input),
      user: SERVER_USER,
      credential: { kind: 'password', password: SERVER_PASSWORD },
      startupParameters: STARTUP_PARAMETERS,
      connectTimeoutMs: 60_000,
      logger: this.fixture.logger,
      metrics: this.fixture.metrics,
      journals: this.fixture.book,
      onClosed: () => {},
      timers: this.timers,
      // connectServer() returns only a promise: its live actor is observed through the inspection hook.
      inspect: (e: { type: string; actorRef?: unknown }) => {
        if (e.type === '@xstate.actor') actor ??= e.actorRef as MachineRun<AnyStateMachine>;
      },
    });
    if (!actor) throw new Error('connectServer() created no actor');
    this.actor = actor;
    this.outcome = result.then(
      (ok) => (this.settled = { ok }),
      (err: Error) => (this.settled = { err }),
    );
  }

  entries(): JournalEntry[] {
    const record = this.fixture.book.find(this.id);
    if (!record) throw new Error(`no journal for ${this.id}`);
    return record.entries;
  }

  /** How many backend connections the driver reported connected (the retry of allow is the second). */
  connections(): number {
    return this.entries().filter((e) => e.event.type === 'socket.connected').length;
  }

  get peer(): BackendPeer {
    const peer = this.backend.current;
    if (!peer) throw new Error('backend: no connection accepted yet');
    return peer;
  }

  cause(step: ModelStep<ServerEvent>, index: number): Promise<void> | void {
    const event = step.event;
    switch (event.type) {
      case 'socket.connected':
      case 'socket.connectFailed':
        // The backend accepts on its own; a refused connection was arranged before (closed port or listener).
        return;
      case 'backend.sslReply': {
        const reply = { S: 'S', N: 'N', E: null, other: 'H' }[event.reply];
        if (reply === null) return this.peer.write(SSL_REQUEST_ERROR);
        if (event.trailingBytes === 0) return this.peer.write(reply);
        // One write, so the driver reads the reply and what came with it together.
        return this.peer.write(Buffer.concat([Buffer.from(reply), event.reply === 'N' ? INJECTED_AFTER_N : INJECTED_AFTER_S]));
      }
      case 'tls.established': {
        const pki = this.fixture.pki;
        const choice = certChoiceOf(event);
        return this.peer.startTls(choice === 'trusted' ? pki.backendTrusted : choice === 'untrusted' ? pki.backendUntrusted : pki.backendOtherHost);
      }
      case 'tls.failed':
        // Once TLS is up: a record nobody can decrypt (tampering, or a refusal the driver cannot read).
        if (this.peer.tls) return this.peer.injectRecord();
        // During the handshake: not PostgreSQL at all, an HTTP server answering the ClientHello.
        return this.peer.write('HTTP/1.1 400 Bad Request\r\n\r\n');
      case 'backend.authRequest':
        return this.askAuth(event.method);
      case 'backend.authOk':
        return this.authOk(event.scramProofPending);
      case 'backend.error':
        // allow retries on a new socket: a path that wants that retry refused must stop listening first.
        if (nextStepOf(this.path, index + 1, ['socket.connected', 'socket.connectFailed'])?.event.type === 'socket.connectFailed') {
          this.backend.stopListening();
        }
        return this.peer.write(encodeErrorResponse({ severity: 'FATAL', sqlstate: event.sqlstate, message: event.message }));
      case 'backend.ready':
        return this.peer.write(
          Buffer.concat([
            ...BACKEND_PARAMETERS.map(([name, value]) => parameterStatus(name, value)),
            backendKeyData(BACKEND_KEY.processId, BACKEND_KEY.secretKey),
            readyForQuery('I'),
            event.trailingBytes > 0 ? BYTES_AFTER_READY : Buffer.alloc(0),
          ]),
        );
      case 'backend.protocolViolation':
        // A DataRow where only authentication and startup messages may come.
        return this.peer.write(Buffer.from([0x44, 0, 0, 0, 6, 0, 0]));
      case 'auth.failed':
        // After AuthenticationOk any SASL message is out of turn, whatever the login was.
        if (this.path.steps[index - 1].state.matches({ negotiating: 'starting-up' })) return this.peer.write(authenticationSASLContinue(Buffer.from('r=bogus')));
        return this.authFails();
      case 'socket.closed':
        return this.peer.destroy();
      case 'timer.expired':
        // Synchronously, with no I/O awaited since the previous step: in connecting and reconnecting the
        // TCP connect can only complete in a later event-loop turn, so the clock wins deterministically.
        return this.timers.fireAll();
    }
  }

  private askAuth(method: AuthAsked): void {
    this.authAsked = method;
    const request = {
      cleartext: () => authenticationCleartextPassword(),
      md5: () => authenticationMD5Password(this.md5Salt),
      'scram-sha-256': () => authenticationSASL(['SCRAM-SHA-256']),
      // AuthenticationGSS (7): a method gatehouse does not speak.
      unsupported: () => Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 7]),
    }[method];
    this.peer.write(request());
  }

  /**
   * Runs the SCRAM exchange up to the server-final-message: signed correctly, signed wrongly, or
   * (an impostor that cannot sign) never sent at all.
   */
  private async scramUntilFinal(final: 'signed' | 'wrong' | 'skipped'): Promise<void> {
    const server = new ScramServerSession(SERVER_USER, deriveScramSecret(SERVER_PASSWORD));
    const initial = this.scramInitial!;
    this.peer.write(authenticationSASLContinue(server.handleClientFirst(initial.mechanism, initial.data)));
    const response = await this.peer.reader.message();
    if (final === 'skipped') return;
    const signature = server.handleClientFinal(response.body);
    this.peer.write(authenticationSASLFinal(final === 'signed' ? signature : Buffer.from(`v=${Buffer.alloc(32, 7).toString('base64')}`)));
  }

  /** Set by the effect check of a SCRAM authRequest: the SASLInitialResponse the driver sent. */
  scramInitial: ReturnType<typeof parseSaslInitialResponse> | null = null;

  private async authOk(scramProofPending: boolean): Promise<void> {
    if (this.authAsked === 'scram-sha-256') await this.scramUntilFinal(scramProofPending ? 'skipped' : 'signed');
    this.peer.write(authenticationOk());
  }

  private async authFails(): Promise<void> {
    if (this.authAsked === 'scram-sha-256') return this.scramUntilFinal('wrong');
    // A SASL continuation outside any SASL exchange.
    this.peer.write(authenticationSASLContinue(Buffer.from('r=bogus')));
  }

  /**
   * Close the backend and wait (bounded) for the driver to settle, so a path that ends mid-handshake
   * does not count its failure in the next path's metrics.
   */
  async dispose(): Promise<void> {
    this.backend.dispose();
    const settled = await Promise.race([this.outcome, new Promise<null>((resolve) => setTimeout(() => resolve(null), EFFECT_TIMEOUT_MS).unref())]);
    if (settled && 'ok' in settled) settled.ok.close();
  }
}
