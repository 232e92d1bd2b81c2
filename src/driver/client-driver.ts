/**
 * The client driver: one per accepted client socket. It turns socket facts into client-session
 * events (after journaling them) and carries out the machine's commands. It decides nothing about
 * modes or refusals: what it reads next is a `read` command of the machine's, and every answer it
 * writes is one the machine asked for. After login it hands the client to a session (SessionPort).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import {
  clientSessionMachine,
  CLIENT_SESSION_VERSION,
  type ClientCertIdentity,
  type ClientCommand,
  type ClientEvent,
  type ClientTransport,
  type HbaVerdict,
  type StoredPasswordKind,
} from '../../machines/client-session.js';
import type { StoredPassword } from '../auth/index.js';
import type { HbaFacts } from '../config/hba.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import { listenerRejectionReason } from '../observability/rejection-reason.js';
import { clientSettings } from '../pool/startup-parameters.js';
import { authenticationOk, encodeErrorResponse, MessageFramer, negotiateProtocolVersion, parseStartupPacket, ProxyError, SqlState } from '../protocol/index.js';
import { describePeerCertificate } from '../tls/certificate-info.js';
import { selectPostgresqlAlpn } from '../tls/cipher-policy.js';
import type { ClientTlsProvider } from '../tls/client-tls.js';
import type { HandshakeLimiter } from '../tls/handshake-limiter.js';
import { finalState, hostMachine, type MachineRun } from './machine-host.js';
import { ClientAuthenticator } from './client-auth.js';
import type { ClientInfo, OpenSession, SessionHandle } from './session-port.js';
import { realTimers, type Timers } from './timers.js';

/** How long a refused client may take to close after its FATAL before the socket is destroyed. */
const FATAL_LINGER_MS = 5000;

/** Largest message accepted while authenticating (SCRAM messages are a few hundred bytes). */
const MAX_AUTH_MESSAGE = 8192;

/** Nothing buffered: one shared empty view, so that a logged-in client holds no buffer of its own here. */
const NOTHING = Buffer.alloc(0);

export interface ClientDriverDeps {
  id: string;
  logger: Logger;
  metrics: Metrics;
  journals: JournalBook;
  tls: ClientTlsProvider;
  limiter: HandshakeLimiter;
  loginTimeoutMs: number;
  overCapacity: boolean;
  certIdentity: ClientCertIdentity;
  /** The listener the client came through ('unix': the Unix-domain socket). */
  transport: ClientTransport;
  /** pg_hba has cert rules: TLS clients are asked for a certificate. */
  hbaCertRules: boolean;
  /** The pg_hba verdict for a connection's facts (src/config/hba.ts); the machine decides what it means. */
  matchHba(facts: HbaFacts): HbaVerdict;
  databaseExists(database: string): boolean;
  /** Whether `database` is the admin console's, and whether `user` may use it (see client.startup's adminConsole). */
  adminConsole(database: string, user: string): 'admin' | 'forbidden' | null;
  /**
   * The configured password of a user, null when the pool has no such user, or 'auth_query' when the pool looks
   * its users up (lookupUser).
   */
  userPassword(database: string, user: string): StoredPassword | null | 'auth_query';
  /** `user.lookup`: the pool's auth_query answer (null: no such user); rejects with a ProxyError when it cannot answer. */
  lookupUser(database: string, user: string): Promise<StoredPassword | null>;
  /** A looked-up user failed to prove its password: the cached answer may be stale. */
  passwordRejected(database: string, user: string): void;
  /**
   * A client proved its password with SCRAM: the ClientKey its proof revealed, for passthrough
   * authentication towards PostgreSQL. A secret: kept in memory, never journaled or logged.
   */
  learnClientKey(database: string, user: string, clientKey: Buffer): void;
  /** `cancel.forward`: route a CancelRequest's key (a secret: never journaled). */
  forwardCancel(processId: number, secretKey: Buffer): void;
  /** `pool.acquire`: the client logged in; a session takes it from here. */
  openSession: OpenSession;
  onClosed(): void;
  timers?: Timers;
  inspect?: unknown;
}

interface Startup {
  user: string;
  database: string;
  settings: Map<string, string>;
  negotiate: { minor: number; options: string[] } | null;
}

export class ClientDriver {
  private socket: Socket | TLSSocket;
  private readonly run: MachineRun<typeof clientSessionMachine>;
  private readonly journal;
  private pending: Buffer = NOTHING;
  private framer: MessageFramer | null = null;
  private authenticator: ClientAuthenticator | null = null;
  private startup: Startup | null = null;
  /** The startup user's password as configured or looked up (null: no such user); never journaled. */
  private stored: StoredPassword | null = null;
  private lookedUp = false;
  private cancelKey: { processId: number; secretKey: Buffer } | null = null;
  private session: SessionHandle | null = null;
  /** What the machine said to read next. */
  private reading: 'startup' | 'auth' | 'nothing' = 'nothing';
  private pumping = false;
  private readonly timers: Timers;
  private readonly loginTimer: unknown;
  private readonly loginDeadline: number;
  private tlsStartedAt = 0;
  private finished = false;
  /** Aborted when the connection ends, so that it gives up its place in the TLS slot queue. */
  private gone: AbortController | null = null;
  private readonly log: Logger;
  /** What pg_hba matches and refusals name: the IP address, or "[local]" on the Unix socket. */
  private readonly peerAddress: string;
  private readonly remotePort: number | undefined;
  private readonly connectedAt = Date.now();
  /** The session took over (session.start). */
  private started = false;

  private readonly onData = (chunk: Buffer) => this.received(chunk);
  private readonly onClose = () => this.send({ type: 'socket.closed' });
  private readonly onError = (err: Error) => this.log.debug({ err: err.message }, 'client socket error');

  constructor(socket: Socket, private readonly deps: ClientDriverDeps) {
    this.socket = socket;
    this.log = deps.logger;
    const input = {
      tlsMode: deps.tls.mode,
      tlsAvailable: deps.tls.available,
      overCapacity: deps.overCapacity,
      certIdentity: deps.certIdentity,
      transport: deps.transport,
      hbaCertRules: deps.hbaCertRules,
    };
    this.peerAddress = deps.transport === 'unix' ? '[local]' : peerAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort;
    this.journal = deps.journals.open(deps.id, 'client-session', CLIENT_SESSION_VERSION, input);
    this.loginDeadline = performance.now() + deps.loginTimeoutMs;
    this.timers = deps.timers ?? realTimers;
    this.loginTimer = this.timers.set(() => this.send({ type: 'timer.expired', timer: 'login' }), deps.loginTimeoutMs);
    this.run = hostMachine(clientSessionMachine, input, this.journal, (c) => this.execute(c), (err) => this.crash(err), deps.inspect);
    this.run.subscribe({ complete: () => this.finish() });
    deps.metrics.connections.inc({ type: 'total' });
    this.listen(socket);
  }

  /** The client-session machine as it runs (its snapshot, observers). */
  get machine(): MachineRun<typeof clientSessionMachine> {
    return this.run;
  }

  /** What the admin console shows of this client (SHOW CLIENTS). */
  describe(): ClientInfo {
    const startup = this.startup;
    return {
      id: this.deps.id,
      user: startup?.user ?? null,
      database: startup?.database ?? null,
      applicationName: startup?.settings.get('application_name') ?? '',
      address: this.deps.transport === 'unix' ? '[local]' : `${this.peerAddress}:${this.remotePort}`,
      tls: this.socket instanceof TLSSocket,
      connectedAt: this.connectedAt,
      activity: this.session && this.started ? this.session.activity() : 'login',
      traffic: this.session?.traffic ?? null,
    };
  }

  /**
   * KILL from the admin console (`by`: the admin connection's id): the machine decides whether this client, in the
   * state it is in, is terminated, and journals it.
   */
  kill(by: string): boolean {
    const event = { type: 'admin.kill' as const, by };
    if (!this.run.getSnapshot().can(event)) return false;
    this.send(event);
    return true;
  }

  private send(event: ClientEvent): void {
    this.run.send(event);
  }

  /** Watch a socket's end; its bytes are read only while the machine says so (`read` commands). */
  private listen(socket: Socket | TLSSocket): void {
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    if (this.reading !== 'nothing') this.resumeReading();
  }

  private stopReading(): void {
    this.socket.off('data', this.onData);
    this.socket.pause();
  }

  private resumeReading(): void {
    if (!this.socket.listeners('data').includes(this.onData)) this.socket.on('data', this.onData);
    this.socket.resume();
  }

  private received(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pump();
  }

  /** Interpret buffered bytes the way the machine's last `read` command says they must be read. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.run.getSnapshot().status !== 'active') return;
        if (this.reading === 'startup') {
          if (!this.readStartupPacket()) return;
        } else if (this.reading === 'auth') {
          if (!this.readAuthMessage()) return;
        } else {
          // Nothing is read now (a TLS handshake is due, or queries pipelined while a server is
          // awaited): stop reading so TCP pushes back instead of the bytes piling up here.
          this.socket.pause();
          return;
        }
      }
    } catch (err) {
      // Defence in depth: a client's bytes must never take the process down.
      this.crash(err);
    } finally {
      this.pumping = false;
    }
  }

  private read(what: 'startup' | 'auth' | 'nothing'): void {
    this.reading = what;
    if (what === 'nothing') {
      this.socket.pause();
      return;
    }
    this.resumeReading();
    // Bytes may already be buffered (pipelined behind what was just read): read them now, outside
    // the machine's own step.
    if (!this.pumping && this.pending.length > 0) queueMicrotask(() => this.pump());
  }

  /** One startup packet; false when more bytes are needed or reading must stop. */
  private readStartupPacket(): boolean {
    if (this.pending.length === 0) return false;
    const parsed = parseStartupPacket(this.pending);
    if (parsed.status === 'incomplete') return false;
    if (parsed.status === 'directTls') {
      // Whether a TLS record may start here is the machine's call (only as the very first bytes).
      this.stopReading();
      this.send({ type: 'client.directTls' });
      return false;
    }
    if (parsed.status === 'invalid') {
      this.send({ type: 'client.invalidPacket', sqlstate: parsed.error.sqlstate, message: parsed.error.message });
      return false;
    }
    this.pending = this.pending.subarray(parsed.length);
    const packet = parsed.packet;
    switch (packet.kind) {
      case 'sslRequest':
        // Stop at once: whatever follows must be read by TLS, or never (CVE-2021-23214). The
        // machine says whether to read on (a declined request) with its next `read` command.
        this.stopReading();
        this.reading = 'nothing';
        this.send({ type: 'client.sslRequest', trailingBytes: this.pending.length });
        return true;
      case 'gssEncRequest':
        this.send({ type: 'client.gssEncRequest' });
        return true;
      case 'cancelRequest':
        this.cancelKey = { processId: packet.processId, secretKey: packet.secretKey };
        this.send({ type: 'client.cancelRequest' });
        return false;
      case 'startup': {
        const user = packet.parameters.user;
        const database = packet.parameters.database || user;
        let settings: Map<string, string>;
        try {
          settings = clientSettings(packet.parameters);
        } catch (err) {
          if (!(err instanceof ProxyError)) throw err;
          this.send({ type: 'client.invalidPacket', sqlstate: err.sqlstate, message: err.message });
          return false;
        }
        const newer = packet.minorVersion > 0 || packet.protocolOptions.length > 0;
        this.startup = { user, database, settings, negotiate: newer ? { minor: 0, options: packet.protocolOptions } : null };
        if (!(this.socket instanceof TLSSocket)) this.deps.metrics.connections.inc({ type: 'plain' });
        const tls = this.socket instanceof TLSSocket;
        const local = this.deps.transport === 'unix';
        const configured = this.deps.userPassword(database, user);
        this.stored = configured === 'auth_query' ? null : configured;
        this.send({
          type: 'client.startup',
          user,
          database,
          databaseKnown: this.deps.databaseExists(database),
          password: configured === 'auth_query' ? 'auth_query' : passwordKind(configured),
          address: this.peerAddress,
          hba: this.deps.matchHba({ local, address: this.peerAddress, tls, user, database }),
          adminConsole: this.deps.adminConsole(database, user),
        });
        return true;
      }
    }
  }

  private readAuthMessage(): boolean {
    const framer = this.framer!;
    if (this.pending.length > 0) {
      framer.push(this.pending);
      this.pending = NOTHING;
    }
    let message;
    try {
      message = framer.next();
    } catch (err) {
      if (!(err instanceof ProxyError)) throw err;
      this.send({ type: 'auth.failed', sqlstate: err.sqlstate, message: err.message });
      return false;
    }
    if (!message) return false;
    const step = this.authenticator!.onMessage(message.type, message.body);
    if ('failed' in step) {
      if (this.lookedUp && this.stored !== null) this.deps.passwordRejected(this.startup!.database, this.startup!.user);
      this.send({ type: 'auth.failed', sqlstate: step.failed.sqlstate, message: step.failed.message });
      return false;
    }
    this.socket.write(step.reply);
    if (step.done) {
      const clientKey = this.authenticator!.clientKey;
      if (clientKey) this.deps.learnClientKey(this.startup!.database, this.startup!.user, clientKey);
      // Bytes after the last authentication message belong to the session (pipelined queries).
      this.pending = framer.takeRemaining();
      // The exchange is over: what it held (nonces, proofs, the ClientKey) is not kept for the client's life.
      this.framer = null;
      this.authenticator = null;
      this.stored = null;
      this.send({ type: 'auth.succeeded' });
      return false;
    }
    return true;
  }

  private execute(command: ClientCommand): void {
    switch (command.type) {
      case 'ssl.reply':
      case 'gss.reply':
        this.socket.write(command.byte);
        return;
      case 'read':
        return this.read(command.what);
      case 'tls.acquireSlot':
        return this.acquireHandshakeSlot();
      case 'tls.start':
        return this.startTls(command.requestClientCertificate, command.direct);
      case 'auth.start':
        return this.startAuthentication(command.method, command.mock);
      case 'auth.ok':
        return this.writeAuthOpening(authenticationOk());
      case 'user.lookup':
        return this.lookUpUser();
      case 'pool.acquire':
        return this.openSession();
      case 'session.start':
        return this.startSession();
      case 'cancel.forward':
        this.deps.metrics.connections.inc({ type: 'cancel' });
        if (this.cancelKey) this.deps.forwardCancel(this.cancelKey.processId, this.cancelKey.secretKey);
        return;
      case 'fatal':
        this.countFailure(command.failure.reason);
        this.log.info({ reason: command.failure.reason, sqlstate: command.failure.sqlstate, user: this.startup?.user }, command.failure.message);
        this.stopReading();
        this.socket.end(encodeErrorResponse({ severity: 'FATAL', sqlstate: command.failure.sqlstate, message: command.failure.message }));
        // Nothing the client sends now is read, but its bytes are drained so that its close is seen;
        // one that never closes is cut off after a grace period.
        this.socket.resume();
        this.socket.setTimeout(FATAL_LINGER_MS, () => this.socket.destroy());
        return;
      case 'close':
        if (command.failure) {
          this.countFailure(command.failure.reason);
          this.log.info({ reason: command.failure.reason }, command.failure.message);
        }
        this.socket.destroy();
        return;
    }
  }

  private acquireHandshakeSlot(): void {
    // Only a rate-limited client can wait; an AbortController is not free, so only it gets one.
    if (this.deps.limiter.enabled) this.gone = new AbortController();
    const slot = this.deps.limiter.acquire(this.loginDeadline, this.gone?.signal);
    if (slot === true) return queueMicrotask(() => this.send({ type: 'tls.slotGranted' }));
    slot.then((granted) => this.send({ type: granted ? 'tls.slotGranted' : 'tls.slotDenied' }));
  }

  private startTls(requestCert: boolean, direct: boolean): void {
    const material = this.deps.tls.current;
    const raw = this.socket as Socket;
    raw.off('data', this.onData);
    raw.off('close', this.onClose);
    raw.off('error', this.onError);
    if (!material) return this.send({ type: 'tls.failed', reason: 'no TLS certificate loaded' });
    // A direct-TLS ClientHello was already read: hand it back so the TLS layer reads it first.
    if (direct && this.pending.length > 0) raw.unshift(this.pending);
    this.pending = NOTHING;
    this.tlsStartedAt = performance.now();
    const secure = new TLSSocket(raw, {
      isServer: true,
      secureContext: material.context,
      requestCert: requestCert,
      // The machine judges the certificate (tls_mode, CA bundle) from what is reported below.
      rejectUnauthorized: false,
      ALPNCallback: selectPostgresqlAlpn,
    });
    this.socket = secure;
    let established = false;
    secure.once('secure', () => {
      established = true;
      this.deps.metrics.clientTlsHandshakeDuration.observe((performance.now() - this.tlsStartedAt) / 1000);
      this.deps.metrics.connections.inc({ type: 'tls' });
      const cipher = secure.getCipher();
      const verdict = requestCert ? clientCertificateVerdict(secure) : { authorized: false, authorizationError: null, peer: null };
      this.send({
        type: 'tls.established',
        protocol: secure.getProtocol() ?? 'unknown',
        cipher: cipher?.standardName ?? cipher?.name ?? 'unknown',
        alpnProtocol: typeof secure.alpnProtocol === 'string' ? secure.alpnProtocol : null,
        authorized: verdict.authorized,
        authorizationError: verdict.authorizationError,
        peerCertificate: describePeerCertificate(verdict.peer),
      });
      this.listen(secure);
    });
    secure.once('error', (err) => {
      if (established) return;
      // OpenSSL's code names the reason: ERR_SSL_UNSUPPORTED_PROTOCOL → unsupported_protocol, …
      const code = (err as NodeJS.ErrnoException).code;
      this.deps.metrics.clientTlsHandshakeFailures.inc({ reason: code ? code.replace(/^ERR_SSL_/, '').toLowerCase() : 'handshake_error' });
      this.send({ type: 'tls.failed', reason: err.message });
    });
    secure.once('close', () => {
      if (!established) this.send({ type: 'socket.closed' });
    });
  }

  private startAuthentication(method: 'scram-sha-256' | 'md5', mock: boolean): void {
    const { user, database } = this.startup!;
    this.authenticator = new ClientAuthenticator(user, this.stored, method, mock);
    this.framer = new MessageFramer({ maxMessageLength: MAX_AUTH_MESSAGE });
    this.writeAuthOpening(this.authenticator.start());
  }

  /** auth_query: the answer is a fact for the machine (how the password is stored, or that the lookup failed). */
  private lookUpUser(): void {
    const { user, database } = this.startup!;
    this.lookedUp = true;
    this.deps.lookupUser(database, user).then(
      (stored) => {
        this.stored = stored;
        this.send({ type: 'user.found', password: passwordKind(stored) });
      },
      (err: unknown) => {
        if (!(err instanceof ProxyError)) {
          this.log.error({ err }, 'auth_query lookup crashed');
          this.send({ type: 'user.lookupFailed', sqlstate: SqlState.SYSTEM_ERROR, message: 'Authentication service unavailable. Please try again later.' });
          return;
        }
        this.log.warn({ user, database, sqlstate: err.sqlstate, detail: err.detail }, `auth_query lookup failed: ${err.message}`);
        this.send({ type: 'user.lookupFailed', sqlstate: err.sqlstate, message: err.message });
      },
    );
  }

  /** The first authentication message (a request, or AuthenticationOk for pg_hba trust and cert). */
  private writeAuthOpening(opening: Buffer): void {
    const { negotiate } = this.startup!;
    // We speak protocol 3.0: a client asking for 3.2 or _pq_ options is told so, then continues.
    this.socket.write(negotiate ? Buffer.concat([negotiateProtocolVersion(negotiate.minor, negotiate.options), opening]) : opening);
  }

  /**
   * Before login (authentication done, or trust/cert granted) a failure is a listener rejection, as PgDoorman counts
   * them; after it, the client had a session, and its end is counted as such.
   */
  private countFailure(reason: string): void {
    if (this.session === null) this.deps.metrics.rejections.inc({ reason: listenerRejectionReason(reason) });
    else this.deps.metrics.sessionFailures.inc({ reason });
  }

  private openSession(): void {
    const { user, database, settings } = this.startup!;
    this.session = this.deps.openSession({ id: this.deps.id, user, database, settings, socket: this.socket, logger: this.log }, (event) => this.send(event));
  }

  /** The session relays from here: the driver stops reading and hands over what the client already sent. */
  private startSession(): void {
    this.timers.clear(this.loginTimer);
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    const early = this.pending;
    this.pending = NOTHING;
    this.started = true;
    this.session!.start(early);
  }

  /** The machine reached a final state: release everything this connection holds. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.gone?.abort();
    this.timers.clear(this.loginTimer);
    this.session?.end();
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
    this.socket.on('error', () => {});
    this.journal.end(finalState(this.run.getSnapshot()));
    this.deps.onClosed();
  }

  private crash(err: unknown): void {
    this.log.error({ err }, 'client-session machine crashed');
    this.socket.destroy();
    this.finish();
  }
}

function passwordKind(stored: StoredPassword | null): StoredPasswordKind | null {
  if (stored === null) return null;
  return stored.kind === 'scram' ? 'scram-sha-256' : stored.kind;
}

/** An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; PostgreSQL names it a.b.c.d. */
function peerAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * Whether a client certificate verified against tls_ca_cert. Node computes `authorized` only for
 * sockets a tls.Server created; this socket is upgraded by hand after SSLRequest, so the verdict is
 * read where Node itself reads it (the handle's verifyError). No certificate is never authorized.
 */
function clientCertificateVerdict(secure: TLSSocket): { authorized: boolean; authorizationError: string | null; peer: ReturnType<TLSSocket['getPeerCertificate']> | null } {
  const peer = secure.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return { authorized: false, authorizationError: 'no client certificate presented', peer: null };
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  const error = handle?.verifyError ? handle.verifyError() : new Error('verification result unavailable');
  return { authorized: error === null, authorizationError: error ? ((error as { code?: string }).code ?? error.message) : null, peer };
}
