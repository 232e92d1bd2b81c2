/**
 * Model-based tests of the server-handshake machine through the real server driver: every
 * shortest path of the machine's graph, per server_tls_mode, runs connectServer() against a
 * scripted backend on a real socket (real TLS with generated certificates). Ends with the
 * transition-coverage gate for this machine.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  machineRegistry,
  SERVER_TLS_MODES,
  serverHandshakeMachine,
  type ServerEvent,
  type ServerHandshakeContext,
  type ServerHandshakeInput,
} from '../../machines/index.js';
import { freePort } from '../../src/dev/index.js';
import { JournalBook } from '../../src/journal/journal.js';
import { Metrics } from '../../src/observability/metrics.js';
import { loadServerTls, type ServerTlsMaterial } from '../../src/tls/server-tls.js';
import { toMermaid } from '../../src/diagrams/mermaid.js';
import { CoverageRecorder } from './harness/coverage.js';
import { extendPath, generatePaths, type ModelPath, type Undrivable } from './harness/model-paths.js';
import { createModelPki } from './harness/pki.js';
import { runPath, type MachineView, type PathWorld } from './harness/run-path.js';
import { serverCounters, verifyServerEffect, type ServerCounters } from './harness/server-effects.js';
import { SERVER_SAMPLES, UNPROVEN_SCRAM_OK } from './harness/server-samples.js';
import { ServerWorld, type ServerFixture } from './harness/server-world.js';

interface ServerMode {
  name: string;
  input: ServerHandshakeInput;
}

const MODES: ServerMode[] = [
  ...SERVER_TLS_MODES.map((m) => ({ name: m, input: machineRegistry['server-handshake'].modes[m] })),
  // Direct TLS (PostgreSQL 17+, server_tls_negotiation: direct) is the only way into its first transition.
  { name: 'verify-full, direct', input: { mode: 'verify-full', negotiation: 'direct' } },
];

const UNDRIVABLE: Undrivable[] = [
  ...['connecting', 'reconnecting'].flatMap((state) => [
    { state: `negotiating.${state}`, event: 'socket.closed', why: 'a socket that never connected reports socket.connectFailed, not a close' },
    { state: `negotiating.${state}`, event: 'backend.protocolViolation', why: 'nothing is read before the socket connects' },
  ]),
  { state: 'negotiating.ssl-requested', event: 'backend.protocolViolation', why: 'the reply to SSLRequest is one byte: any byte is an sslReply' },
  { state: 'negotiating.tls-handshaking', event: 'backend.protocolViolation', why: 'during the handshake bytes are TLS records, read by the TLS layer' },
  {
    state: 'negotiating.tls-handshaking',
    event: 'socket.closed',
    why: 'the TLS layer reports a close during the handshake as an error, which the driver turns into tls.failed',
  },
  ...['connecting', 'reconnecting', 'ssl-requested'].map((state) => ({
    state: `negotiating.${state}`,
    event: 'tls.failed',
    why: 'no TLS layer exists before the handshake starts',
  })),
  ...['login', 'starting-up'].map((state) => ({
    state: `negotiating.${state}`,
    event: 'tls.failed',
    when: (context: ServerHandshakeContext) => !context.tls,
    why: 'a plain-text login has no TLS layer to fail',
  })),
];

function sample(match: (e: ServerEvent) => boolean): ServerEvent {
  const found = SERVER_SAMPLES.find(match);
  if (!found) throw new Error('no such sample');
  return found;
}
const ask = (method: string) => sample((e) => e.type === 'backend.authRequest' && e.method === method);
const AUTH_OK: ServerEvent = { type: 'backend.authOk', scramProofPending: false };
const READY: ServerEvent = { type: 'backend.ready', trailingBytes: 0 };

/**
 * Logins as real servers run them, appended to every path that has just sent its StartupMessage:
 * the shortest paths answer only the first authentication sample (all requests lead to the same
 * model state), so these make MD5 and the full SCRAM exchange (right, wrong and missing server
 * signature) run over every negotiation variant.
 */
const LOGINS: ServerEvent[][] = [
  [ask('scram-sha-256'), AUTH_OK, READY],
  [ask('md5'), AUTH_OK, READY],
  [ask('cleartext'), AUTH_OK, READY],
  [ask('scram-sha-256'), sample((e) => e.type === 'auth.failed')],
  [ask('scram-sha-256'), UNPROVEN_SCRAM_OK],
  [ask('md5'), sample((e) => e.type === 'backend.error' && e.sqlstate === '28000')],
];

function withLogins(paths: Array<ModelPath<ServerEvent>>): Array<ModelPath<ServerEvent>> {
  // Every distinct way into login (generated paths are deduplicated, so the ways are prefixes).
  const starts = new Map<string, ModelPath<ServerEvent>>();
  for (const p of paths) {
    const entry = p.steps.findIndex((s, i) => i > 0 && s.state.matches({ negotiating: 'login' }));
    if (entry < 0) continue;
    const steps = p.steps.slice(0, entry + 1);
    starts.set(JSON.stringify(steps.map((s) => s.event)), { name: p.name, steps });
  }
  return [...paths, ...[...starts.values()].flatMap((p) => LOGINS.map((events) => extendPath(serverHandshakeMachine, p, events, label)))];
}

const FACTS: Record<string, string[]> = {
  'backend.sslReply': ['reply', 'trailingBytes'],
  'tls.established': ['authorized'],
  'backend.authRequest': ['method'],
  'backend.error': ['sqlstate'],
  'backend.authOk': ['scramProofPending'],
  'backend.ready': ['trailingBytes'],
  'timer.expired': ['timer'],
};

function view(input: ServerHandshakeInput): MachineView<ServerEvent> {
  return {
    machine: serverHandshakeMachine,
    input,
    comparableContext: (raw) => {
      const c = raw as ServerHandshakeContext;
      return { ...c, failure: c.failure && { reason: c.failure.reason, sqlstate: c.failure.sqlstate, tlsError: c.failure.tlsError } };
    },
    facts: (event) => {
      const e = event as unknown as Record<string, unknown>;
      const facts: Record<string, unknown> = { type: event.type };
      for (const k of FACTS[event.type] ?? []) facts[k] = e[k];
      if (event.type === 'tls.established') facts.hostnameMatches = event.hostnameError === null;
      return facts;
    },
  };
}

const recorder = new CoverageRecorder('server-handshake', serverHandshakeMachine);
let fixture: ServerFixture;

beforeAll(async () => {
  const pki = await createModelPki();
  const materials = new Map<string, ServerTlsMaterial | null>();
  fixture = {
    pki,
    metrics: new Metrics(),
    logger: pino({ level: 'silent' }),
    book: new JournalBook(10_000),
    material: (input) => {
      const key = `${input.mode}/${input.negotiation}`;
      if (!materials.has(key)) {
        const settings = { mode: input.mode, ca_cert: pki.caFile, certificate: null, private_key: null, negotiation: input.negotiation };
        materials.set(key, input.mode === 'disable' ? null : loadServerTls(settings));
      }
      return materials.get(key)!;
    },
    closedPort: () => freePort(),
  };
});

afterAll(async () => {
  await fixture.pki.remove();
});

describe.each(MODES)('server_tls_mode $name', (mode) => {
  const paths = withLogins(generatePaths(serverHandshakeMachine, mode.input, () => SERVER_SAMPLES, UNDRIVABLE, label));
  recorder.recordPaths(mode.name, mode.input, paths);

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    const world = new ServerWorld(fixture, mode.input, path);
    let before: ServerCounters = { failures: new Map(), tlsErrors: 0 };
    const adapter: PathWorld<ServerEvent> = {
      get actor() {
        return world.actor;
      },
      entries: () => world.entries(),
      cause: (step, index) => world.cause(step, index),
      effect: (step, _index, previous) => verifyServerEffect(world, step, previous, before),
    };
    try {
      before = await serverCounters(fixture.metrics);
      await world.open();
      expect(fixture.book.find(world.id)?.input, 'machine input the driver derived').toEqual(mode.input);
      await runPath(path, adapter, view(mode.input));
    } finally {
      await world.dispose();
    }
  });
});

describe('server-handshake transition coverage', () => {
  it('every transition of the machine is taken by some generated path (each run through the real driver above)', () => {
    recorder.write();
    console.log(recorder.table());
    expect(recorder.unreached()).toEqual([]);
  });

  // The graph each mode really walked through the driver, kept in diagrams/ (`npx vitest run test/model -u` rewrites them).
  it('diagrams/server-handshake.<mode>.mmd show the transitions each mode takes', async () => {
    for (const [mode, taken] of recorder.modes()) {
      const file = `../../diagrams/server-handshake.${mode.replace(/[^a-z0-9]+/gi, '-')}.mmd`;
      await expect(toMermaid(serverHandshakeMachine, taken)).toMatchFileSnapshot(file);
    }
  });
});

function label(event: ServerEvent): string {
  switch (event.type) {
    case 'backend.sslReply':
      return `reply ${event.reply}${event.trailingBytes > 0 && (event.reply === 'S' || event.reply === 'N') ? '+injected bytes' : ''}`;
    case 'tls.established':
      return `TLS up(${!event.authorized ? 'untrusted CA' : event.hostnameError ? 'other host' : 'trusted'})`;
    case 'backend.authRequest':
      return `auth ${event.method}`;
    case 'backend.error':
      return `error ${event.sqlstate}`;
    case 'backend.authOk':
      return event.scramProofPending ? 'authOk without SCRAM signature' : 'authOk';
    case 'backend.ready':
      return event.trailingBytes > 0 ? 'ready+bytes after it' : 'ready';
    default:
      return event.type.replace(/^backend\./, '').replace(/^socket\./, 'socket ').replace(/^timer\.expired$/, 'timeout');
  }
}
