/** The flow of a connection, as the viewer draws it: which transition each journal row took, and what refused it. */
import { describe, expect, it } from 'vitest';
import type { ClientEvent, ClientSessionInput } from '../../../machines/index.js';
import { toMermaid } from '../../../src/diagrams/mermaid.js';
import { machineRegistry } from '../../../machines/index.js';
import { connectionFlow } from '../../../src/observability/viewer-flow.js';

const input: ClientSessionInput = { tlsMode: 'require', tlsAvailable: true, overCapacity: false, certIdentity: 'none', transport: 'tcp', hbaCertRules: false };
const startup: ClientEvent = { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'plain', address: '127.0.0.1', hba: { kind: 'unconfigured' }, adminConsole: null };
const established: ClientEvent = {
  type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', alpnProtocol: null, authorized: false, authorizationError: null, peerCertificate: null,
};
const tlsHandshake: ClientEvent[] = [{ type: 'client.sslRequest', trailingBytes: 0 }, { type: 'tls.slotGranted' }, established];

function flowOf(events: ClientEvent[]) {
  return connectionFlow({ id: 'c1', machine: 'client-session', input, entries: events.map((event, i) => ({ seq: i + 1, at: 1000 + i, machine: 'client-session', machineVersion: 1, event })) });
}

describe('connection flow', () => {
  it('names, for every journal row in order, the transition a TLS login took through to ready', () => {
    const flow = flowOf([...tlsHandshake, startup, { type: 'auth.succeeded' }, { type: 'pool.acquired', serverId: 's1' }]);
    expect(flow.initial).toBe('connected.negotiating.startup-phase.negotiable.awaiting-startup');
    expect(flow.steps.map((s) => [s.seq, s.event, s.to])).toEqual([
      [1, 'client.sslRequest', 'connected.negotiating.ssl-requested'],
      [2, 'tls.slotGranted', 'connected.negotiating.tls-handshaking'],
      [3, 'tls.established', 'connected.negotiating.startup-phase.tls-established'],
      [4, 'client.startup', 'connected.negotiating.authenticating'],
      [5, 'auth.succeeded', 'connected.negotiating.awaiting-server'],
      [6, 'pool.acquired', 'connected.ready'],
    ]);
    expect(flow.steps[0].transition).toEqual({
      source: 'connected_negotiating_startup_phase_negotiable',
      targets: ['connected_negotiating_ssl_requested'],
      label: 'client.sslRequest [isTlsOffered] / replySsl, acquireHandshakeSlot',
      guard: 'isTlsOffered',
      passedOver: ['hasUnencryptedTrailingBytes', 'isOverCapacity'],
    });
    // The password exchange is the fallback of client.startup: every refusing guard was tried first and was false.
    expect(flow.steps[3].transition?.guard).toBeNull();
    expect(flow.steps[3].transition?.passedOver).toContain('isPlainButTlsRequired');
    expect(flow.steps[3].from).toBe('connected.negotiating.startup-phase.tls-established');
    expect(flow.refusal).toBeNull();
    expect(flow.status).toBe('active');
  });

  it('every walked transition is an edge of the machine diagram, with the same ends and label', () => {
    const mermaid = toMermaid(machineRegistry['client-session'].machine);
    const flow = flowOf([...tlsHandshake, startup, { type: 'auth.succeeded' }, { type: 'pool.acquired', serverId: 's1' }, { type: 'socket.closed' }]);
    for (const { transition } of flow.steps) {
      for (const target of transition!.targets) expect(mermaid).toContain(`  ${transition!.source} --> ${target} : ${transition!.label}\n`);
    }
  });

  it('names the guard that refused a plaintext startup under tls_mode require, and the failure the client got', () => {
    const flow = flowOf([startup]);
    expect(flow.steps[0].transition).toMatchObject({ source: 'connected_negotiating_startup_phase', targets: ['failed'], guard: 'isPlainButTlsRequired', passedOver: ['isOverCapacity'] });
    expect(flow.refusal).toMatchObject({ seq: 1, event: 'client.startup', guard: 'isPlainButTlsRequired', failure: { sqlstate: '28000' } });
    expect(flow.state).toBe('failed');
    expect(flow.status).toBe('done');
  });

  it('a wrong password is refused by the auth.failed event itself, with its SQLSTATE', () => {
    const flow = flowOf([...tlsHandshake, startup, { type: 'auth.failed', sqlstate: '28P01', message: 'password authentication failed for user "alice"' }]);
    expect(flow.refusal).toEqual({
      seq: 5,
      event: 'auth.failed',
      guard: null,
      failure: expect.objectContaining({ sqlstate: '28P01', message: 'password authentication failed for user "alice"' }),
    });
  });

  it('keeps an event the machine ignores as a row with no transition, and rows after the final state apart', () => {
    const flow = flowOf([{ type: 'tls.slotGranted' }, startup, { type: 'socket.closed' }]);
    expect(flow.steps.map((s) => [s.seq, s.transition === null])).toEqual([[1, true], [2, false]]);
    expect(flow.steps[0].from).toBe(flow.steps[0].to);
    expect(flow.afterFinal).toEqual([3]);
  });
});
