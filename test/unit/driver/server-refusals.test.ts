/**
 * Backends that do what a real PostgreSQL never does, through the real server driver on a real
 * socket: each is refused, and the connection's journal, replayed, ends in `failed` with the same
 * reason the waiting client gets (never `ready` for a connection the pool did not get).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { connectServer } from '../../../src/driver/server-driver.js';
import { JournalBook } from '../../../src/journal/journal.js';
import { foldRecord, replayMismatches } from '../../../src/journal/replay.js';
import { Metrics } from '../../../src/observability/metrics.js';
import {
  authenticationCleartextPassword,
  authenticationOk,
  authenticationSASL,
  authenticationSASLContinue,
  parameterStatus,
  readyForQuery,
} from '../../../src/protocol/index.js';
import type { ServerTlsMode } from '../../../machines/index.js';

let server: Server | null = null;
afterEach(() => server?.close());

/** A backend that answers the n-th chunk it receives with script[n] (nothing once the script ends). */
async function backend(script: Array<(chunk: Buffer) => Buffer | string>): Promise<number> {
  server = createServer((socket: Socket) => {
    let step = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      const answer = script[step++]?.(chunk);
      if (answer !== undefined) socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function attempt(port: number, mode: ServerTlsMode = 'disable') {
  const journals = new JournalBook(10);
  const metrics = new Metrics();
  const result = connectServer({
    id: 's1',
    pool: 'app',
    host: '127.0.0.1',
    port,
    mode,
    negotiation: 'postgres',
    tls: null,
    user: 'app',
    credential: { kind: 'password', password: 'secret' },
    startupParameters: { user: 'app', database: 'app' },
    connectTimeoutMs: 5000,
    logger: pino({ level: 'silent' }),
    metrics,
    journals,
    onClosed: () => {},
  });
  const outcome = await result.then(
    () => null,
    (err: Error & { sqlstate: string; code: string }) => err,
  );
  const record = journals.find('s1')!;
  const replayed = foldRecord(record);
  const failures = (await metrics.serverConnectFailures.get()).values.map((v) => [v.labels.reason, v.value]);
  return { outcome, events: record.entries.map((e) => e.event.type), replayed, failures, mismatches: replayMismatches(journals) };
}

const replayedFailure = (replayed: { value: unknown; context: unknown }) => ({
  state: replayed.value,
  reason: (replayed.context as { failure: { reason: string } | null }).failure?.reason,
});

describe('the server driver refuses what a real PostgreSQL never sends, and its journal says so', () => {
  it('AuthenticationOk from a server that never sent its SCRAM signature (an impostor skipping the proof)', async () => {
    const port = await backend([
      () => authenticationSASL(['SCRAM-SHA-256']), // after the StartupMessage
      // client-first received: a server-first that extends the client's nonce, then no server-final at all.
      (chunk) => authenticationSASLContinue(Buffer.from(`r=${/r=([^,]+)/.exec(chunk.toString('latin1'))![1]}impostor,s=${Buffer.from('salt').toString('base64')},i=4096`)),
      () => Buffer.concat([authenticationOk(), parameterStatus('server_version', '18.4'), readyForQuery('I')]),
    ]);
    const r = await attempt(port);
    expect(r.outcome).toMatchObject({ code: 'server.scram_proof_missing', sqlstate: '08006', message: expect.stringMatching(/without proving it knows the password/) });
    expect(r.events).toEqual(['socket.connected', 'backend.authRequest', 'backend.authOk']);
    expect(replayedFailure(r.replayed)).toEqual({ state: 'failed', reason: 'scram_proof_missing' });
    expect(r.failures).toEqual([['scram_proof_missing', 1]]);
    expect(r.mismatches).toEqual([]);
  });

  it('data after ReadyForQuery during startup: the journal ends in failed, not ready', async () => {
    const port = await backend([
      () => authenticationCleartextPassword(),
      () => Buffer.concat([authenticationOk(), readyForQuery('I'), Buffer.from([0x44, 0, 0, 0, 6, 0, 0])]),
    ]);
    const r = await attempt(port);
    expect(r.outcome).toMatchObject({ code: 'server.protocol_violation', sqlstate: '08P01', message: 'server sent data after ReadyForQuery during startup' });
    expect(r.events).toEqual(['socket.connected', 'backend.authRequest', 'backend.authOk', 'backend.ready']);
    expect(replayedFailure(r.replayed)).toEqual({ state: 'failed', reason: 'protocol_violation' });
    expect(r.mismatches).toEqual([]);
  });

  it('prefer: bytes that came with the N, before any StartupMessage, are refused rather than read as the login answer', async () => {
    // A pre-loaded AuthenticationOk + ReadyForQuery: read as answers, this would be a login with no authentication.
    const port = await backend([() => Buffer.concat([Buffer.from('N'), authenticationOk(), readyForQuery('I')])]);
    const r = await attempt(port, 'prefer');
    expect(r.outcome).toMatchObject({ code: 'server.bytes_after_n', sqlstate: '08P01' });
    expect(r.events).toEqual(['socket.connected', 'backend.sslReply']);
    expect(replayedFailure(r.replayed)).toEqual({ state: 'failed', reason: 'bytes_after_n' });
  });

  it('ReadyForQuery before any AuthenticationOk (an impostor skipping authentication) is refused at once, not after connect_timeout', async () => {
    const port = await backend([() => Buffer.concat([parameterStatus('server_version', '18.4'), readyForQuery('I')])]);
    const started = Date.now();
    const r = await attempt(port);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.outcome).toMatchObject({ code: 'server.protocol_violation', sqlstate: '08P01', message: 'server sent ReadyForQuery before authentication completed' });
    expect(replayedFailure(r.replayed)).toEqual({ state: 'failed', reason: 'protocol_violation' });
  });

  it('a server-reported SQLSTATE that is not one reaches the client as 08P01, never as the server wrote it', async () => {
    const bogus = Buffer.from('SFATAL\0Cnot-a-code\0Mgo away\0\0', 'latin1');
    const error = Buffer.alloc(5);
    error.write('E', 0, 'latin1');
    error.writeInt32BE(4 + bogus.length, 1);
    const port = await backend([() => Buffer.concat([error, bogus])]);
    const r = await attempt(port);
    expect(r.outcome).toMatchObject({ code: 'server.login_rejected', sqlstate: '08P01' });
  });
});
