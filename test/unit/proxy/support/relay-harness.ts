/**
 * Runs a Relay in process between a scripted client and scripted backends, with a pool that hands
 * out FakeBackends, and checks what a user would notice after every step:
 *  - a server goes back to the pool (reuse/reset) only when its own account says it could serve
 *    another client (whole messages both ways, every sync point answered, status 'I');
 *  - a session server is never reused without a reset;
 *  - a server is released once per hand-out, and never written to once released;
 *  - the client's bytes reach the servers in order, none lost or repeated, and no Terminate;
 *  - the client receives exactly what its attached server sent, in order, and nothing from a
 *    server it is not attached to.
 * A Chooser decides the schedule: which enabled step runs next, how chunks are cut, when a write
 * meets backpressure. The deterministic one takes cut points; the random one reads fast-check values.
 */
import { pino } from 'pino';
import { ProxyError, SqlState } from '../../../../src/protocol/index.js';
import type { ReleaseAction } from '../../../../src/pool/pool.js';
import type { ServerConnection } from '../../../../src/pool/server-connection.js';
import { DEFAULT_TRANSACTION_OPTIONS, Relay, type RelayEnd } from '../../../../src/proxy/relay.js';
import { FakeBackend } from './fake-backend.js';
import { FakeSocket } from './fake-socket.js';
import { StatementCache } from '../../../../src/pool/prepared-statements.js';

export type Mode = 'session' | 'transaction';

export interface Turn {
  bytes: Buffer;
  /** The client waits until every answer so far has arrived before sending this turn. */
  wait: boolean;
}

export type StepKind =
  | 'drain-client'
  | 'drain-server'
  | 'resolve-acquire'
  | 'server-data'
  | 'stray-data'
  | 'client-data'
  | 'next-turn'
  | 'client-close'
  | 'server-crash';

export interface Step {
  kind: StepKind;
  run: () => void | Promise<void>;
}

export interface Chooser {
  /** Which of the enabled steps runs next. */
  pick(steps: Step[]): number;
  /** Sizes of the chunks a client turn is sent in; `offset` is where the turn starts in the client stream. */
  clientChunks(offset: number, length: number): number[];
  /** Size of the next server chunk; `offset` counts every server byte delivered so far. */
  serverChunk(offset: number, available: number): number;
  /** Whether a write meets a full buffer ('drain' follows later). */
  backpressure(side: 'client' | 'server'): boolean;
  /** Whether a NotificationResponse follows a ReadyForQuery. */
  notifyAfterReady(): boolean;
  /** Whether a transaction-mode acquire fails (no server). */
  acquireFails(): boolean;
  /** Whether the pool answers with a server other than the idle one (settings differ, another client took it). */
  otherServer(): boolean;
}

export interface Release {
  server: string;
  action: ReleaseAction;
}

export interface HarnessOptions {
  mode: Mode;
  /** The pool has the synchronous fast path (acquireIdleMatching returns an idle server). */
  fastAttach: boolean;
  turns: Turn[];
  chooser: Chooser;
  /** Send the first turn as the bytes that arrived with the login (`start(first, early)`). */
  early?: boolean;
  /** How the client leaves once its turns are sent: its Terminate (a turn), closing its socket, or the session stopping the relay. */
  leave?: 'terminate' | 'close' | 'stop';
  /** Offer abrupt client closes and server crashes as steps. */
  failures?: boolean;
}

export interface HarnessResult {
  releases: Release[];
  ends: RelayEnd[];
  violations: string[];
  /** All bytes the backends received, in the order they were written. */
  forwarded: Buffer;
  /** The client bytes the relay was given. */
  clientDelivered: Buffer;
  /** Bytes the client received. */
  clientReceived: Buffer;
  /** What the attached server sent while attached (what the client should receive). */
  expectedAtClient: Buffer;
  backends: FakeBackend[];
  /** Writes the relay made while the socket owed a 'drain' (backpressure ignored). */
  clientWritesWhileOwed: number;
  serverWritesWhileOwed: number;
  /** How many times a server was attached (onServer with a server). */
  attachments: number;
}

const settle = async () => {
  for (let i = 0; i < 4; i++) await null;
};

export async function runRelay(opts: HarnessOptions): Promise<HarnessResult> {
  const { mode, chooser } = opts;
  const client = new FakeSocket();
  const backends: FakeBackend[] = [];
  const idle: FakeBackend[] = [];
  const releases: Release[] = [];
  const ends: RelayEnd[] = [];
  const violations: string[] = [];
  const forwarded: Buffer[] = [];
  const clientDelivered: Buffer[] = [];
  const clientReceived: Buffer[] = [];
  const expectedAtClient: Buffer[] = [];
  const inbox: Buffer[] = [];
  const acquires: { resolve: (c: ServerConnection) => void; reject: (e: unknown) => void }[] = [];
  let attached: FakeBackend | null = null;
  let attachments = 0;
  let emitting: FakeBackend | null = null;
  let ended = false;
  let serverOffset = 0;
  let clientOffset = 0;
  let turn = 0;
  const byConn = new Map<ServerConnection, FakeBackend>();

  const newBackend = (): FakeBackend => {
    const b = new FakeBackend(`s${backends.length + 1}`, () => chooser.notifyAfterReady());
    b.socket.accept = () => !chooser.backpressure('server');
    const record = b.socket.onWrite;
    b.socket.onWrite = (data) => {
      if (b.state !== 'held') violations.push(`${b.id} received ${data.length} client bytes while ${b.state}`);
      if (attached !== b) violations.push(`${b.id} received client bytes while ${attached?.id ?? 'no server'} is attached`);
      forwarded.push(data);
      record(data);
      if (b.sawTerminate) violations.push(`${b.id} received the client's Terminate`);
    };
    backends.push(b);
    byConn.set(b.conn, b);
    return b;
  };
  /** Servers handed out and not yet released (a server that crashed is still owed its release). */
  const out = new Set<FakeBackend>();
  const handOut = (b: FakeBackend): ServerConnection => {
    b.state = 'held';
    out.add(b);
    return b.conn;
  };

  client.accept = () => !chooser.backpressure('client');
  client.onWrite = (data) => {
    if (emitting === null) violations.push(`the client received ${data.length} bytes that no server sent just then`);
    else if (emitting !== attached) violations.push(`the client received bytes from ${emitting.id} while ${attached?.id ?? 'no server'} is attached`);
    clientReceived.push(data);
  };

  const pool = {
    statements: new StatementCache(100),
    acquireIdleMatching: (): ServerConnection | null => {
      if (!opts.fastAttach || chooser.otherServer()) return null;
      const b = idle.pop();
      return b ? handOut(b) : null;
    },
    acquire: (): Promise<ServerConnection> => new Promise((resolve, reject) => acquires.push({ resolve, reject })),
    release: (conn: ServerConnection, action: ReleaseAction) => {
      const b = byConn.get(conn);
      if (!b) return void violations.push('released a server the pool never handed out');
      releases.push({ server: b.id, action });
      if (!out.delete(b)) violations.push(`${b.id} released (${action}) again, while ${b.state}`);
      if (attached === b) violations.push(`${b.id} released while still attached`);
      if (action !== 'close') {
        const unsafe = b.unsafeReason();
        if (unsafe) violations.push(`${b.id} released for ${action} although ${unsafe}`);
      }
      if (mode === 'session' && action === 'reuse') violations.push(`${b.id}: a session server went back for reuse without a reset`);
      if (action === 'close' || b.unsafeReason()) {
        b.conn.close();
      } else {
        b.state = 'idle';
        idle.push(b);
      }
    },
  };

  const first = newBackend();
  out.add(first);
  const relay = new Relay({
    client: client.asSocket,
    mode,
    pool,
    settings: new Map(),
    holder: 'c1',
    logger: pino({ level: 'silent' }),
    // The scripted backends answer only what the client sent: no look at the session after a SET.
    transaction: { ...DEFAULT_TRANSACTION_OPTIONS, cleanup: false },
    onEnd: (e) => {
      if (ended) violations.push(`a second end: ${e.kind}`);
      ended = true;
      ends.push(e);
    },
    onServer: (s) => {
      if (s && attached) violations.push(`${byConn.get(s)?.id} attached while ${attached.id} still is`);
      attached = s ? (byConn.get(s) ?? null) : null;
      if (s) attachments++;
    },
  });

  const sendTurn = () => {
    const t = opts.turns[turn++];
    let at = 0;
    for (const size of chooser.clientChunks(clientOffset, t.bytes.length)) {
      inbox.push(t.bytes.subarray(at, at + size));
      at += size;
    }
    if (at !== t.bytes.length) throw new Error('clientChunks must cover the turn');
    clientOffset += t.bytes.length;
  };

  let early: Buffer = Buffer.alloc(0);
  if (opts.early && opts.turns.length > 0) {
    turn = 1;
    early = opts.turns[0].bytes;
    clientOffset = early.length;
    clientDelivered.push(early);
  }
  relay.start(first.conn, early);

  const quiet = () => inbox.length === 0 && acquires.length === 0 && !client.drainPending && backends.every((b) => b.socket.destroyed || (b.pendingBytes === 0 && !b.socket.drainPending));
  let stopped = false;

  for (let guard = 0; ; guard++) {
    if (guard > 200_000) throw new Error('the relay run does not end');
    const steps: Step[] = [];
    if (client.drainPending) steps.push({ kind: 'drain-client', run: () => client.drain() });
    for (const b of backends) if (b.socket.drainPending && !b.socket.destroyed) steps.push({ kind: 'drain-server', run: () => b.socket.drain() });
    if (acquires.length > 0) {
      steps.push({
        kind: 'resolve-acquire',
        run: async () => {
          const a = acquires.shift()!;
          if (chooser.acquireFails()) a.reject(new ProxyError('pool.timeout', SqlState.CONNECTION_FAILURE, 'no server'));
          else a.resolve(handOut((!chooser.otherServer() && idle.pop()) || newBackend()));
          await settle();
        },
      });
    }
    for (const b of backends) {
      if (b.pendingBytes === 0 || b.socket.destroyed) continue;
      if (b.state === 'held' && !b.socket.paused) {
        steps.push({
          kind: 'server-data',
          run: () => {
            const chunk = b.take(Math.max(1, Math.min(b.pendingBytes, chooser.serverChunk(serverOffset, b.pendingBytes))));
            serverOffset += chunk.length;
            if (attached === b && !ended) expectedAtClient.push(chunk);
            emitting = b;
            b.socket.deliver(chunk);
            emitting = null;
            if (attached === b && b.socket.unread.length > 0) violations.push(`${b.id}: a chunk of the attached server was put back unread`);
          },
        });
      } else if (b.state === 'idle') {
        // An idle server that speaks is going away (the pool closes it); no client may see it.
        steps.push({
          kind: 'stray-data',
          run: () => {
            emitting = b;
            b.socket.deliver(b.take(b.pendingBytes));
            emitting = null;
            idle.splice(idle.indexOf(b), 1);
            b.conn.close();
          },
        });
      }
    }
    if (!ended && inbox.length > 0 && !client.paused) {
      steps.push({
        kind: 'client-data',
        run: () => {
          const chunk = inbox.shift()!;
          clientDelivered.push(chunk);
          client.deliver(chunk);
        },
      });
    }
    if (!ended && turn < opts.turns.length && (!opts.turns[turn].wait || quiet())) steps.push({ kind: 'next-turn', run: sendTurn });
    if (opts.failures && !ended) {
      steps.push({ kind: 'client-close', run: () => void client.emit('close') });
      if (attached) {
        const b: FakeBackend = attached;
        steps.push({ kind: 'server-crash', run: () => b.conn.close() });
      }
    }
    if (steps.length === 0) {
      if (ended || stopped) break;
      // The script is over and the client did not leave by Terminate.
      stopped = true;
      if (opts.leave === 'close') client.emit('close');
      else relay.stop();
      continue;
    }
    await steps[chooser.pick(steps)].run();
  }

  for (const b of backends) {
    if (out.has(b)) violations.push(`${b.id} was never released`);
    if (b.socket.writesAfterDestroy > 0) violations.push(`${b.id} was written to after it was closed`);
  }
  return {
    releases,
    ends,
    violations,
    forwarded: Buffer.concat(forwarded),
    clientDelivered: Buffer.concat(clientDelivered),
    clientReceived: Buffer.concat(clientReceived),
    expectedAtClient: Buffer.concat(expectedAtClient),
    backends,
    clientWritesWhileOwed: client.writesWhileOwed,
    serverWritesWhileOwed: backends.reduce((n, b) => n + b.socket.writesWhileOwed, 0),
    attachments,
  };
}

/** Step priorities for the deterministic chooser: answers and drains first, then the client. */
const ORDER: StepKind[] = ['drain-server', 'drain-client', 'resolve-acquire', 'server-data', 'stray-data', 'client-data', 'next-turn', 'client-close', 'server-crash'];

/** The client sends everything it may before the servers answer (pipelining). */
export const CLIENT_FIRST: StepKind[] = ['drain-server', 'drain-client', 'resolve-acquire', 'client-data', 'next-turn', 'server-data', 'stray-data', 'client-close', 'server-crash'];

export interface CutOptions {
  /** One byte per chunk, both ways. */
  bytewise?: boolean;
  /** Step priorities (default: answers first). */
  order?: StepKind[];
  /** Steps to take first, in this order (each the first enabled step of its kind); then `order`. */
  script?: StepKind[];
  /** Every ReadyForQuery is followed by a NotificationResponse. */
  notify?: boolean;
  /** Which writes (counted from 0 on each side) meet a full buffer. */
  full?: { client?: number[]; server?: number[] };
}

/** Cuts the client stream at `clientCuts` and the server stream at `serverCuts` (absolute offsets); nothing else varies. */
export function cutAt(clientCuts: Iterable<number> = [], serverCuts: Iterable<number> = [], opts: CutOptions = {}): Chooser {
  const cc = [...clientCuts].sort((a, b) => a - b);
  const sc = [...serverCuts].sort((a, b) => a - b);
  const order = opts.order ?? ORDER;
  const script = [...(opts.script ?? [])];
  const writes = { client: 0, server: 0 };
  return {
    pick: (steps) => {
      const scripted = script.shift();
      if (scripted) {
        const k = steps.findIndex((s) => s.kind === scripted);
        if (k < 0) throw new Error(`scripted step ${scripted} is not possible now (possible: ${steps.map((s) => s.kind).join(', ')})`);
        return k;
      }
      let best = 0;
      for (let i = 1; i < steps.length; i++) if (order.indexOf(steps[i].kind) < order.indexOf(steps[best].kind)) best = i;
      return best;
    },
    clientChunks: (offset, length) => {
      if (opts.bytewise) return Array.from({ length }, () => 1);
      const sizes: number[] = [];
      let at = offset;
      for (const c of cc) {
        if (c > at && c < offset + length) {
          sizes.push(c - at);
          at = c;
        }
      }
      sizes.push(offset + length - at);
      return sizes;
    },
    serverChunk: (offset, available) => {
      if (opts.bytewise) return 1;
      const next = sc.find((c) => c > offset);
      return next === undefined ? available : Math.min(available, next - offset);
    },
    backpressure: (side) => (opts.full?.[side] ?? []).includes(writes[side]++),
    notifyAfterReady: () => opts.notify ?? false,
    acquireFails: () => false,
    otherServer: () => false,
  };
}

/** A small deterministic PRNG (mulberry32): a schedule is replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export interface Rates {
  backpressure?: number;
  notify?: number;
  acquireFailure?: number;
  failure?: number;
  otherServer?: number;
}

/**
 * The chooser of property tests. Decisions come from a fast-check array (each one shrinks; when they
 * run out: the first step, whole chunks, no backpressure, no failure) or from a seeded generator
 * (only the seed shrinks, so a failing script shrinks in seconds). Rates are per thousand.
 */
export function randomChooser(decisions: number[] | (() => number), rates: Rates = {}): Chooser {
  let i = 0;
  const endless = typeof decisions === 'function';
  const more = () => endless || i < decisions.length;
  const next = () => (typeof decisions === 'function' ? decisions() : i < decisions.length ? decisions[i++] : 0);
  const chance = (per1000: number) => per1000 > 0 && more() && next() % 1000 < per1000;
  return {
    pick: (steps) => {
      // Failures are rare: offered with a small weight so that most runs reach the end of their script.
      const ordinary = steps.map((s, k) => k).filter((k) => steps[k].kind !== 'client-close' && steps[k].kind !== 'server-crash');
      if (ordinary.length < steps.length && (ordinary.length === 0 || chance(rates.failure ?? 0))) {
        const failing = steps.map((s, k) => k).filter((k) => !ordinary.includes(k));
        return failing[next() % failing.length];
      }
      return ordinary[next() % ordinary.length];
    },
    clientChunks: (_offset, length) => {
      const sizes: number[] = [];
      let left = length;
      while (left > 0) {
        const d = next();
        // Mostly the whole rest, often small pieces, sometimes a single byte.
        const size = d % 4 === 0 ? left : d % 4 === 1 ? 1 : 1 + (Math.floor(d / 4) % left);
        sizes.push(Math.min(size, left));
        left -= Math.min(size, left);
      }
      return sizes;
    },
    serverChunk: (_offset, available) => {
      const d = next();
      return d % 3 === 0 ? available : d % 3 === 1 ? 1 + (Math.floor(d / 3) % 7) : 1 + (Math.floor(d / 3) % available);
    },
    backpressure: () => chance(rates.backpressure ?? 0),
    notifyAfterReady: () => chance(rates.notify ?? 0),
    acquireFails: () => chance(rates.acquireFailure ?? 0),
    otherServer: () => chance(rates.otherServer ?? 300),
  };
}
