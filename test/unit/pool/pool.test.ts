/**
 * The pool's promises to clients: a server is handed to one session at a time, in the settings that
 * session asked for, never carrying what an earlier client SET, and never beyond pool_size.
 */
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/protocol/index.js';
import { fakePool, settings } from './support.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('server pool', () => {
  it('hands an idle server whose settings already match out synchronously, with no round trip', async () => {
    const { pool, made } = fakePool();
    const first = await pool.acquire(settings(), 'c1');
    pool.release(first, 'reuse');
    expect(first.state).toBe('idle');
    const again = pool.acquireIdleMatching(settings(), 'c2');
    expect(again).toBe(first);
    expect(again!.state).toBe('active');
    expect(again!.holder).toBe('c2');
    expect(made[0].backend.queries).toEqual([]);
  });

  it('does not hand out, on the fast path, a server whose settings differ from the client’s', async () => {
    const { pool } = fakePool();
    const first = await pool.acquire(settings([['application_name', 'a']]), 'c1');
    pool.release(first, 'reuse');
    expect(pool.acquireIdleMatching(settings([['application_name', 'b']]), 'c2')).toBeNull();
    expect(pool.acquireIdleMatching(settings(), 'c2')).toBeNull();
    expect(pool.acquireIdleMatching(settings([['application_name', 'a']]), 'c2')).toBe(first);
  });

  it('SETs what a client asks for, RESETs what an earlier client set, and skips what the server already reports', async () => {
    const { pool, made } = fakePool();
    const first = await pool.acquire(settings([['application_name', 'a'], ['TimeZone', 'UTC']]), 'c1');
    expect(made[0].backend.queries).toEqual([`SELECT set_config('application_name', 'a', false)`]);
    pool.release(first, 'reuse');
    const second = await pool.acquire(settings([['search_path', 'x']]), 'c2');
    expect(second).toBe(first);
    expect(made[0].backend.queries[1]).toBe(`RESET "application_name"; SELECT set_config('search_path', 'x', false)`);
    expect([...second.settings]).toEqual([['search_path', 'x']]);
  });

  it('gives the client the server’s own SQLSTATE when a setting is refused, and closes that server', async () => {
    const { pool, made } = fakePool();
    const conn = await pool.acquire(settings(), 'c1');
    pool.release(conn, 'reuse');
    made[0].backend.answer = 'error';
    const err = await pool.acquire(settings([['DateStyle', 'nonsense']]), 'c2').catch((e) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.sqlstate).toBe('22023');
    expect(conn.state).toBe('closing');
    expect(pool.stats).toMatchObject({ idle: 0, active: 0 });
  });

  it('restores a session-pooled server with DISCARD ALL before the next client, forgetting what the last one SET', async () => {
    const { pool, made } = fakePool();
    const conn = await pool.acquire(settings([['application_name', 'a']]), 'c1');
    pool.release(conn, 'reset');
    expect(conn.state).toBe('resetting');
    expect(pool.stats.resetting).toBe(1);
    await tick();
    await tick();
    expect(made[0].backend.queries.at(-1)).toBe('DISCARD ALL');
    expect(conn.state).toBe('idle');
    expect(conn.settings.size).toBe(0);
    // The next client with no settings needs no SET at all.
    expect(pool.acquireIdleMatching(settings(), 'c2')).toBe(conn);
  });

  it('closes a server whose reset fails or leaves a transaction open, instead of handing it on', async () => {
    for (const answer of ['error', 'in-transaction', 'silence'] as const) {
      const { pool, made } = fakePool({ queryWaitTimeoutMs: 50 });
      const conn = await pool.acquire(settings(), 'c1');
      made[0].backend.answer = answer;
      pool.release(conn, 'reset');
      await new Promise((r) => setTimeout(r, 80));
      expect(conn.state, answer).toBe('closing');
      expect(pool.stats, answer).toMatchObject({ idle: 0, active: 0, resetting: 0 });
    }
  });

  it('never opens more than pool_size servers, and a waiting client gets the next released one', async () => {
    const { pool, made } = fakePool({ size: 2 });
    const [a, b] = await Promise.all([pool.acquire(settings(), 'c1'), pool.acquire(settings(), 'c2')]);
    const third = pool.acquire(settings(), 'c3');
    await tick();
    expect(made).toHaveLength(2);
    expect(pool.stats.waiting).toBe(1);
    pool.release(b, 'reuse');
    const got = await third;
    expect(got).toBe(b);
    expect(got.holder).toBe('c3');
    expect(a.state).toBe('active');
  });

  it('tells a client that waited query_wait_timeout for a server that pool_size is in use (53300)', async () => {
    const { pool } = fakePool({ size: 1, queryWaitTimeoutMs: 30 });
    await pool.acquire(settings(), 'c1');
    const err = await pool.acquire(settings(), 'c2').catch((e) => e);
    expect(err.sqlstate).toBe('53300');
    expect(err.message).toMatch(/query_wait_timeout \(30 ms\): pool_size 1/);
    expect(pool.stats.waiting).toBe(0);
  });

  it('gives the slot of a closed server to a waiting client as a new connection', async () => {
    const { pool, made } = fakePool({ size: 1 });
    const a = await pool.acquire(settings(), 'c1');
    const waiting = pool.acquire(settings(), 'c2');
    pool.release(a, 'close');
    const b = await waiting;
    expect(a.state).toBe('closing');
    expect(b).not.toBe(a);
    expect(made).toHaveLength(2);
  });

  it('passes a failed connect on to the waiting client', async () => {
    const { pool, failConnects } = fakePool({ size: 1 });
    const a = await pool.acquire(settings(), 'c1');
    const waiting = pool.acquire(settings(), 'c2');
    failConnects(new ProxyError('server.connect_failed', '08001', 'could not connect to server'));
    pool.release(a, 'close');
    await expect(waiting).rejects.toMatchObject({ sqlstate: '08001' });
  });

  it('closes an idle server that says anything (a FATAL at shutdown) and never hands it out', async () => {
    const { pool, made } = fakePool();
    const conn = await pool.acquire(settings(), 'c1');
    pool.release(conn, 'reuse');
    made[0].backend.speak();
    await tick();
    expect(conn.state).toBe('closing');
    expect(pool.acquireIdleMatching(settings(), 'c2')).toBeNull();
    expect(pool.stats.idle).toBe(0);
  });

  it('does not reuse a server past server_lifetime, and reaps idle ones past idle_timeout', async () => {
    const old = fakePool({ serverLifetimeMs: 0 });
    const conn = await old.pool.acquire(settings(), 'c1');
    await new Promise((r) => setTimeout(r, 5));
    old.pool.release(conn, 'reuse');
    expect(conn.state).toBe('closing');

    const idle = fakePool({ idleTimeoutMs: 1000 });
    const kept = await idle.pool.acquire(settings(), 'c1');
    idle.pool.release(kept, 'reuse');
    idle.pool.reap(Date.now() + 500);
    expect(kept.state).toBe('idle');
    idle.pool.reap(Date.now() + 1500);
    expect(kept.state).toBe('closing');
  });

  it('at shutdown refuses waiting clients with 57P01 and closes idle servers, then the active ones', async () => {
    const { pool } = fakePool({ size: 2 });
    const a = await pool.acquire(settings(), 'c1');
    const b = await pool.acquire(settings(), 'c2');
    pool.release(b, 'reuse');
    const [c] = [await pool.acquire(settings(), 'c3')];
    const waiting = pool.acquire(settings(), 'c4');
    pool.close();
    await expect(waiting).rejects.toMatchObject({ sqlstate: '57P01' });
    expect(a.state).toBe('active');
    pool.release(c, 'reuse');
    expect(c.state).toBe('closing');
    pool.closeAll();
    expect(a.state).toBe('closing');
    await expect(pool.acquire(settings(), 'c5')).rejects.toMatchObject({ sqlstate: '57P01' });
  });

  it('counts its servers by state, as SHOW POOLS will', async () => {
    const { pool, made } = fakePool({ size: 3 });
    const [a, b, c] = await Promise.all([pool.acquire(settings(), 'c1'), pool.acquire(settings(), 'c2'), pool.acquire(settings(), 'c3')]);
    made[1].backend.answer = 'silence';
    pool.release(b, 'reset');
    pool.release(c, 'reuse');
    expect(pool.stats).toEqual({ idle: 1, active: 1, resetting: 1, connecting: 0, waiting: 0 });
    expect(a.state).toBe('active');
  });

  it('counts handshakes in progress against pool_size: simultaneous clients never open more than it', async () => {
    const { pool, made } = fakePool({ size: 2 });
    const all = [pool.acquire(settings(), 'c1'), pool.acquire(settings(), 'c2'), pool.acquire(settings(), 'c3')];
    expect(pool.stats).toMatchObject({ connecting: 2, waiting: 1 });
    const [a] = await Promise.all(all.slice(0, 2));
    expect(made).toHaveLength(2);
    pool.release(a, 'reuse');
    expect(await all[2]).toBe(a);
  });

  it('never hands out an idle server that outlived server_lifetime, on either path', async () => {
    const { pool, made } = fakePool({ serverLifetimeMs: 40 });
    const a = await pool.acquire(settings(), 'c1');
    pool.release(a, 'reuse');
    await new Promise((r) => setTimeout(r, 60));
    expect(pool.acquireIdleMatching(settings(), 'c2')).toBeNull();
    expect(a.state).toBe('closing');

    const b = await pool.acquire(settings(), 'c3');
    pool.release(b, 'reuse');
    await new Promise((r) => setTimeout(r, 60));
    const c = await pool.acquire(settings([['application_name', 'x']]), 'c4');
    expect(c).not.toBe(b);
    expect(b.state).toBe('closing');
    expect(made).toHaveLength(3);
  });

  it('a server closing while active leaves the idle ones alone', async () => {
    const { pool } = fakePool({ size: 2 });
    const [a, b] = await Promise.all([pool.acquire(settings(), 'c1'), pool.acquire(settings(), 'c2')]);
    pool.release(b, 'reuse');
    a.close();
    expect(pool.stats).toMatchObject({ idle: 1, active: 0 });
    expect(pool.acquireIdleMatching(settings(), 'c3')).toBe(b);
  });

  it('names what failed: waiting, a refused setting, shutting down', async () => {
    const waited = fakePool({ size: 1, queryWaitTimeoutMs: 10 });
    await waited.pool.acquire(settings(), 'c1');
    await expect(waited.pool.acquire(settings(), 'c2')).rejects.toMatchObject({ code: 'pool.wait_timeout' });

    const refused = fakePool();
    const conn = await refused.pool.acquire(settings(), 'c1');
    refused.pool.release(conn, 'reuse');
    refused.made[0].backend.answer = 'error';
    await expect(refused.pool.acquire(settings([['DateStyle', 'x']]), 'c2')).rejects.toMatchObject({
      code: 'pool.settings_rejected',
      message: 'server rejected a startup parameter: invalid value',
    });

    const closed = fakePool();
    closed.pool.close();
    await expect(closed.pool.acquire(settings(), 'c1')).rejects.toMatchObject({ code: 'pool.closed', message: 'gatehouse is shutting down' });
  });

  it('closes its idle servers at shutdown', async () => {
    const { pool } = fakePool();
    const a = await pool.acquire(settings(), 'c1');
    pool.release(a, 'reuse');
    pool.close();
    expect(a.state).toBe('closing');
  });
});
