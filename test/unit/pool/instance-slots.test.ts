/**
 * One worker's pool of several: every new server connection waits for a slot of the instance (the supervisor's
 * SlotLedger, here a fake that grants on demand), every closed one gives its slot back, and a client waiting for
 * a slot takes a connection released on this worker first.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceLease, SlotHolder } from '../../../src/pool/instance-slots.js';
import { fakePool, settings } from './support.js';

const tick = () => new Promise((r) => setImmediate(r));

function fakeInstance() {
  const asked: Array<{ pool: SlotHolder; reserve: boolean }> = [];
  let released = 0;
  const lease: InstanceLease = {
    request: (pool, reserve) => void asked.push({ pool, reserve }),
    release: () => void released++,
  };
  return { lease, asked, released: () => released, grant: () => asked.shift()!.pool.granted() };
}

describe('a worker pool under instance-wide slots', () => {
  it('opens a server only once the instance granted a slot', async () => {
    const instance = fakeInstance();
    const { pool, made } = fakePool({ instance: instance.lease });
    const acquired = pool.acquire(settings(), 'c1');
    await tick();
    expect(made).toHaveLength(0);
    expect(instance.asked).toHaveLength(1);
    instance.grant();
    const conn = await acquired;
    expect(made).toHaveLength(1);
    expect(conn.state).toBe('active');
  });

  it('gives the slot back when its connection closes, and when a connect fails', async () => {
    const instance = fakeInstance();
    const { pool, failConnects } = fakePool({ instance: instance.lease });
    const acquired = pool.acquire(settings(), 'c1');
    await tick();
    instance.grant();
    const conn = await acquired;
    conn.close();
    await tick();
    expect(instance.released()).toBe(1);
    failConnects(new Error('refused'));
    const failing = pool.acquire(settings(), 'c2');
    await tick();
    instance.grant();
    await expect(failing).rejects.toThrow('refused');
    expect(instance.released()).toBe(2);
  });

  it('serves a waiting client with a connection released here, and returns the slot granted late', async () => {
    const instance = fakeInstance();
    const { pool, made } = fakePool({ size: 2, instance: instance.lease });
    const first = pool.acquire(settings(), 'c1');
    await tick();
    instance.grant();
    const conn = await first;
    const second = pool.acquire(settings(), 'c2');
    await tick();
    expect(instance.asked).toHaveLength(1);
    pool.release(conn, 'reuse');
    expect(await second).toBe(conn);
    instance.grant();
    await tick();
    expect(made).toHaveLength(1);
    expect(instance.released()).toBe(1);
  });

  it("closes an idle connection when another worker waits for one of the pool's slots", async () => {
    const instance = fakeInstance();
    const { pool } = fakePool({ instance: instance.lease });
    const acquired = pool.acquire(settings(), 'c1');
    await tick();
    instance.grant();
    const conn = await acquired;
    // In use: it closes when it would go idle.
    pool.yieldSlot();
    pool.release(conn, 'reuse');
    await tick();
    expect(conn.alive).toBe(false);
    expect(instance.released()).toBe(1);
  });

  it('asks for min_pool_size slots one at a time on the reap tick', async () => {
    const instance = fakeInstance();
    const { pool, made } = fakePool({ size: 4, minSize: 2, instance: instance.lease });
    pool.reap();
    pool.reap();
    expect(instance.asked).toHaveLength(1);
    instance.grant();
    await tick();
    await tick();
    expect(made).toHaveLength(1);
    pool.reap();
    instance.grant();
    await tick();
    await tick();
    expect(made).toHaveLength(2);
    expect(pool.stats.idle).toBe(2);
  });
});
