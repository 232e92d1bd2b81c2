/**
 * A client that pipelines its first query right behind its last authentication message, while the
 * pool is busy, gets the answer once a server connection frees up: nothing it sent early is lost,
 * and gatehouse stops reading it meanwhile instead of buffering without bound.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScramClientSession } from '../../src/auth/index.js';
import { BackendType, encodeStartupMessage, MessageFramer, parseBackendMessage, query, saslInitialResponse, saslResponse } from '../../src/protocol/index.js';
import { connectPg } from '../fixtures/clients.js';
import { APP_DATABASE, APP_USER, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';

/** Reads backend messages from a raw socket, one at a time. */
function messages(socket: Socket) {
  const framer = new MessageFramer();
  const queue: Array<{ type: number; body: Buffer }> = [];
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    for (let m = framer.next(); m; m = framer.next()) queue.push({ type: m.type, body: Buffer.from(m.body) });
    wake?.();
  });
  return async (): Promise<{ type: number; body: Buffer }> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return queue.shift()!;
  };
}

describe('a query pipelined behind authentication while the pool is busy', () => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster('embedded18', pki);
    gh = await startGatehouse({
      general: { tls_mode: 'allow', query_wait_timeout: '10s' },
      pools: { [APP_DATABASE]: poolFor(cluster, pki, { users: [{ username: APP_USER.name, password: APP_USER.password, pool_size: 1 }] }) },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('is answered once the holder leaves', async () => {
    const holder = await connectPg(gh, pki, { ssl: false });
    await holder.query('select 1');

    const socket = connect(gh.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const next = messages(socket);
    socket.write(encodeStartupMessage({ user: APP_USER.name, database: APP_DATABASE }));
    expect((await next()).type).toBe(BackendType.Authentication); // AuthenticationSASL
    const scram = new ScramClientSession(APP_USER.password);
    socket.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
    const serverFirst = parseBackendMessage(BackendType.Authentication, (await next()).body);
    if (serverFirst.type !== 'authenticationSASLContinue') throw new Error(`unexpected ${serverFirst.type}`);
    // The last SCRAM message and the first query in one write.
    socket.write(Buffer.concat([saslResponse(scram.handleServerFirst(serverFirst.data)), query('select 42 as answer')]));

    setTimeout(() => void holder.end(), 300);
    const seen: string[] = [];
    for (;;) {
      const m = await next();
      const parsed = parseBackendMessage(m.type, m.body);
      if (parsed.type === 'other' && m.type === BackendType.DataRow) seen.push(m.body.subarray(6).toString());
      if (parsed.type === 'errorResponse') throw new Error(parsed.fields.message);
      if (parsed.type === 'readyForQuery' && seen.length > 0) break;
    }
    expect(seen).toEqual(['42']);
    socket.destroy();
  });
});
