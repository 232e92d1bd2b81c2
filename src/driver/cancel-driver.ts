/**
 * The cancel driver: sends one CancelRequest to PostgreSQL (or to the gatehouse peer that owns the
 * session) on a new socket by running the
 * cancel-request machine over it. It reports socket and TLS facts as events (journaled first, in
 * the same JournalBook as every connection) and carries out the machine's commands; whether the
 * cancel goes over TLS, how it is negotiated and which certificate is good enough are the
 * machine's decisions. The cancel key is written to the socket and nowhere else: not in an event,
 * the journal, a log line or the inspector.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CANCEL_REQUEST_VERSION, cancelRequestMachine, type CancelCommand, type CancelEvent, type CancelFailure, type CancelRequestInput } from '../../machines/cancel-request.js';
import { unixSocketPath } from '../config/unix-socket.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import type { BackendKey, ServerRoute } from '../pool/server-connection.js';
import { encodeCancelRequest } from '../protocol/index.js';
import { hostnameError, serverTlsConnectOptions } from '../tls/server-tls.js';
import { finalState, hostMachine } from './machine-host.js';
import { requestSsl } from './ssl-request.js';
import { realTimers, type Timers } from './timers.js';

/** How long a cancel may take, connect to close, before it is given up (PostgreSQL answers in milliseconds). */
export const CANCEL_TIMEOUT_MS = 5000;

/** Whom the cancel is for: PostgreSQL behind `pool`, or the gatehouse instance with general.peer_id `peer`. */
export type CancelTarget = { pool: string } | { peer: number };

export interface CancelOptions {
  /** Journal id (`x<N>`), also on every log line. */
  id: string;
  target: CancelTarget;
  /**
   * How the cancelled session's connection was reached; the cancel takes the same way. A host that starts with `/`
   * is a directory holding the Unix socket `.s.PGSQL.<port>`.
   */
  route: ServerRoute;
  key: BackendKey;
  /** The cancelled session's backend connection is encrypted. */
  sessionTls: boolean;
  logger: Logger;
  metrics: Metrics;
  journals: JournalBook;
  timeoutMs?: number;
  timers?: Timers;
  inspect?: unknown;
}

export type CancelOutcome = { sent: true } | { sent: false; failure: CancelFailure };

/** Resolves once the cancel was sent or given up; never rejects (the client that asked waits for nothing). */
export function sendCancel(opts: CancelOptions): Promise<CancelOutcome> {
  return new CancelDriver(opts).result;
}

class CancelDriver {
  readonly result: Promise<CancelOutcome>;
  private resolve!: (outcome: CancelOutcome) => void;
  private socket: Socket | TLSSocket | null = null;
  private readonly packet: Buffer;
  private readonly timers: Timers;
  private readonly timer: unknown;
  private readonly journal;
  private readonly run;

  constructor(private readonly opts: CancelOptions) {
    this.result = new Promise((resolve) => (this.resolve = resolve));
    this.packet = encodeCancelRequest(opts.key.processId, opts.key.secretKey);
    const { mode, negotiation } = opts.route;
    const input: CancelRequestInput = { mode, negotiation, sessionTls: opts.sessionTls };
    if ('peer' in opts.target) input.peer = opts.target.peer;
    this.journal = opts.journals.open(opts.id, 'cancel-request', CANCEL_REQUEST_VERSION, input);
    this.timers = opts.timers ?? realTimers;
    this.timer = this.timers.set(() => this.send({ type: 'timer.expired', timer: 'cancel' }), opts.timeoutMs ?? CANCEL_TIMEOUT_MS);
    this.run = hostMachine(cancelRequestMachine, input, this.journal, (c) => this.execute(c), (err) => this.crash(err), opts.inspect);
  }

  private send(event: CancelEvent): void {
    this.run.send(event);
  }

  private execute(command: CancelCommand): void {
    switch (command.type) {
      case 'connect':
        return this.openSocket();
      case 'send.sslRequest':
        return this.sendSslRequest();
      case 'tls.start':
        return this.startTls();
      case 'send.cancel': {
        const socket = this.socket!;
        // PostgreSQL reads the 16 bytes, cancels and closes the connection; it sends nothing back.
        // Reading keeps the socket flowing so that close is seen; the close ends the machine.
        socket.on('data', () => {});
        socket.resume();
        socket.write(this.packet);
        return;
      }
      case 'sent':
        return this.finish({ sent: true });
      case 'fail':
        return this.finish({ sent: false, failure: command.failure });
    }
  }

  private openSocket(): void {
    const { host, port } = this.opts.route;
    const socket = host.startsWith('/') ? netConnect({ path: unixSocketPath(host, port) }) : netConnect({ host, port, noDelay: true });
    this.socket = socket;
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      this.send({ type: 'socket.connected' });
    });
    // Errors after the connect end in 'close' (hadError), which is what the machine hears.
    socket.on('error', (err) => {
      if (!connected) this.send({ type: 'socket.connectFailed', message: err.message });
    });
    socket.once('close', (hadError) => {
      if (connected && this.socket === socket) this.send({ type: 'socket.closed', hadError });
    });
  }

  private sendSslRequest(): void {
    requestSsl(this.socket as Socket, (event) => this.send(event));
  }

  private startTls(): void {
    const material = this.opts.route.material;
    if (!material) return this.send({ type: 'tls.failed', reason: 'no TLS material configured for this pool' });
    const plain = this.socket as Socket;
    plain.removeAllListeners('close');
    const secure = tlsConnect({ socket: plain, ...serverTlsConnectOptions(material, this.opts.route.host) });
    this.socket = secure;
    secure.once('secureConnect', () => {
      const cipher = secure.getCipher();
      this.send({
        type: 'tls.established',
        protocol: secure.getProtocol() ?? 'unknown',
        cipher: cipher?.standardName ?? cipher?.name ?? 'unknown',
        authorized: secure.authorized,
        authorizationError: secure.authorizationError ? String(secure.authorizationError) : null,
        hostnameError: hostnameError(this.opts.route.host, secure.getPeerCertificate()),
      });
    });
    secure.on('error', (err) => this.send({ type: 'tls.failed', reason: err.message }));
    secure.once('close', (hadError) => {
      if (this.socket === secure) this.send({ type: 'socket.closed', hadError });
    });
  }

  /** gatehouse_cancel_requests_total for PostgreSQL, gatehouse_peer_cancel_requests_total for a peer. */
  private count(outcome: string): void {
    const { target, metrics } = this.opts;
    if ('pool' in target) metrics.cancelRequests.inc({ pool: target.pool, outcome });
    else metrics.peerCancelRequests.inc({ peer: String(target.peer), outcome });
  }

  private finish(outcome: CancelOutcome): void {
    this.timers.clear(this.timer);
    const { target, route } = this.opts;
    this.count(outcome.sent ? 'sent' : outcome.failure.reason);
    if (outcome.sent) {
      this.opts.logger.debug({ ...target, host: route.host, port: route.port }, 'cancel request sent');
    } else {
      const { failure } = outcome;
      if (failure.tlsError && 'pool' in target) this.opts.metrics.serverTlsHandshakeErrors.inc({ pool: target.pool });
      this.opts.logger.warn({ ...target, host: route.host, port: route.port, mode: route.mode, reason: failure.reason }, `cancel request not sent: ${failure.message}`);
    }
    const socket = this.socket;
    if (socket) {
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      // After a send the server closes; otherwise nothing more is to be said on this socket.
      if (!outcome.sent) socket.destroy();
    }
    this.journal.end(finalState(this.run.getSnapshot()));
    this.resolve(outcome);
  }

  private crash(err: unknown): void {
    this.opts.logger.error({ err }, 'cancel-request machine crashed');
    this.socket?.destroy();
    this.timers.clear(this.timer);
    this.count('internal_error');
    // A command's handler may fail while the machine starts, before `run` is assigned.
    if (this.run) this.journal.end(finalState(this.run.getSnapshot()));
    this.resolve({ sent: false, failure: { reason: 'internal_error', message: 'internal error while sending a cancel request', tlsError: false } });
  }
}
