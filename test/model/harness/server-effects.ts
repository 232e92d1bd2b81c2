/**
 * What PostgreSQL (the scripted backend) and the pool notice after each server-handshake step:
 * which bytes the driver sent, whether it closed the connection, and how connectServer() settled.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import type { ServerEvent, ServerHandshakeContext } from '../../../machines/server-handshake.js';
import { md5ClientResponse } from '../../../src/auth/index.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import { encodeSslRequest, parsePasswordMessage, parseSaslInitialResponse, parseStartupPacket } from '../../../src/protocol/index.js';
import { EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { leafName, valueToDotted, type ModelStep } from './model-paths.js';
import type { BackendPeer } from './server-backend.js';
import { SERVER_PASSWORD, SERVER_USER, STARTUP_PARAMETERS } from './server-samples.js';
import { BACKEND_KEY, BACKEND_PARAMETERS, type ServerWorld } from './server-world.js';

export interface ServerCounters {
  failures: Map<string, number>;
  tlsErrors: number;
}

export async function serverCounters(metrics: Metrics): Promise<ServerCounters> {
  const failures = new Map<string, number>();
  for (const v of (await metrics.serverConnectFailures.get()).values) failures.set(String(v.labels.reason), v.value);
  const tlsErrors = (await metrics.serverTlsHandshakeErrors.get()).values.reduce((sum, v) => sum + v.value, 0);
  return { failures, tlsErrors };
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), EFFECT_TIMEOUT_MS).unref()),
  ]);
}

async function expectStartup(peer: BackendPeer): Promise<void> {
  const length = await peer.reader.read(4, 'a StartupMessage length');
  const packet = Buffer.concat([length, await peer.reader.read(length.readInt32BE(0) - 4, 'a StartupMessage')]);
  const parsed = parseStartupPacket(packet);
  expect(parsed.status === 'packet' && parsed.packet, 'StartupMessage the backend received').toEqual({
    kind: 'startup',
    majorVersion: 3,
    minorVersion: 0,
    parameters: STARTUP_PARAMETERS,
    protocolOptions: [],
  });
}

async function expectPasswordMessage(world: ServerWorld, event: ServerEvent): Promise<void> {
  if (event.type !== 'backend.authRequest') return;
  const peer = world.peer;
  if (event.method === 'unsupported') return;
  const m = await peer.reader.message();
  expect(m.type, 'the driver answered the authentication request').toBe('p');
  if (event.method === 'cleartext') expect(parsePasswordMessage(m.body), 'cleartext password').toBe(SERVER_PASSWORD);
  if (event.method === 'md5') expect(parsePasswordMessage(m.body), 'md5 response').toBe(md5ClientResponse(SERVER_USER, SERVER_PASSWORD, world.md5Salt));
  if (event.method === 'scram-sha-256') {
    world.scramInitial = parseSaslInitialResponse(m.body);
    expect(world.scramInitial.mechanism, 'SASL mechanism chosen').toBe('SCRAM-SHA-256');
  }
}

async function expectFailed(world: ServerWorld, context: ServerHandshakeContext, before: ServerCounters): Promise<void> {
  const failure = context.failure!;
  const outcome = await within(world.outcome, 'connectServer() to settle');
  expect('err' in outcome, 'connectServer() rejects').toBe(true);
  if ('err' in outcome) {
    expect({ code: outcome.err.code, sqlstate: outcome.err.sqlstate }, 'the ProxyError the waiting client gets').toEqual({
      code: `server.${failure.reason}`,
      sqlstate: failure.sqlstate,
    });
  }
  // Every socket the driver opened is closed.
  for (const peer of world.backend.peers) await within(peer.closed, `backend connection #${peer.seq} to be closed`);
  const after = await serverCounters(world.fixture.metrics);
  expect(after.failures.get(failure.reason) ?? 0, `connect failures{reason=${failure.reason}}`).toBe((before.failures.get(failure.reason) ?? 0) + 1);
  expect(after.tlsErrors, 'TLS handshake errors counted only for TLS failures').toBe(before.tlsErrors + (failure.tlsError ? 1 : 0));
  expect(world.timers.armed, 'connect timer cleared').toBe(0);
}

async function expectReady(world: ServerWorld, context: ServerHandshakeContext): Promise<void> {
  const outcome = await within(world.outcome, 'connectServer() to settle');
  expect('ok' in outcome, 'connectServer() resolves').toBe(true);
  if (!('ok' in outcome)) return;
  const conn = outcome.ok;
  expect([...conn.parameters], 'server parameters').toEqual(BACKEND_PARAMETERS);
  expect(conn.backendKey, 'backend cancel key').toEqual(BACKEND_KEY);
  expect(conn.tls !== null, 'the connection is encrypted exactly when the machine says so').toBe(context.tls);
  expect(conn.alive, 'the connection is open').toBe(true);
  expect(world.peer.socket.destroyed, 'the backend connection stays open').toBe(false);
  expect(world.timers.armed, 'connect timer cleared').toBe(0);
}

export async function verifyServerEffect(
  world: ServerWorld,
  step: ModelStep<ServerEvent>,
  previous: AnyMachineSnapshot,
  before: ServerCounters,
): Promise<void> {
  const state = step.state;
  const context = state.context as ServerHandshakeContext;
  const event = step.event;
  if (state.status === 'active') expect(world.settled, 'connectServer() still pending').toBeNull();
  switch (valueToDotted(state.value)) {
    case 'negotiating.ssl-requested': {
      const peer = await world.backend.peer(world.connections());
      if (leafName(previous.value) === 'reconnecting') {
        expect(world.backend.peers.length, 'the retry came on a new connection').toBe(2);
        await within(world.backend.peers[0].closed, 'the refused connection to be closed');
      }
      expect(await peer.reader.read(8, 'an SSLRequest'), 'SSLRequest').toEqual(encodeSslRequest());
      return peer.reader.expectDrained();
    }
    case 'negotiating.tls-handshaking': {
      const peer = await world.backend.peer(world.connections());
      expect((await peer.reader.peek(1, 'a TLS ClientHello'))[0], 'TLS handshake record').toBe(0x16);
      return;
    }
    case 'negotiating.login.authenticating':
      if (event.type === 'backend.authRequest') return expectPasswordMessage(world, event);
      await expectStartup(await world.backend.peer(world.connections()));
      return world.peer.reader.expectDrained();
    case 'negotiating.login.plain-fallback':
      await expectStartup(world.peer);
      return world.peer.reader.expectDrained();
    case 'negotiating.starting-up':
      return world.peer.reader.expectDrained();
    case 'negotiating.reconnecting':
      // Nothing is sent on these steps; a reconnect is checked when it connects (the clock may fire first).
      return;
    case 'ready':
      return expectReady(world, context);
    case 'failed':
      return expectFailed(world, context, before);
    case 'negotiating.connecting':
      return;
    default:
      throw new Error(`no effect check for state ${valueToDotted(state.value)}`);
  }
}
