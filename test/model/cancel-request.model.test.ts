/**
 * Model-based tests of the cancel-request machine through the real cancel driver: every shortest
 * path of the machine's graph, per server_tls_mode and session encryption, runs sendCancel()
 * against a scripted backend on a real socket (real TLS with generated certificates). Ends with the
 * transition-coverage gate for this machine.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelRequestMachine, machineRegistry, SERVER_TLS_MODES, type CancelEvent, type CancelRequestContext, type CancelRequestInput } from '../../machines/index.js';
import { freePort } from '../../src/dev/index.js';
import { toMermaid } from '../../src/diagrams/mermaid.js';
import { JournalBook } from '../../src/journal/journal.js';
import { Metrics } from '../../src/observability/metrics.js';
import { loadServerTls, type ServerTlsMaterial } from '../../src/tls/server-tls.js';
import { cancelCounters, verifyCancelEffect, type CancelCounters } from './harness/cancel-effects.js';
import { CANCEL_KEY, CANCEL_SAMPLES } from './harness/cancel-samples.js';
import { CancelWorld, type CancelFixture } from './harness/cancel-world.js';
import { CoverageRecorder } from './harness/coverage.js';
import { generatePaths, type Undrivable } from './harness/model-paths.js';
import { createModelPki } from './harness/pki.js';
import { runPath, type MachineView, type PathWorld } from './harness/run-path.js';

interface CancelMode {
  name: string;
  input: CancelRequestInput;
}

const MODES: CancelMode[] = [
  ...SERVER_TLS_MODES.map((m) => ({ name: m, input: machineRegistry['cancel-request'].modes[m] })),
  // The other sessions allow and prefer can end up with: allow's TLS retry, prefer's plain fallback.
  { name: 'allow, TLS session', input: { mode: 'allow', negotiation: 'postgres', sessionTls: true } },
  { name: 'prefer, plain session', input: { mode: 'prefer', negotiation: 'postgres', sessionTls: false } },
  { name: 'verify-full, direct', input: { mode: 'verify-full', negotiation: 'direct', sessionTls: true } },
];

const UNDRIVABLE: Undrivable[] = [
  { state: 'requesting.connecting', event: 'socket.closed', why: 'a socket that never connected reports socket.connectFailed, not a close' },
  {
    state: 'requesting.tls-handshaking',
    event: 'socket.closed',
    why: 'the TLS layer reports a close during the handshake as an error, which the driver turns into tls.failed',
  },
  {
    state: 'requesting.sending',
    event: 'tls.failed',
    when: (context: CancelRequestContext) => !context.tls,
    why: 'a plain cancel has no TLS layer to fail',
  },
  {
    state: 'requesting.sending',
    event: 'socket.closed',
    when: (context: CancelRequestContext) => context.tls,
    payload: (event: CancelEvent) => event.type === 'socket.closed' && event.hadError,
    why: 'under TLS a reset surfaces as a TLS error (tls.failed) before the close',
  },
];

const FACTS: Record<string, string[]> = {
  'backend.sslReply': ['reply', 'trailingBytes'],
  'tls.established': ['authorized'],
  'socket.closed': ['hadError'],
  'timer.expired': ['timer'],
};

function view(input: CancelRequestInput): MachineView<CancelEvent> {
  return {
    machine: cancelRequestMachine,
    input,
    comparableContext: (raw) => {
      const c = raw as CancelRequestContext;
      return { ...c, failure: c.failure && { reason: c.failure.reason, tlsError: c.failure.tlsError } };
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

const recorder = new CoverageRecorder('cancel-request', cancelRequestMachine);
let fixture: CancelFixture;

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

describe.each(MODES)('cancel under server_tls_mode $name', (mode) => {
  const paths = generatePaths(cancelRequestMachine, mode.input, () => CANCEL_SAMPLES, UNDRIVABLE, label);
  recorder.recordPaths(mode.name, mode.input, paths);

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    const world = new CancelWorld(fixture, mode.input, path);
    let before: CancelCounters = { outcomes: new Map(), tlsErrors: 0 };
    const adapter: PathWorld<CancelEvent> = {
      get actor() {
        return world.actor;
      },
      entries: () => world.entries(),
      cause: (step) => world.cause(step),
      effect: (step, _index, previous) => verifyCancelEffect(world, step, previous, before),
    };
    try {
      before = await cancelCounters(fixture.metrics);
      await world.open();
      expect(fixture.book.find(world.id)?.input, 'machine input the driver derived').toEqual(mode.input);
      await runPath(path, adapter, view(mode.input));
      // Secrets are never journaled: neither the backend's process id nor its secret appears in the journal.
      const journal = JSON.stringify(fixture.book.find(world.id));
      expect(journal).not.toContain(String(CANCEL_KEY.processId));
      expect(journal).not.toMatch(new RegExp(`${CANCEL_KEY.secretKey.toString('hex')}|${CANCEL_KEY.secretKey.toString('base64').replace(/[+/=]/g, '\\$&')}`));
    } finally {
      await world.dispose();
    }
  });
});

describe('cancel-request transition coverage', () => {
  it('every transition of the machine is taken by some generated path (each run through the real driver above)', () => {
    recorder.write();
    console.log(recorder.table());
    expect(recorder.unreached()).toEqual([]);
  });

  // The graph each mode really walked through the driver, kept in diagrams/ (`npx vitest run test/model -u` rewrites them).
  it('diagrams/cancel-request.<mode>.mmd show the transitions each mode takes', async () => {
    for (const [mode, taken] of recorder.modes()) {
      const file = `../../diagrams/cancel-request.${mode.replace(/[^a-z0-9]+/gi, '-')}.mmd`;
      await expect(toMermaid(cancelRequestMachine, taken)).toMatchFileSnapshot(file);
    }
  });
});

function label(event: CancelEvent): string {
  switch (event.type) {
    case 'backend.sslReply':
      return `reply ${event.reply}${event.trailingBytes > 0 && event.reply === 'S' ? '+injected bytes' : ''}`;
    case 'tls.established':
      return `TLS up(${!event.authorized ? 'untrusted CA' : event.hostnameError ? 'other host' : 'trusted'})`;
    case 'socket.closed':
      return event.hadError ? 'server reset' : 'server closed';
    default:
      return event.type.replace(/^socket\./, 'socket ').replace(/^timer\.expired$/, 'timeout');
  }
}
