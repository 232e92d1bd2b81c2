/**
 * One generated client-session path against a real ClientDriver: the driver serves the accepted
 * side of a real TCP connection on 127.0.0.1, and the test plays the client on the other side,
 * doing for each step what a real client (or a failing network) would do.
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { expect } from 'vitest';
import type { ClientEvent, ClientSessionContext, ClientSessionInput, HbaVerdict } from '../../../machines/client-session.js';
import { md5ClientResponse, md5PasswordHash, ScramClientSession, type StoredPassword } from '../../../src/auth/index.js';
import { compileHba, parseHba, type HbaFacts } from '../../../src/config/hba.js';
import { ClientDriver } from '../../../src/driver/client-driver.js';
import type { JournalBook, JournalEntry } from '../../../src/journal/journal.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import {
  encodeCancelRequest,
  encodeErrorResponse,
  encodeGssEncRequest,
  encodeSslRequest,
  encodeStartupMessage,
  passwordMessage,
  ProxyError,
  readyForQuery,
  type SqlStateCode,
  saslInitialResponse,
  saslResponse,
} from '../../../src/protocol/index.js';
import { Session } from '../../../src/proxy/session.js';
import type { ClientTlsProvider } from '../../../src/tls/client-tls.js';
import { ByteReader, EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { untilSnapshot } from './run-path.js';
import { BackendStub, poolFailure, RecordingCancels, ScriptedLimiter, ScriptedPool } from './client-deps.js';
import {
  certChoiceFor,
  CLIENT_PASSWORD,
  CLIENT_USER,
  HBA_SOURCE,
  hbaRulesFor,
  INJECTED_BYTES,
  ADMIN_DATABASE,
  KNOWN_DATABASE,
  MD5_USER,
  MD5_USER_PASSWORD,
  WRONG_PASSWORD,
} from './client-samples.js';
import { GatedDuplex } from './gated-duplex.js';
import { ManualTimers } from './manual-timers.js';
import { nextStepOf, type ModelPath, type ModelStep } from './model-paths.js';
import type { ModelPki } from './pki.js';

export interface ClientFixture {
  pki: ModelPki;
  metrics: Metrics;
  logger: Logger;
  book: JournalBook;
  backend: BackendStub;
  /** Accepts test clients; each accepted socket is handed to the driver factory the next world queued. */
  listener: net.Server;
  /** The same, on a Unix-domain socket (worlds whose input says transport 'unix' connect here). */
  unixListener: net.Server;
  unixPath: string;
  accept: Array<(socket: net.Socket) => void>;
}

let worlds = 0;
/** Short, so that paths through idle_transaction_timeout take little time; no other path leaves a transaction open. */
const IDLE_TRANSACTION_TIMEOUT_MS = 30;

export class ClientWorld {
  readonly id = `client-${++worlds}`;
  readonly timers = new ManualTimers();
  readonly limiter = new ScriptedLimiter();
  readonly pool = new ScriptedPool();
  readonly cancels: RecordingCancels;
  driver!: ClientDriver;
  raw!: net.Socket;
  reader!: ByteReader;
  rawClosed!: Promise<void>;
  tls: tls.TLSSocket | null = null;
  gate: GatedDuplex | null = null;
  secured: Promise<void> | null = null;
  server: Awaited<ReturnType<BackendStub['connection']>> | null = null;
  sentCancel: { processId: number; secretKey: Buffer } | null = null;
  closedCalls = 0;
  /** ClientKeys the driver passed on after a successful SCRAM exchange. */
  readonly learnedClientKeys: Buffer[] = [];
  /** The salt of the AuthenticationMD5Password the driver sent, once read. */
  md5Salt: Buffer | null = null;
  /** pg_hba rules this path's startup is matched against (null: none configured), and the facts the driver matched. */
  readonly hbaRules: string | null;
  readonly hbaMatched: HbaFacts[] = [];
  /** auth_query: whether the path's user is looked up, the lookups asked for, and their pending answer. */
  private readonly lookedUpUser: boolean;
  readonly lookups: Array<{ database: string; user: string }> = [];
  readonly rejectedPasswords: Array<{ database: string; user: string }> = [];
  private pendingLookup: { resolve: (stored: StoredPassword | null) => void; reject: (err: Error) => void } | null = null;
  private readonly matchHba: (facts: HbaFacts) => HbaVerdict;
  /** The driver's side of the connection (closed at the end of the path, whatever state it is in). */
  private accepted: net.Socket | null = null;

  constructor(
    readonly fixture: ClientFixture,
    readonly input: ClientSessionInput,
    private readonly provider: ClientTlsProvider,
    private readonly path: ModelPath<ClientEvent>,
  ) {
    this.cancels = new RecordingCancels({ logger: fixture.logger, journals: fixture.book, metrics: fixture.metrics });
    // The rules are written for what the path's startup packet must be matched to: the real parser and matcher
    // then have to produce exactly the verdict the model sampled.
    const at = path.steps.findIndex((s) => s.event.type === 'client.startup');
    const startup = at > 0 ? path.steps[at].event : null;
    this.hbaRules = startup?.type === 'client.startup' ? hbaRulesFor(path.steps[at - 1].state.context as ClientSessionContext, startup.hba) : null;
    this.lookedUpUser = startup?.type === 'client.startup' && startup.password === 'auth_query';
    if (this.hbaRules === null) {
      this.matchHba = compileHba(null);
    } else {
      const parsed = parseHba(this.hbaRules);
      if (parsed.problems.length > 0) throw new Error(`model pg_hba rules do not parse: ${JSON.stringify(parsed.problems)}`);
      this.matchHba = compileHba({ source: HBA_SOURCE, rules: parsed.rules });
    }
  }

  async open(): Promise<void> {
    const accepted = new Promise<void>((resolve) => {
      this.fixture.accept.push((socket) => {
        this.accepted = socket;
        this.driver = new ClientDriver(socket, {
          id: this.id,
          logger: this.fixture.logger,
          metrics: this.fixture.metrics,
          journals: this.fixture.book,
          tls: this.provider,
          limiter: this.limiter,
          forwardCancel: (processId, secretKey) => void this.cancels.forward(processId, secretKey),
          loginTimeoutMs: 60_000,
          overCapacity: this.input.overCapacity,
          certIdentity: this.input.certIdentity,
          transport: this.input.transport,
          hbaCertRules: this.input.hbaCertRules,
          matchHba: (facts) => {
            this.hbaMatched.push(facts);
            return this.matchHba(facts);
          },
          databaseExists: (database) => database === KNOWN_DATABASE || database === ADMIN_DATABASE,
          adminConsole: (database) => (database === ADMIN_DATABASE ? 'forbidden' : null),
          userPassword: (_database, user) =>
            user === CLIENT_USER
              ? this.lookedUpUser
                ? 'auth_query'
                : { kind: 'plain', password: CLIENT_PASSWORD }
              : user === MD5_USER
                ? { kind: 'md5', hash: md5PasswordHash(MD5_USER, MD5_USER_PASSWORD) }
                : null,
          lookupUser: (database, user) => {
            this.lookups.push({ database, user });
            return new Promise((resolve, reject) => (this.pendingLookup = { resolve, reject }));
          },
          passwordRejected: (database, user) => this.rejectedPasswords.push({ database, user }),
          learnClientKey: (_database, _user, clientKey) => this.learnedClientKeys.push(clientKey),
          // Transaction pooling: the welcome's server goes back at once and every query takes one again.
          openSession: (login, report) =>
            new Session(login, report, { pool: this.pool, mode: 'transaction', cancels: this.cancels, idleTransactionTimeoutMs: IDLE_TRANSACTION_TIMEOUT_MS }),
          onClosed: () => this.closedCalls++,
          timers: this.timers,
        });
        resolve();
      });
    });
    this.raw =
      this.input.transport === 'unix'
        ? net.connect(this.fixture.unixPath)
        : net.connect((this.fixture.listener.address() as net.AddressInfo).port, '127.0.0.1');
    this.raw.on('error', () => {});
    // Not events.once(): it would reject on the ECONNRESET that often precedes the close.
    this.rawClosed = new Promise((resolve) => this.raw.once('close', () => resolve()));
    this.reader = new ByteReader(this.raw, 'client');
    await once(this.raw, 'connect');
    await accepted;
  }

  get actor() {
    return this.driver.machine;
  }

  entries(): JournalEntry[] {
    const record = this.fixture.book.find(this.id);
    if (!record) throw new Error(`no journal for ${this.id}`);
    return record.entries;
  }

  /** Where the client writes now: inside TLS once it started, else the TCP socket. */
  private write(bytes: Buffer): void {
    (this.tls ?? this.raw).write(bytes);
  }

  /**
   * Start a TLS client over the connection. `hold` keeps the server's answers back until
   * `gate.release()`, so a direct-TLS ClientHello can be sent long before the handshake may end.
   */
  private startTls(event: ClientEvent | undefined, hold: boolean, oldProtocolOnly: boolean): void {
    const leftover = this.reader.detach();
    if (leftover.length > 0) throw new Error(`client: unread bytes before TLS: ${leftover.toString('hex')}`);
    const choice = event ? certChoiceFor(event) : 'none';
    const cert = choice === 'trusted' ? this.fixture.pki.clientTrusted : choice === 'untrusted' ? this.fixture.pki.clientUntrusted : null;
    const offerAlpn = !(event?.type === 'tls.established' && event.alpnProtocol === null);
    this.gate = new GatedDuplex(this.raw, !hold);
    this.tls = tls.connect({
      socket: this.gate,
      servername: 'localhost',
      ca: [this.fixture.pki.caPem],
      ...(offerAlpn ? { ALPNProtocols: ['postgresql'] } : {}),
      ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
      // An outdated client: TLS 1.0/1.1 only, which gatehouse (TLS 1.2 minimum) refuses.
      ...(oldProtocolOnly ? { minVersion: 'TLSv1' as const, maxVersion: 'TLSv1.1' as const, ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
    });
    this.tls.on('error', () => {});
    this.secured = once(this.tls, 'secureConnect').then(() => undefined);
    this.secured.catch(() => {});
    this.reader.attach(this.tls);
  }

  private answerLookup(answer: (l: NonNullable<ClientWorld['pendingLookup']>) => void): void {
    const pending = this.pendingLookup;
    if (!pending) throw new Error('the driver never asked auth_query for the user');
    this.pendingLookup = null;
    answer(pending);
  }

  /** Answer the exchange the machine chose (recorded in the step's context) with `password`. */
  private async authenticate(step: ModelStep<ClientEvent>, password: string): Promise<void> {
    const context = step.state.context as ClientSessionContext;
    if (context.authMethod === 'md5') {
      if (!this.md5Salt) throw new Error('client: no AuthenticationMD5Password was read');
      return this.write(passwordMessage(md5ClientResponse(context.user!, password, this.md5Salt)));
    }
    return this.scram(password);
  }

  private async scram(password: string): Promise<void> {
    const session = new ScramClientSession(password);
    this.write(saslInitialResponse('SCRAM-SHA-256', session.clientFirst()));
    const cont = await this.reader.message();
    if (cont.type !== 'R' || cont.body.readInt32BE(0) !== 11) throw new Error(`client: expected AuthenticationSASLContinue, got '${cont.type}'`);
    this.write(saslResponse(session.handleServerFirst(cont.body.subarray(4))));
  }

  cause(step: ModelStep<ClientEvent>, index: number): Promise<void> | void {
    const event = step.event;
    switch (event.type) {
      case 'client.sslRequest':
        // Trailing bytes go in the same write, so they reach the driver in the same TCP segment.
        return this.write(event.trailingBytes > 0 ? Buffer.concat([encodeSslRequest(), INJECTED_BYTES]) : encodeSslRequest());
      case 'client.gssEncRequest':
        return this.write(encodeGssEncRequest());
      case 'client.directTls': {
        // A TLS record where only a startup packet may come: the start of a ClientHello, not a handshake.
        if ((step.state.context as { failure: { reason: string } | null }).failure?.reason === 'invalid_startup') {
          return this.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01]));
        }
        // The ClientHello is the first thing sent: how it looks (ALPN, certificate) is what the path's TLS outcome needs.
        const outcome = nextStepOf(this.path, index + 1, ['tls.established', 'tls.failed']);
        return this.startTls(outcome?.event.type === 'tls.established' ? outcome.event : undefined, true, false);
      }
      case 'client.cancelRequest':
        this.sentCancel = { processId: 31337, secretKey: Buffer.from([9, 8, 7, 6]) };
        return this.write(encodeCancelRequest(this.sentCancel.processId, this.sentCancel.secretKey));
      case 'client.startup':
        return this.write(encodeStartupMessage({ user: event.user, database: event.database }));
      case 'client.invalidPacket':
        // A length word of 2^31: negative as int32, so never a valid startup packet.
        return this.write(Buffer.from([0x80, 0, 0, 0, 0, 3, 0, 0]));
      case 'tls.slotGranted':
      case 'tls.slotDenied':
        return this.limiter.answer(event.type === 'tls.slotGranted');
      case 'tls.established':
        if (this.gate && !this.gate.released) return this.gate.release();
        return this.startTls(event, false, false);
      case 'tls.failed':
        // Mid-handshake garbage for a direct-TLS client whose ClientHello already went out; else an outdated client.
        if (this.gate && !this.gate.released) return void this.raw.write(Buffer.from('this is not a TLS record\r\n'));
        return this.startTls(undefined, false, true);
      case 'user.found':
        return this.answerLookup((l) =>
          l.resolve(
            event.password === 'plain'
              ? { kind: 'plain', password: CLIENT_PASSWORD }
              : event.password === 'md5'
                ? { kind: 'md5', hash: md5PasswordHash(CLIENT_USER, CLIENT_PASSWORD) }
                : null,
          ),
        );
      case 'user.lookupFailed':
        return this.answerLookup((l) => l.reject(new ProxyError('auth_query.unavailable', event.sqlstate as SqlStateCode, event.message)));
      case 'auth.succeeded':
        return this.authenticate(step, CLIENT_PASSWORD);
      case 'auth.failed':
        // A mock exchange refuses even the user's right password: that is what the path shows.
        return this.authenticate(step, (step.state.context as ClientSessionContext).mockAuth ? MD5_USER_PASSWORD : WRONG_PASSWORD);
      case 'pool.acquired':
        return this.handServer(event.serverId);
      case 'pool.failed':
        if (this.server) return this.nextTransactionFails(poolFailure(event.sqlstate, event.message));
        return this.pool.fail(event.sqlstate, event.message);
      case 'internal.error':
        if (this.server) return this.nextTransactionFails(new TypeError('model: a bug in the pool'));
        return this.pool.crash();
      case 'client.invalidMessage':
        // A Query whose length word (2) is below the 4 the length itself takes.
        return this.write(Buffer.from([0x51, 0, 0, 0, 2]));
      case 'backend.lost':
        return this.loseServer(event.midMessage, event.serverErrorRelayed);
      case 'admin.kill':
        expect(this.driver.kill(event.by), 'the machine takes KILL in this state').toBe(true);
        return;
      case 'client.idleInTransaction':
        return this.idleInTransaction();
      case 'session.pinned':
        return this.pinByListen();
      case 'socket.closed':
        this.tls?.destroy();
        return void this.raw.destroy();
      case 'timer.expired':
        return this.timers.fireAll();
    }
  }

  /**
   * The server connection goes away: at once, after the first bytes of a DataRow (which the client reads), or after
   * PostgreSQL's own FATAL (which the client reads too).
   */
  private async loseServer(midMessage: boolean, serverErrorRelayed: boolean): Promise<void> {
    const { peer } = this.server!;
    if (midMessage) {
      // A DataRow header announcing 20 body bytes that never come.
      peer.write(Buffer.from([0x44, 0, 0, 0, 24]));
      await this.reader.read(5, 'the relayed DataRow header');
    } else if (serverErrorRelayed) {
      peer.write(encodeErrorResponse({ severity: 'FATAL', sqlstate: '57P01', message: 'terminating connection due to administrator command' }));
      const fatal = await this.reader.message();
      expect(fatal.type, "PostgreSQL's FATAL is relayed").toBe('E');
    }
    peer.destroy();
  }

  /**
   * Transaction pooling: the server answers the welcome's query and goes back to the pool; the
   * client's next query then needs a server, and the pool fails it.
   */
  private async nextTransactionFails(error: Error): Promise<void> {
    this.server!.peer.write(readyForQuery('I'));
    const ready = await this.reader.message();
    if (ready.type !== 'Z') throw new Error(`client: expected ReadyForQuery, got '${ready.type}'`);
    await expect.poll(() => this.pool.releases.length, { timeout: EFFECT_TIMEOUT_MS }).toBe(2);
    this.pool.armFailure(error);
    this.write(Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from('SELECT 2'), 0]));
  }

  /**
   * The welcome's query opened a transaction (BEGIN, ReadyForQuery T) and the client, having read the answer,
   * sends nothing more: idle_transaction_timeout later the relay gives up on it.
   */
  private async idleInTransaction(): Promise<void> {
    this.server!.peer.write(Buffer.concat([commandComplete('BEGIN'), readyForQuery('T')]));
    const done = await this.reader.message();
    const ready = await this.reader.message();
    expect(`${done.type}${done.body.toString('latin1')}${ready.type}${ready.body.toString('latin1')}`, 'BEGIN answered').toBe('CBEGIN\0ZT');
  }

  /**
   * Transaction pooling: the welcome's query turns out to be a LISTEN; the relay then asks the server
   * what the session holds, and the server says one channel is listened to.
   */
  private async pinByListen(): Promise<void> {
    const { peer, reader } = this.server!;
    peer.write(Buffer.concat([commandComplete('LISTEN'), readyForQuery('I')]));
    const inspection = await reader.message();
    if (inspection.type !== 'Q') throw new Error(`backend: expected the session inspection query, got '${inspection.type}'`);
    peer.write(Buffer.concat([dataRow(['1', '0', '0', '0', '0', null, null, null]), commandComplete('SELECT 1'), readyForQuery('I')]));
  }

  private async handServer(serverId: string): Promise<void> {
    this.server = await this.fixture.backend.connection(serverId);
    this.pool.hand(this.server.conn);
  }

  /** The connection ended: the driver closed it (or it was closed), and nothing unread is left. */
  async connectionEnds(): Promise<void> {
    if (this.gate && !this.gate.released) {
      // TLS answers are being held: watch the TCP connection itself.
      await Promise.race([
        this.rawClosed,
        new Promise((_, reject) => setTimeout(() => reject(new Error('client: the driver did not close the connection')), EFFECT_TIMEOUT_MS).unref()),
      ]);
      this.reader.expectDrained();
      return;
    }
    await this.reader.ends();
  }

  /** Close everything and wait (bounded) for the driver to finish, so nothing of this path leaks into the next. */
  async dispose(): Promise<void> {
    this.tls?.destroy();
    this.raw?.destroy();
    this.server?.peer.destroy();
    this.server?.conn.close();
    this.accepted?.destroy();
    if (this.driver) await untilSnapshot(this.driver.machine, (s) => s.status !== 'active', EFFECT_TIMEOUT_MS).catch(() => undefined);
  }
}

function commandComplete(tag: string): Buffer {
  return backendMessage(0x43, Buffer.from(`${tag}\0`, 'latin1'));
}

function dataRow(values: Array<string | null>): Buffer {
  const count = Buffer.alloc(2);
  count.writeInt16BE(values.length, 0);
  const parts = values.map((v) => {
    if (v === null) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const b = Buffer.alloc(4 + v.length);
    b.writeInt32BE(v.length, 0);
    b.write(v, 4, 'latin1');
    return b;
  });
  return backendMessage(0x44, Buffer.concat([count, ...parts]));
}

function backendMessage(type: number, body: Buffer): Buffer {
  const m = Buffer.alloc(5 + body.length);
  m[0] = type;
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}
