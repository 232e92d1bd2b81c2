/**
 * Model-based tests of the client-session machine through the real ClientDriver: every shortest
 * path of the machine's graph, per tls_mode, runs over a real TCP connection (and real TLS) with
 * the test playing the client. Ends with the transition-coverage gate for this machine.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_TLS_MODES,
  clientSessionMachine,
  machineRegistry,
  type ClientEvent,
  type ClientSessionContext,
  type ClientSessionInput,
} from '../../machines/index.js';
import { JournalBook } from '../../src/journal/journal.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ClientTlsProvider } from '../../src/tls/client-tls.js';
import { BackendStub } from './harness/client-deps.js';
import { loggedIn, rejectionCount, verifyClientEffect } from './harness/client-effects.js';
import { clientSamples } from './harness/client-samples.js';
import { ClientWorld, type ClientFixture } from './harness/client-world.js';
import { toMermaid } from '../../src/diagrams/mermaid.js';
import { CoverageRecorder } from './harness/coverage.js';
import { generatePaths, type Undrivable } from './harness/model-paths.js';
import { createModelPki } from './harness/pki.js';
import { runPath, type MachineView, type PathWorld } from './harness/run-path.js';

interface ClientMode {
  name: string;
  input: ClientSessionInput;
  /** Whether the listener has a certificate configured. */
  certificate: boolean;
}

const registry = machineRegistry['client-session'].modes;
const MODES: ClientMode[] = [
  // The driver derives tlsAvailable from the loaded certificate: under disable none is ever loaded.
  ...CLIENT_TLS_MODES.map((m) => ({ name: m, input: { ...registry[m], tlsAvailable: m !== 'disable' }, certificate: m !== 'disable' })),
  { name: 'allow, over capacity', input: { ...registry.allow, overCapacity: true }, certificate: true },
  { name: 'allow, no certificate', input: { ...registry.allow, tlsAvailable: false }, certificate: false },
  // pg_hba cert rules: every TLS client is asked for a certificate, whatever tls_mode says.
  { name: 'allow, hba cert rules', input: { ...registry.allow, hbaCertRules: true }, certificate: true },
  // The Unix socket: TLS is never offered there and tls_mode require does not refuse plain local clients.
  { name: 'require, Unix socket', input: { ...registry.require, transport: 'unix' }, certificate: true },
];

const pinned = (c: ClientSessionContext) => c.pins.length > 0;
const UNDRIVABLE: Undrivable[] = [
  {
    state: 'connected.ready',
    event: 'session.pinned',
    when: pinned,
    why: 'the model pins a session once, with LISTEN; letting go (UNLISTEN) is covered end to end (transaction-pooling-pinning.test.ts)',
  },
  {
    state: 'connected.ready',
    event: 'admin.kill',
    when: pinned,
    why: 'the model kills an unpinned session; KILL of sessions of every kind is covered end to end (admin-console.test.ts)',
  },
  ...['pool.failed', 'internal.error'].map((event) => ({
    state: 'connected.ready',
    event,
    when: pinned,
    why: 'a pinned client keeps its server: its next transaction asks the pool for nothing that could fail',
  })),
  {
    state: 'connected.negotiating.authenticating',
    event: 'auth.succeeded',
    when: (c: ClientSessionContext) => c.mockAuth,
    why: 'a mock exchange checks the proof against keys nobody has: no password passes it',
  },
  {
    state: 'connected.negotiating.ssl-requested',
    event: 'client.directTls',
    why: 'the driver reads nothing while a TLS handshake slot is awaited (CVE-2021-23214)',
  },
  ...['ssl-requested', 'tls-handshaking', 'looking-up', 'authenticating', 'awaiting-server'].map((state) => ({
    state: `connected.negotiating.${state}`,
    event: 'client.invalidPacket',
    why: 'the driver parses startup packets only in startup-phase (bad auth messages become auth.failed)',
  })),
];

const FACTS: Record<string, string[]> = {
  'client.sslRequest': ['trailingBytes'],
  'client.startup': ['user', 'database', 'databaseKnown', 'password', 'address', 'hba', 'adminConsole'],
  'admin.kill': ['by'],
  'client.invalidPacket': ['sqlstate'],
  'tls.established': ['alpnProtocol', 'authorized'],
  'auth.failed': ['sqlstate'],
  'user.found': ['password'],
  'user.lookupFailed': ['sqlstate', 'message'],
  'pool.acquired': ['serverId'],
  'pool.failed': ['sqlstate'],
  'timer.expired': ['timer'],
};

function view(input: ClientSessionInput): MachineView<ClientEvent> {
  return {
    machine: clientSessionMachine,
    input,
    comparableContext: (raw) => {
      const c = raw as ClientSessionContext;
      return {
        ...c,
        failure: c.failure && { reason: c.failure.reason, sqlstate: c.failure.sqlstate },
        peer: c.peer && { commonName: c.peer.commonName, subject: c.peer.subject, issuer: c.peer.issuer },
      };
    },
    facts: (event) => {
      const e = event as unknown as Record<string, unknown>;
      const facts: Record<string, unknown> = { type: event.type };
      for (const k of FACTS[event.type] ?? []) facts[k] = e[k];
      if (event.type === 'tls.established') {
        const p = event.peerCertificate;
        facts.peer = p && { commonName: p.commonName, subject: p.subject, issuer: p.issuer };
      }
      return facts;
    },
  };
}

const recorder = new CoverageRecorder('client-session', clientSessionMachine);
let fixture: ClientFixture;
const providers = new Map<string, ClientTlsProvider>();

beforeAll(async () => {
  const pki = await createModelPki();
  const backend = new BackendStub();
  await backend.start();
  const accept: ClientFixture['accept'] = [];
  const listener = net.createServer((socket) => {
    const make = accept.shift();
    if (make) make(socket);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const unixListener = net.createServer((socket) => {
    const make = accept.shift();
    if (make) make(socket);
    else socket.destroy();
  });
  const unixPath = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'ghm-')), '.s.PGSQL.6432');
  await new Promise<void>((resolve) => unixListener.listen(unixPath, resolve));
  fixture = { pki, metrics: new Metrics(), logger: pino({ level: 'silent' }), book: new JournalBook(10_000), backend, listener, unixListener, unixPath, accept };
  for (const mode of MODES) {
    const files = mode.certificate
      ? { tls_certificate: pki.listenerCertFile, tls_private_key: pki.listenerKeyFile, tls_ca_cert: pki.caFile }
      : { tls_certificate: null, tls_private_key: null, tls_ca_cert: null };
    const versions = { tls_min_version: 'TLSv1.2', tls_max_version: 'TLSv1.3', tls_ciphers: null, tls13_ciphersuites: null } as const;
    providers.set(mode.name, new ClientTlsProvider(mode.input.tlsMode, { ...files, ...versions }));
  }
});

afterAll(async () => {
  await new Promise<void>((resolve) => fixture.listener.close(() => resolve()));
  await new Promise<void>((resolve) => fixture.unixListener.close(() => resolve()));
  await fs.rm(path.dirname(fixture.unixPath), { recursive: true, force: true });
  await fixture.backend.stop();
  await fixture.pki.remove();
});

describe.each(MODES)('client tls_mode $name', (mode) => {
  const paths = generatePaths(clientSessionMachine, mode.input, (c: ClientSessionContext) => clientSamples(c), UNDRIVABLE, label);
  recorder.recordPaths(mode.name, mode.input, paths);

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    const world = new ClientWorld(fixture, mode.input, providers.get(mode.name)!, path);
    let rejectionsBefore = 0;
    const adapter: PathWorld<ClientEvent> = {
      get actor() {
        return world.actor;
      },
      entries: () => world.entries(),
      cause: async (step, index) => {
        const reason = (step.state.context as ClientSessionContext).failure?.reason;
        rejectionsBefore = reason ? await rejectionCount(fixture.metrics, reason, loggedIn(world.actor.getSnapshot())) : 0;
        await world.cause(step, index);
      },
      effect: (step, _index, previous) => verifyClientEffect(world, step, previous, rejectionsBefore),
    };
    try {
      await world.open();
      expect(fixture.book.find(world.id)?.input, 'machine input the driver derived').toEqual(mode.input);
      await runPath(path, adapter, view(mode.input));
    } finally {
      await world.dispose();
    }
  });
});

describe('client-session transition coverage', () => {
  it('every transition of the machine is taken by some generated path (each run through the real driver above)', () => {
    recorder.write();
    console.log(recorder.table());
    expect(recorder.unreached()).toEqual([]);
  });

  // The graph each mode really walked through the driver, kept in diagrams/ (`npx vitest run test/model -u` rewrites them).
  it('diagrams/client-session.<mode>.mmd show the transitions each mode takes', async () => {
    for (const [mode, taken] of recorder.modes()) {
      const file = `../../diagrams/client-session.${mode.replace(/[^a-z0-9]+/gi, '-')}.mmd`;
      await expect(toMermaid(clientSessionMachine, taken)).toMatchFileSnapshot(file);
    }
  });
});

function label(event: ClientEvent): string {
  switch (event.type) {
    case 'client.sslRequest':
      return event.trailingBytes > 0 ? 'SSLRequest+injected bytes' : 'SSLRequest';
    case 'client.startup': {
      const hba = event.hba.kind === 'match' ? `hba ${event.hba.method}` : event.hba.kind === 'no-match' ? 'no hba match' : '';
      return `startup(${[event.user, event.adminConsole ? 'admin db' : `${event.databaseKnown ? 'known' : 'unknown'} db`, hba].filter(Boolean).join(', ')})`;
    }
    case 'tls.established':
      return `TLS up(${[event.alpnProtocol ? 'alpn' : 'no alpn', event.peerCertificate ? (event.authorized ? 'trusted cert' : 'untrusted cert') : ''].filter(Boolean).join(', ')})`;
    default:
      return event.type.replace(/^(client|tls|auth|pool|backend|socket|timer)\./, '$1 ').replace(/^client /, '');
  }
}
