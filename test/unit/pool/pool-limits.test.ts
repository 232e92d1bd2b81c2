/**
 * The limits PgDoorman users set on pools: min_pool_size kept warm, max_db_connections shared by the users of
 * one database, and the reserve a client that waited reserve_pool_timeout may draw on.
 */
import { describe, expect, it } from 'vitest';
import { DatabaseLimit } from '../../../src/pool/database-limit.js';
import { fakePool, settings } from './support.js';

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function database(maxConnections: number, reserveSize = 0, reserveTimeoutMs = 0) {
  return new DatabaseLimit({ database: 'app', maxConnections, reserveSize, reserveTimeoutMs });
}

describe('min_pool_size', () => {
  it('opens connections up to min_pool_size on the reap tick, idle and ready, and no more', async () => {
    const { pool, made } = fakePool({ size: 5, minSize: 2 });
    pool.reap();
    await tick();
    await tick();
    expect(made).toHaveLength(2);
    expect(pool.stats).toMatchObject({ idle: 2, active: 0 });
    pool.reap();
    await tick();
    expect(made).toHaveLength(2);
  });

  it('counts active connections towards min_pool_size', async () => {
    const { pool, made } = fakePool({ size: 5, minSize: 2 });
    const a = await pool.acquire(settings(), 'c1');
    const b = await pool.acquire(settings(), 'c2');
    pool.reap();
    await tick();
    expect(made).toHaveLength(2);
    expect([a.state, b.state]).toEqual(['active', 'active']);
  });

  it('idle_timeout reaps idle connections only down to min_pool_size', async () => {
    const { pool, made } = fakePool({ size: 5, minSize: 1, idleTimeoutMs: 1000 });
    const [a, b, c] = await Promise.all([pool.acquire(settings(), 'c1'), pool.acquire(settings(), 'c2'), pool.acquire(settings(), 'c3')]);
    for (const conn of [a, b, c]) pool.release(conn, 'reuse');
    pool.reap(Date.now() + 5000);
    expect(pool.stats.idle).toBe(1);
    expect(made).toHaveLength(3);
  });

  it('replaces a connection that closed or outlived server_lifetime on the next tick', async () => {
    const { pool, made } = fakePool({ size: 5, minSize: 1, serverLifetimeMs: 1000 });
    pool.reap();
    await tick();
    expect(made).toHaveLength(1);
    made[0].conn.close();
    pool.reap();
    await tick();
    expect(made).toHaveLength(2);
    pool.reap(Date.now() + 5000);
    expect(made[1].conn.state).toBe('closing');
    await tick();
    expect(made).toHaveLength(3);
    expect(pool.stats.idle).toBe(1);
  });

  it('does not warm up while no backend login is possible (SCRAM passthrough before the first client login)', async () => {
    let keyLearned = false;
    const { pool, made } = fakePool({ size: 5, minSize: 2, canWarm: () => keyLearned });
    pool.reap();
    await tick();
    expect(made).toHaveLength(0);
    keyLearned = true;
    pool.reap();
    await tick();
    await tick();
    expect(made).toHaveLength(2);
  });

  it('logs a failed warm-up connect instead of throwing, and tries again on the next tick', async () => {
    const { pool, made, failConnects } = fakePool({ size: 5, minSize: 1 });
    failConnects(new Error('connection refused'));
    pool.reap();
    await tick();
    pool.reap();
    await tick();
    expect(made).toHaveLength(0);
    failConnects(null);
    pool.reap();
    await tick();
    expect(made).toHaveLength(1);
  });
});

describe('max_db_connections', () => {
  it('never lets the pools of one database open more than max_db_connections together', async () => {
    const limit = database(3);
    const alice = fakePool({ size: 3, limit, queryWaitTimeoutMs: 1000 });
    const bob = fakePool({ size: 3, limit, queryWaitTimeoutMs: 1000 });
    const a = await Promise.all([alice.pool.acquire(settings(), 'a1'), alice.pool.acquire(settings(), 'a2')]);
    const b1 = await bob.pool.acquire(settings(), 'b1');
    const waiting = bob.pool.acquire(settings(), 'b2');
    await tick();
    expect(limit.stats).toMatchObject({ connections: 3, maxConnections: 3 });
    expect(bob.pool.stats.waiting).toBe(1);
    // alice's released server is not parked for her: bob waits for the slot, so it closes and bob opens one.
    alice.pool.release(a[0], 'reuse');
    expect(a[0].state).toBe('closing');
    const b2 = await waiting;
    expect(bob.made).toHaveLength(2);
    expect(limit.stats.connections).toBe(3);
    expect([b1.state, b2.state]).toEqual(['active', 'active']);
  });

  it('closes the least recently used idle connection of another user first, and never one below its min_pool_size', async () => {
    const limit = database(2);
    const alice = fakePool({ size: 2, limit, minSize: 1 });
    const bob = fakePool({ size: 2, limit });
    const [x, y] = await Promise.all([alice.pool.acquire(settings(), 'a1'), alice.pool.acquire(settings(), 'a2')]);
    alice.pool.release(x, 'reuse');
    await sleep(2);
    alice.pool.release(y, 'reuse');
    const b = await bob.pool.acquire(settings(), 'b1');
    expect(x.state, 'least recently used: evicted').toBe('closing');
    expect(y.state).toBe('idle');
    expect(b.state).toBe('active');
    // alice is at her min_pool_size now: bob's next client waits instead of evicting her last connection.
    const err = await bob.pool.acquire(settings(), 'b2').catch((e) => e);
    expect(y.state).toBe('idle');
    expect(err.sqlstate).toBe('53300');
    expect(err.message).toMatch(/max_db_connections 2 of pool "app" is in use/);
  });

  it('gives a freed slot to the client that has waited longest, whichever user it is', async () => {
    const limit = database(1);
    const alice = fakePool({ size: 2, limit, queryWaitTimeoutMs: 1000 });
    const bob = fakePool({ size: 2, limit, queryWaitTimeoutMs: 1000 });
    const held = await alice.pool.acquire(settings(), 'a1');
    const bobWaits = bob.pool.acquire(settings(), 'b1');
    await sleep(2);
    const aliceWaits = alice.pool.acquire(settings(), 'a2');
    alice.pool.release(held, 'close');
    const got = await bobWaits;
    expect(got.state).toBe('active');
    expect(alice.pool.stats.waiting).toBe(1);
    bob.pool.release(got, 'close');
    expect((await aliceWaits).state).toBe('active');
  });

  it('min_pool_size warm-up stays within max_db_connections', async () => {
    const limit = database(2);
    const alice = fakePool({ size: 3, limit, minSize: 3 });
    alice.pool.reap();
    for (let i = 0; i < 5; i++) await tick();
    expect(alice.made).toHaveLength(2);
    expect(limit.stats.connections).toBe(2);
  });
});

describe('reserve pool', () => {
  it('a client that waited reserve_pool_timeout gets a reserve connection beyond pool_size, closed when released with nobody waiting', async () => {
    const limit = database(0, 1, 30);
    const { pool, made } = fakePool({ size: 1, limit, queryWaitTimeoutMs: 500 });
    await pool.acquire(settings(), 'c1');
    const started = Date.now();
    const reserve = await pool.acquire(settings(), 'c2');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(made).toHaveLength(2);
    expect(pool.limits).toEqual({ poolSize: 1, minPoolSize: 0, reserveInUse: 1 });
    expect(limit.stats).toMatchObject({ reservePoolSize: 1, reserveInUse: 1 });
    // The reserve is used up: a third client waits until query_wait_timeout.
    const third = pool.acquire(settings(), 'c3');
    pool.release(reserve, 'reuse');
    expect((await third).id, 'handed straight to the waiting client').toBe(reserve.id);
    pool.release(reserve, 'reuse');
    expect(reserve.state, 'nobody waits: back to the reserve').toBe('closing');
    expect(pool.limits.reserveInUse).toBe(0);
  });

  it('a client at max_db_connections gets a reserve connection beyond it after reserve_pool_timeout, up to reserve_pool_size', async () => {
    const limit = database(1, 1, 20);
    const alice = fakePool({ size: 3, limit, queryWaitTimeoutMs: 150 });
    const bob = fakePool({ size: 3, limit, queryWaitTimeoutMs: 150 });
    await alice.pool.acquire(settings(), 'a1');
    const b = await bob.pool.acquire(settings(), 'b1');
    expect(limit.stats).toMatchObject({ connections: 2, reserveInUse: 1 });
    const err = await bob.pool.acquire(settings(), 'b2').catch((e) => e);
    expect(err.sqlstate).toBe('53300');
    expect(limit.stats.connections).toBe(2);
    expect(b.state).toBe('active');
  });

  it('reserve_pool_timeout 0 disables the reserve', async () => {
    const limit = database(0, 5, 0);
    const { pool, made } = fakePool({ size: 1, limit, queryWaitTimeoutMs: 60 });
    await pool.acquire(settings(), 'c1');
    await expect(pool.acquire(settings(), 'c2')).rejects.toMatchObject({ sqlstate: '53300' });
    expect(made).toHaveLength(1);
  });
});
