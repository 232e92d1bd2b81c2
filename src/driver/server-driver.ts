/**
 * The server driver: opens backend sockets and runs the server-handshake machine over them.
 * It reports socket and protocol facts as events (the reply byte and what came with it, whether
 * the SCRAM server signature was verified at AuthenticationOk, what followed ReadyForQuery) and
 * carries out the machine's commands; every server_tls_mode and protocol decision is the machine's,
 * so the journal's final state is what the pool and the waiting client got.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { serverHandshakeMachine, SERVER_HANDSHAKE_VERSION, type ServerCommand, type ServerEvent } from '../../machines/server-handshake.js';
import type { ServerFailure, ServerTlsMode, ServerTlsNegotiation } from '../../machines/server-handshake.types.js';
import { encodeStartupMessage, MessageFramer, parseBackendMessage, ProxyError, reportedSqlState, SqlState } from '../protocol/index.js';
import type { ServerCredential } from '../auth/index.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import { ServerConnection, type BackendKey } from '../pool/server-connection.js';
import { hostnameError, serverTlsConnectOptions, type ServerTlsMaterial } from '../tls/server-tls.js';
import { finalState, hostMachine } from './machine-host.js';
import { ServerAuthenticator } from './server-auth.js';
import { requestSsl } from './ssl-request.js';
import { realTimers, type Timers } from './timers.js';

export interface ServerConnectOptions {
  id: string;
  pool: string;
  host: string;
  port: number;
  mode: ServerTlsMode;
  negotiation: ServerTlsNegotiation;
  /** Required for every mode but disable. */
  tls: ServerTlsMaterial | null;
  user: string;
  /** How to answer PostgreSQL's authentication request: a password, passthrough keys, or nothing. */
  credential: ServerCredential;
  /** Sent in the StartupMessage (user and database included). */
  startupParameters: Record<string, string>;
  connectTimeoutMs: number;
  logger: Logger;
  metrics: Metrics;
  journals: JournalBook;
  /** Called once when the established connection closes. */
  onClosed: (conn: ServerConnection) => void;
  timers?: Timers;
  inspect?: unknown;
}

export function connectServer(opts: ServerConnectOptions): Promise<ServerConnection> {
  return new ServerDriver(opts).result;
}

class ServerDriver {
  readonly result: Promise<ServerConnection>;
  private resolve!: (c: ServerConnection) => void;
  private reject!: (e: Error) => void;
  private socket: Socket | TLSSocket | null = null;
  private framer = new MessageFramer();
  private readonly parameters = new Map<string, string>();
  private backendKey: BackendKey | null = null;
  private tlsStartedAt = 0;
  /** When the backend-creation phase under way began (pg_doorman_backend_create_duration_seconds). */
  private phaseAt = 0;
  private tlsInfo: { protocol: string; cipher: string } | null = null;
  private readonly auth: ServerAuthenticator;
  private readonly timers: Timers;
  private readonly timer: unknown;
  private readonly run;
  private readonly journal;

  constructor(private readonly opts: ServerConnectOptions) {
    this.result = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.auth = new ServerAuthenticator(opts.user, opts.credential);
    const input = { mode: opts.mode, negotiation: opts.negotiation };
    this.journal = opts.journals.open(opts.id, 'server-handshake', SERVER_HANDSHAKE_VERSION, input);
    this.timers = opts.timers ?? realTimers;
    this.timer = this.timers.set(() => this.send({ type: 'timer.expired', timer: 'connect' }), opts.connectTimeoutMs);
    this.run = hostMachine(serverHandshakeMachine, input, this.journal, (c) => this.execute(c), (err) => this.crash(err), opts.inspect);
  }

  private send(event: ServerEvent): void {
    this.run.send(event);
  }

  private execute(command: ServerCommand): void {
    switch (command.type) {
      case 'connect':
        return this.openSocket();
      case 'reconnect':
        this.detach();
        this.socket?.destroy();
        this.framer = new MessageFramer();
        return this.openSocket();
      case 'send.sslRequest':
        return this.sendSslRequest();
      case 'tls.start':
        return this.startTls();
      case 'send.startup':
        this.phaseAt = performance.now();
        this.socket!.write(encodeStartupMessage(this.opts.startupParameters));
        return this.readMessages();
      case 'auth.respond': {
        const result = this.auth.respond(command.method);
        if ('failure' in result) return this.send({ type: 'auth.failed', message: result.failure });
        if (result.message) this.socket!.write(result.message);
        return;
      }
      case 'fail':
        return this.fail(command.failure);
      case 'ready':
        return this.finishReady();
    }
  }

  private openSocket(): void {
    const socket = netConnect({ host: this.opts.host, port: this.opts.port, noDelay: true });
    this.socket = socket;
    this.phaseAt = performance.now();
    // Node clears socket.connecting before it emits a connect error, so remember the connect ourselves.
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      this.phaseDone('tcp_connect');
      this.send({ type: 'socket.connected' });
    });
    socket.once('error', (err) => {
      if (!connected) this.send({ type: 'socket.connectFailed', message: err.message });
    });
    socket.once('close', () => {
      if (connected && this.socket === socket) this.send({ type: 'socket.closed' });
    });
  }

  /** A phase of PgDoorman's backend_create_duration_seconds ended now (success only); the next one starts. */
  private phaseDone(phase: 'tcp_connect' | 'tls' | 'auth' | 'startup'): void {
    const now = performance.now();
    this.opts.metrics.backendCreateDuration.observe({ phase }, (now - this.phaseAt) / 1000);
    this.phaseAt = now;
  }

  private sendSslRequest(): void {
    // The tls phase runs from the SSLRequest to the end of the handshake, as PgDoorman times it.
    this.phaseAt = performance.now();
    requestSsl(this.socket as Socket, (event) => this.send(event));
  }

  private startTls(): void {
    const material = this.opts.tls;
    if (!material) return this.send({ type: 'tls.failed', reason: 'no TLS material configured for this pool' });
    const plain = this.socket as Socket;
    plain.removeAllListeners('close');
    this.tlsStartedAt = performance.now();
    const secure = tlsConnect({ socket: plain, ...serverTlsConnectOptions(material, this.opts.host) });
    this.socket = secure;
    secure.once('secureConnect', () => {
      this.phaseDone('tls');
      this.opts.metrics.serverTlsHandshakeDuration.observe({ pool: this.opts.pool }, (performance.now() - this.tlsStartedAt) / 1000);
      const cipher = secure.getCipher();
      this.tlsInfo = { protocol: secure.getProtocol() ?? 'unknown', cipher: cipher?.standardName ?? cipher?.name ?? 'unknown' };
      this.send({
        type: 'tls.established',
        protocol: this.tlsInfo.protocol,
        cipher: this.tlsInfo.cipher,
        authorized: secure.authorized,
        authorizationError: secure.authorizationError ? String(secure.authorizationError) : null,
        hostnameError: hostnameError(this.opts.host, secure.getPeerCertificate()),
      });
    });
    // Reported in every state; the machine decides what a TLS error means where it arrives
    // (under TLS 1.3 a refused client certificate is only reported after secureConnect).
    secure.once('error', (err) => this.send({ type: 'tls.failed', reason: err.message }));
    secure.once('close', () => {
      if (this.socket === secure) this.send({ type: 'socket.closed' });
    });
  }

  private readMessages(): void {
    const socket = this.socket!;
    socket.on('data', (chunk: Buffer) => this.onMessages(chunk));
    socket.resume();
  }

  private onMessages(chunk: Buffer): void {
    try {
      this.framer.push(chunk);
      for (let m = this.framer.next(); m; m = this.framer.next()) {
        if (this.run.getSnapshot().status !== 'active') return;
        this.onBackendMessage(m.type, m.body);
      }
    } catch (err) {
      this.send({ type: 'backend.protocolViolation', message: (err as Error).message });
    }
  }

  private onBackendMessage(type: number, body: Buffer): void {
    const msg = parseBackendMessage(type, body);
    switch (msg.type) {
      case 'authenticationOk':
        this.phaseDone('auth');
        return this.send({ type: 'backend.authOk', scramProofPending: this.auth.awaitingServerProof });
      case 'authenticationCleartextPassword':
        return this.send({ type: 'backend.authRequest', method: 'cleartext', detail: 'password' });
      case 'authenticationMD5Password':
        this.auth.md5Salt = Buffer.from(msg.salt);
        return this.send({ type: 'backend.authRequest', method: 'md5', detail: 'md5' });
      case 'authenticationSASL':
        return msg.mechanisms.includes('SCRAM-SHA-256')
          ? this.send({ type: 'backend.authRequest', method: 'scram-sha-256', detail: msg.mechanisms.join(', ') })
          : this.send({ type: 'backend.authRequest', method: 'unsupported', detail: `SASL ${msg.mechanisms.join(', ')}` });
      case 'authenticationSASLContinue':
      case 'authenticationSASLFinal': {
        const result = this.auth.continueSasl(msg.type, msg.data);
        if ('failure' in result) return this.send({ type: 'auth.failed', message: result.failure });
        if (result.message) this.socket!.write(result.message);
        return;
      }
      case 'authenticationUnsupported':
        return this.send({ type: 'backend.authRequest', method: 'unsupported', detail: `authentication request ${msg.code}` });
      case 'parameterStatus':
        this.parameters.set(msg.name, msg.value);
        return;
      case 'backendKeyData':
        this.backendKey = { processId: msg.processId, secretKey: Buffer.from(msg.secretKey) };
        return;
      case 'readyForQuery':
        return this.send({ type: 'backend.ready', trailingBytes: this.framer.buffered });
      case 'errorResponse':
        return this.send({ type: 'backend.error', sqlstate: reportedSqlState(msg.fields.code), message: msg.fields.message });
      case 'noticeResponse':
      case 'negotiateProtocolVersion':
        return;
      default:
        return this.send({ type: 'backend.protocolViolation', message: `unexpected message type ${String.fromCharCode(type)} during startup` });
    }
  }

  private detach(): void {
    const s = this.socket;
    if (!s) return;
    s.removeAllListeners('data');
    s.removeAllListeners('close');
    s.removeAllListeners('secureConnect');
    s.on('error', () => {});
  }

  private finishReady(): void {
    this.phaseDone('startup');
    this.timers.clear(this.timer);
    const socket = this.socket!;
    this.detach();
    socket.pause();
    socket.removeAllListeners('error');
    this.journal.end(finalState(this.run.getSnapshot()));
    const { id, pool, host, port, mode, negotiation, tls: material } = this.opts;
    const conn = new ServerConnection({
      id,
      pool,
      route: { host, port, mode, negotiation, material },
      socket,
      tls: this.tlsInfo,
      parameters: this.parameters,
      backendKey: this.backendKey,
      onClosed: this.opts.onClosed,
    });
    this.resolve(conn);
  }

  private fail(failure: ServerFailure): void {
    this.timers.clear(this.timer);
    const { pool, host, port, mode } = this.opts;
    if (failure.tlsError) this.opts.metrics.serverTlsHandshakeErrors.inc({ pool });
    this.opts.metrics.serverConnectFailures.inc({ pool, reason: failure.reason });
    this.opts.logger.warn({ pool, host, port, mode, reason: failure.reason, sqlstate: failure.sqlstate }, `backend connection failed: ${failure.message}`);
    this.detach();
    this.socket?.destroy();
    this.journal.end(finalState(this.run.getSnapshot()));
    this.reject(new ProxyError(`server.${failure.reason}`, failure.sqlstate, failure.message));
  }

  private crash(err: unknown): void {
    this.opts.logger.error({ err }, 'server-handshake machine crashed');
    this.fail({ reason: 'internal_error', sqlstate: SqlState.INTERNAL_ERROR, message: 'internal error while connecting to the server', tlsError: false });
  }
}

