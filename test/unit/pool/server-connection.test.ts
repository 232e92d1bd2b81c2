/**
 * A server connection's explicit state, as the pool and the admin console see it, and the simple
 * queries gatehouse runs on it itself (resets, parameter sync).
 */
import { describe, expect, it } from 'vitest';
import { encodeErrorResponse, parameterStatus, readyForQuery } from '../../../src/protocol/index.js';
import type { ServerConnection } from '../../../src/pool/server-connection.js';
import { fakeConnection } from './support.js';

const tick = () => new Promise((r) => setImmediate(r));

function tracked() {
  const closed: ServerConnection[] = [];
  const made = fakeConnection({ forget: (c) => closed.push(c) });
  return { ...made, closed };
}

describe('server connection state', () => {
  it('starts active, goes idle and back, and records who holds it', () => {
    const { conn } = tracked();
    expect(conn.state).toBe('active');
    conn.toIdle();
    expect([conn.state, conn.holder]).toEqual(['idle', null]);
    conn.toActive('c9');
    expect([conn.state, conn.holder]).toEqual(['active', 'c9']);
    conn.toResetting();
    expect([conn.state, conn.holder]).toEqual(['resetting', null]);
  });

  it('an idle server that sends anything is closed, an active one is not (its holder reads it)', async () => {
    const idle = tracked();
    idle.conn.toIdle();
    idle.backend.speak();
    await tick();
    expect(idle.conn.state).toBe('closing');
    expect(idle.closed).toEqual([idle.conn]);

    const active = tracked();
    active.conn.toIdle();
    active.conn.toActive('c1');
    // Its holder reads the socket from now on.
    const read: Buffer[] = [];
    active.conn.read((d) => read.push(d));
    active.backend.speak();
    await tick();
    expect(active.conn.state).toBe('active');
    expect(active.closed).toEqual([]);
    expect(Buffer.concat(read)).toEqual(readyForQuery('I'));
  });

  it('what a server sends before its new holder reads it waits for that holder, in order, and nothing after the holder lets go reaches it', async () => {
    const { conn, backend } = tracked();
    conn.toIdle();
    conn.toActive('c1');
    backend.speak();
    backend.push(parameterStatus('application_name', 'x'));
    await tick();
    const read: Buffer[] = [];
    conn.read((d) => read.push(d));
    await tick();
    expect(Buffer.concat(read)).toEqual(Buffer.concat([readyForQuery('I'), parameterStatus('application_name', 'x')]));
    conn.unread();
    backend.speak();
    await tick();
    expect(Buffer.concat(read)).toEqual(Buffer.concat([readyForQuery('I'), parameterStatus('application_name', 'x')]));
    expect(conn.state).toBe('active');
  });

  it('the holder hears that the socket closed, after the pool was told; a holder that let go does not', async () => {
    const order: string[] = [];
    const made = fakeConnection({ forget: () => order.push('pool') });
    made.conn.read(() => {}, () => order.push('holder'));
    made.backend.destroy();
    await tick();
    expect(order).toEqual(['pool', 'holder']);

    const other = fakeConnection({ forget: () => order.push('pool 2') });
    other.conn.read(() => {}, () => order.push('holder 2'));
    other.conn.unread();
    other.backend.destroy();
    await tick();
    expect(order).toEqual(['pool', 'holder', 'pool 2']);
  });

  it('a server whose socket closes or fails is closing, and the pool is told once', async () => {
    const a = tracked();
    a.backend.destroy();
    await tick();
    expect(a.conn.state).toBe('closing');
    expect(a.conn.alive).toBe(false);
    const b = tracked();
    b.backend.destroy(new Error('ECONNRESET'));
    await tick();
    expect(b.conn.state).toBe('closing');
    b.conn.close();
    expect(b.closed).toEqual([b.conn]);
  });

  it('once closing, nothing brings it back', () => {
    const { conn, closed } = tracked();
    conn.close();
    expect(conn.alive).toBe(false);
    conn.toIdle();
    conn.toActive('c1');
    conn.toResetting();
    expect(conn.state).toBe('closing');
    expect(conn.holder).toBeNull();
    expect(closed).toHaveLength(1);
  });

  it('a server whose socket is already destroyed is not alive, even before its close event', () => {
    const { conn, backend } = tracked();
    backend.destroy();
    expect(conn.alive).toBe(false);
  });
});

describe('simple queries gatehouse runs itself', () => {
  it('resolve at ReadyForQuery with its status and the first error, and keep reported parameters', async () => {
    const { conn, backend } = tracked();
    backend.answer = 'silence';
    const result = conn.runSimpleQuery('SET application_name TO x', 1000);
    await tick();
    backend.push(
      Buffer.concat([
        parameterStatus('application_name', 'x'),
        encodeErrorResponse({ severity: 'ERROR', sqlstate: '22023', message: 'first' }),
        encodeErrorResponse({ severity: 'ERROR', sqlstate: '42601', message: 'second' }),
        readyForQuery('E'),
      ]),
    );
    const r = await result;
    expect(r.status).toBe('E');
    expect(r.error).toMatchObject({ code: '22023', message: 'first' });
    expect(conn.parameters.get('application_name')).toBe('x');
    expect(backend.queries).toEqual(['SET application_name TO x']);
  });

  it('fail and close the server when it sends more after ReadyForQuery', async () => {
    const { conn, backend } = tracked();
    backend.answer = 'silence';
    const result = conn.runSimpleQuery('DISCARD ALL', 1000);
    await tick();
    backend.push(Buffer.concat([readyForQuery('I'), readyForQuery('I')]));
    await expect(result).rejects.toThrow('unexpected data after ReadyForQuery');
    expect(conn.state).toBe('closing');
  });

  it('fail when the server closes, and when it does not answer in time (closing it)', async () => {
    const gone = tracked();
    gone.backend.answer = 'silence';
    const lost = gone.conn.runSimpleQuery('DISCARD ALL', 1000);
    await tick();
    gone.backend.destroy();
    await expect(lost).rejects.toThrow('server closed the connection');

    const mute = tracked();
    mute.backend.answer = 'silence';
    await expect(mute.conn.runSimpleQuery('DISCARD ALL', 20)).rejects.toThrow('server did not answer within 20 ms');
    expect(mute.conn.state).toBe('closing');
  });

  it('leave nothing listening behind: a server reset again and again does not leak listeners or read for a finished query', async () => {
    const { conn, backend } = tracked();
    const before = { data: backend.listenerCount('data'), close: backend.listenerCount('close') };
    for (let i = 0; i < 20; i++) await conn.runSimpleQuery('DISCARD ALL', 1000);
    expect({ data: backend.listenerCount('data'), close: backend.listenerCount('close') }).toEqual(before);
    // A later report is the next holder's business, not a finished query's.
    const next: Buffer[] = [];
    conn.read((d) => next.push(d));
    backend.push(parameterStatus('application_name', 'late'));
    await tick();
    expect(conn.parameters.has('application_name')).toBe(false);
    expect(Buffer.concat(next)).toEqual(parameterStatus('application_name', 'late'));
  });
});
