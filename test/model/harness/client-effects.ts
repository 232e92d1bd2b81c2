/**
 * What the client (or the operator) notices after each client-session step: the bytes the client
 * read, whether the connection was closed, what the pool, limiter and cancel registry were asked.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import type { ClientEvent, ClientSessionContext } from '../../../machines/client-session.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import { listenerRejectionReason } from '../../../src/observability/rejection-reason.js';
import { scramSecretFor } from '../../../src/auth/index.js';
import { parseBackendMessage } from '../../../src/protocol/index.js';
import { BACKEND_PARAMETERS } from './client-deps.js';
import { CLIENT_PASSWORD } from './client-samples.js';
import type { ClientWorld } from './client-world.js';
import { leafName, type ModelStep } from './model-paths.js';

/** The client logged in (a session was asked for): a failure from here is a session failure, not a listener rejection. */
export function loggedIn(snapshot: AnyMachineSnapshot): boolean {
  return snapshot.matches({ connected: 'ready' }) || JSON.stringify(snapshot.value).includes('"awaiting-server"');
}

/** What the failure with `reason` counts in: listener_rejections_total before login, gatehouse_session_failures_total after. */
export async function rejectionCount(metrics: Metrics, reason: string, afterLogin = false): Promise<number> {
  const { values } = await (afterLogin ? metrics.sessionFailures : metrics.rejections).get();
  const label = afterLogin ? reason : listenerRejectionReason(reason);
  return values.find((v) => v.labels.reason === label)?.value ?? 0;
}

async function expectReply(world: ClientWorld, byte: 'S' | 'N'): Promise<void> {
  expect((await world.reader.read(1, `the '${byte}' reply`)).toString('latin1'), 'negotiation reply').toBe(byte);
}

async function expectAuth(world: ClientWorld, code: number, what: string): Promise<Buffer> {
  const m = await world.reader.message();
  expect(`${m.type}${m.body.readInt32BE(0)}`, what).toBe(`R${code}`);
  return m.body.subarray(4);
}

async function expectWelcome(world: ClientWorld): Promise<void> {
  for (const [name, value] of BACKEND_PARAMETERS) {
    const m = await world.reader.message();
    expect(parseBackendMessage(m.type.charCodeAt(0), m.body), 'welcome ParameterStatus').toEqual({ type: 'parameterStatus', name, value });
  }
  const key = await world.reader.message();
  expect(key.type, 'BackendKeyData').toBe('K');
  expect(key.body.length, 'gatehouse hands out its own 4-byte cancel key').toBe(8);
  const ready = await world.reader.message();
  expect(`${ready.type}${ready.body.toString('latin1')}`, 'ReadyForQuery').toBe('ZI');
  expect(world.timers.armed, 'login timer cleared once the session started').toBe(0);
  // The session works: a query reaches the server the pool handed out.
  const query = Buffer.from([0x51, 0, 0, 0, 13, ...Buffer.from('SELECT 1'), 0]);
  (world.tls ?? world.raw).write(query);
  expect(await world.server!.reader.read(query.length, 'the relayed query')).toEqual(query);
}

/** The LISTEN's answer reached the client, the session's inspection did not, and the server stays with the client. */
async function expectPinned(world: ClientWorld): Promise<void> {
  const done = await world.reader.message();
  expect(`${done.type}${done.body.toString('latin1')}`, 'CommandComplete').toBe('CLISTEN\0');
  const ready = await world.reader.message();
  expect(`${ready.type}${ready.body.toString('latin1')}`, 'ReadyForQuery').toBe('ZI');
  expect(world.pool.releases.map((r) => r.action), 'only the welcome server went back; the pinned one stays').toEqual(['reuse']);
  expect(world.fixture.book.find(world.id)?.entries.at(-1)?.event, 'journaled').toEqual({ type: 'session.pinned', pins: ['listen'] });
  world.reader.expectDrained();
}

async function expectFailure(world: ClientWorld, context: ClientSessionContext, rejectionsBefore: number, afterLogin: boolean): Promise<void> {
  const failure = context.failure!;
  if (failure.sqlstate) {
    const m = await world.reader.message();
    const parsed = parseBackendMessage(m.type.charCodeAt(0), m.body);
    expect(parsed.type, 'the client is told why').toBe('errorResponse');
    if (parsed.type === 'errorResponse') {
      expect({ severity: parsed.fields.severity, code: parsed.fields.code }, 'ErrorResponse').toEqual({ severity: 'FATAL', code: failure.sqlstate });
      // Messages built from facts alone (pg_hba refusals name address, user, database and TLS) are the model's too.
      const decided = (world.actor.getSnapshot().context as ClientSessionContext).failure?.message;
      expect(parsed.fields.message, 'the message is the one the machine decided').toBe(decided);
      if (failure.reason.startsWith('hba') || failure.reason === 'unknown_user') expect(parsed.fields.message, 'as the model says').toBe(failure.message);
    }
  }
  // With or without a message, the connection is closed, and nothing else was written.
  await world.connectionEnds();
  const counted = afterLogin ? 'session failures' : 'listener rejections';
  expect(await rejectionCount(world.fixture.metrics, failure.reason, afterLogin), `${counted}{reason=${failure.reason}}`).toBe(rejectionsBefore + 1);
}

/** Checks of the step just taken; `rejectionsBefore` is the rejection count of the reason the step fails with, if any. */
export async function verifyClientEffect(
  world: ClientWorld,
  step: ModelStep<ClientEvent>,
  previous: AnyMachineSnapshot,
  rejectionsBefore: number,
): Promise<void> {
  const state = step.state;
  const context = state.context as ClientSessionContext;
  const event = step.event;
  if (state.status === 'done') {
    expect(world.closedCalls, 'the driver released the connection once').toBe(1);
    expect(world.fixture.book.find(world.id)?.endedAt, 'journal ended').not.toBeNull();
    expect(world.timers.armed, 'no timer left armed').toBe(0);
    // A client that leaves while queued for a TLS slot gives its place up.
    expect(world.limiter.requests.map((r) => r.signal?.aborted), 'handshake slot requests withdrawn').toEqual(world.limiter.requests.map(() => true));
  }
  if (event.type === 'client.startup') {
    // The driver matched pg_hba on the connection's real facts, once.
    expect(world.hbaMatched, 'facts pg_hba was matched on').toEqual([
      { local: world.input.transport === 'unix', address: event.address, tls: context.tls, user: event.user, database: event.database },
    ]);
  }
  if (event.type === 'auth.failed') {
    // A looked-up password a client failed to prove may be stale: auth_query is told (it rate-limits re-fetching).
    const told = context.mockAuth ? [] : world.lookups;
    expect(world.rejectedPasswords, 'auth_query told of the rejected password').toEqual(told);
  }
  switch (leafName(state.value)) {
    case 'looking-up':
      expect(world.lookups, 'auth_query asked once for the startup user').toEqual([{ database: context.database, user: context.user }]);
      return world.reader.expectDrained();
    case 'ssl-requested':
      expect(world.limiter.requests.length, 'a TLS handshake slot was requested').toBe(1);
      if (event.type === 'client.sslRequest') await expectReply(world, 'S');
      return world.reader.expectDrained();
    case 'plain-fallback':
    case 'gss-declined':
      await expectReply(world, 'N');
      return world.reader.expectDrained();
    case 'tls-handshaking':
      expect(world.limiter.requests.length, 'one handshake slot').toBe(1);
      return world.reader.expectDrained();
    case 'tls-established':
      await world.secured;
      if (event.type === 'tls.established') expect(world.tls!.alpnProtocol || null, 'ALPN the client sees').toBe(event.alpnProtocol);
      return world.reader.expectDrained();
    case 'authenticating': {
      if (context.authMethod === 'md5') {
        world.md5Salt = await expectAuth(world, 5, 'AuthenticationMD5Password');
        expect(world.md5Salt.length, 'MD5 salt').toBe(4);
      } else {
        const mechanisms = await expectAuth(world, 10, 'AuthenticationSASL');
        expect(mechanisms.toString('latin1'), 'offered SASL mechanisms').toBe('SCRAM-SHA-256\0\0');
      }
      return world.reader.expectDrained();
    }
    case 'awaiting-server':
      // SCRAM ends with the server's signature; MD5, trust and cert with AuthenticationOk alone.
      if (context.authMethod === 'scram-sha-256') await expectAuth(world, 12, 'AuthenticationSASLFinal');
      await expectAuth(world, 0, 'AuthenticationOk');
      expect(world.pool.acquires, 'the pool was asked once, with the client settings').toEqual([new Map()]);
      if (context.authMethod === 'scram-sha-256') {
        // Passthrough: the ClientKey the proof revealed is handed on, and it is the user's real one.
        expect(world.learnedClientKeys.length, 'ClientKeys passed on').toBe(1);
        const storedKey = scramSecretFor({ kind: 'plain', password: CLIENT_PASSWORD }).storedKey;
        expect(createHash('sha256').update(world.learnedClientKeys[0]).digest().equals(storedKey), 'H(ClientKey) = StoredKey').toBe(true);
      } else {
        expect(world.learnedClientKeys, 'no ClientKey without a SCRAM proof').toEqual([]);
      }
      return world.reader.expectDrained();
    case 'ready':
      if (event.type === 'session.pinned') return expectPinned(world);
      return expectWelcome(world);
    case 'cancel-relayed':
      expect(world.cancels.forwarded, 'cancel forwarded with the key the client sent').toEqual([world.sentCancel]);
      return world.connectionEnds();
    case 'closed':
      if (leafName(previous.value) === 'ready') {
        // The welcome's server went back at once; the one the query was on, with it unanswered, is closed;
        // a pinned one (its LISTEN answered) is reset for the next client.
        expect(world.pool.releases.map((r) => [r.server, r.action]), 'servers released to the pool').toEqual([
          [world.server!.conn, 'reuse'],
          [world.server!.conn, (previous.context as ClientSessionContext).pins.length > 0 ? 'reset' : 'close'],
        ]);
      }
      return;
    case 'failed':
      await expectFailure(world, context, rejectionsBefore, loggedIn(previous));
      if (event.type === 'backend.lost' || event.type === 'client.invalidMessage' || event.type === 'client.idleInTransaction') {
        expect(world.pool.releases.map((r) => [r.server, r.action]), 'the server the query was on is closed').toEqual([
          [world.server!.conn, 'reuse'],
          [world.server!.conn, 'close'],
        ]);
      }
      if (leafName(previous.value) === 'ready' && (event.type === 'pool.failed' || event.type === 'internal.error')) {
        expect(world.pool.releases.map((r) => r.action), 'the idle server stays in the pool').toEqual(['reuse', 'reuse']);
      }
      return;
    default:
      return world.reader.expectDrained();
  }
}
