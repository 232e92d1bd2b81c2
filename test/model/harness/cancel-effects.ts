/**
 * What PostgreSQL (the scripted backend) and the operator notice after each cancel-request step:
 * the SSLRequest, the ClientHello, the CancelRequest with the right key (inside TLS exactly when
 * the session was encrypted, never in plain otherwise), how sendCancel() settled, the counters.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import type { CancelEvent, CancelRequestContext } from '../../../machines/cancel-request.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import { encodeSslRequest } from '../../../src/protocol/index.js';
import { EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { CANCEL_PACKET } from './cancel-samples.js';
import type { CancelWorld } from './cancel-world.js';
import { leafName, valueToDotted, type ModelStep } from './model-paths.js';

export interface CancelCounters {
  outcomes: Map<string, number>;
  tlsErrors: number;
}

export async function cancelCounters(metrics: Metrics): Promise<CancelCounters> {
  const outcomes = new Map<string, number>();
  for (const v of (await metrics.cancelRequests.get()).values) outcomes.set(String(v.labels.outcome), v.value);
  const tlsErrors = (await metrics.serverTlsHandshakeErrors.get()).values.reduce((sum, v) => sum + v.value, 0);
  return { outcomes, tlsErrors };
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), EFFECT_TIMEOUT_MS).unref()),
  ]);
}

/** The key is on the wire in plain: the CancelRequest's 16 bytes appear in what the backend received, unencrypted. */
function keyInPlain(world: CancelWorld): boolean {
  return world.backend.peers.some((p) => p.wireBytes.includes(CANCEL_PACKET));
}

async function expectOutcome(world: CancelWorld, context: CancelRequestContext, before: CancelCounters, outcome: string): Promise<void> {
  const settled = await within(world.outcome, 'sendCancel() to settle');
  const expected = outcome === 'sent' ? { sent: true } : { sent: false, failure: { reason: context.failure!.reason, tlsError: context.failure!.tlsError } };
  const got = settled.sent ? settled : { sent: false, failure: { reason: settled.failure.reason, tlsError: settled.failure.tlsError } };
  expect(got, 'what sendCancel() resolved with').toEqual(expected);
  const after = await cancelCounters(world.fixture.metrics);
  expect(after.outcomes.get(outcome) ?? 0, `gatehouse_cancel_requests_total{outcome=${outcome}}`).toBe((before.outcomes.get(outcome) ?? 0) + 1);
  expect(after.tlsErrors, 'TLS errors counted only for TLS failures').toBe(before.tlsErrors + (context.failure?.tlsError ? 1 : 0));
  expect(world.timers.armed, 'cancel timer cleared').toBe(0);
  for (const peer of world.backend.peers) await within(peer.closed, `backend connection #${peer.seq} to be closed`);
}

export async function verifyCancelEffect(world: CancelWorld, step: ModelStep<CancelEvent>, previous: AnyMachineSnapshot, before: CancelCounters): Promise<void> {
  const state = step.state;
  const context = state.context as CancelRequestContext;
  if (state.status === 'active') expect(world.settled, 'sendCancel() still pending').toBeNull();
  switch (valueToDotted(state.value)) {
    case 'requesting.connecting':
      return;
    case 'requesting.ssl-requested': {
      const peer = await world.backend.peer(1);
      expect(await peer.reader.read(8, 'an SSLRequest'), 'SSLRequest').toEqual(encodeSslRequest());
      return peer.reader.expectDrained();
    }
    case 'requesting.tls-handshaking': {
      const peer = await world.backend.peer(1);
      expect((await peer.reader.peek(1, 'a TLS ClientHello'))[0], 'TLS handshake record').toBe(0x16);
      return;
    }
    case 'requesting.sending': {
      const peer = await world.backend.peer(1);
      // What PostgreSQL reads: the real backend key, decrypted by the TLS layer when there is one.
      expect(await peer.reader.read(CANCEL_PACKET.length, 'a CancelRequest'), 'the CancelRequest with the backend key').toEqual(CANCEL_PACKET);
      peer.reader.expectDrained();
      expect(peer.tls !== null, 'the cancel travels inside TLS exactly when the session did').toBe(world.input.sessionTls);
      expect(keyInPlain(world), 'the key is on the wire in plain only for a plain session').toBe(!world.input.sessionTls);
      return;
    }
    case 'sent':
      return expectOutcome(world, context, before, 'sent');
    case 'failed':
      if (leafName(previous.value) !== 'sending') expect(keyInPlain(world), 'a cancel that failed before sending never put the key on the wire').toBe(false);
      return expectOutcome(world, context, before, context.failure!.reason);
    default:
      throw new Error(`no effect check for state ${valueToDotted(state.value)}`);
  }
}
