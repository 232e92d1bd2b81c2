// The queue of clients waiting for a server: order, query_wait_timeout and reserve_pool_timeout, with one timer
// for the whole queue (fake timers and clock).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerConnection } from '../../../src/pool/server-connection.js';
import { WaitQueue, type Waiter, type WaitTimeouts } from '../../../src/pool/wait-queue.js';

const conn = {} as ServerConnection;

interface Outcome {
  waiter: Promise<ServerConnection>;
  state: 'waiting' | 'served' | 'timed out';
}

describe('WaitQueue', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  const offered: string[] = [];
  const timeouts = (waitMs: number, reserveMs: number | null = null): WaitTimeouts => ({
    waitMs,
    timedOut: () => new Error(`waited ${waitMs} ms`),
    reserveMs,
    reserveDue: (w: Waiter) => void offered.push(w.holder!),
  });
  const enqueue = (queue: WaitQueue, holder: string, t: WaitTimeouts): Outcome => {
    const outcome: Outcome = { waiter: queue.wait(new Map(), holder, t), state: 'waiting' };
    outcome.waiter.then(
      () => void (outcome.state = 'served'),
      () => void (outcome.state = 'timed out'),
    );
    return outcome;
  };
  const serveFirst = (queue: WaitQueue) => queue.take()!.resolve(conn);
  afterEach(() => void (offered.length = 0));

  it('serves waiters first come, first served, skipping one that left from the middle', async () => {
    const queue = new WaitQueue();
    // The pool takes a waiter out when it opens a reserve connection for it: here, c2.
    const t: WaitTimeouts = { ...timeouts(10_000, 500), reserveDue: (w) => (w.holder === 'c2' ? queue.remove(w) : undefined) };
    enqueue(queue, 'c1', t);
    enqueue(queue, 'c2', t);
    enqueue(queue, 'c3', t);
    await vi.advanceTimersByTimeAsync(501);
    expect(queue.length).toBe(2);
    expect(queue.take()!.holder).toBe('c1');
    expect(queue.first!.holder).toBe('c3');
    expect(queue.take()!.holder).toBe('c3');
    expect(queue.take()).toBeUndefined();
    expect(queue.length).toBe(0);
  });

  it('times out each waiter at its own query_wait_timeout, and never one that was served', async () => {
    const queue = new WaitQueue();
    const a = enqueue(queue, 'a', timeouts(1000));
    await vi.advanceTimersByTimeAsync(300);
    const b = enqueue(queue, 'b', timeouts(1000));
    const c = enqueue(queue, 'c', timeouts(1000));
    await vi.advanceTimersByTimeAsync(699);
    expect([a.state, b.state, c.state]).toEqual(['waiting', 'waiting', 'waiting']);
    await vi.advanceTimersByTimeAsync(2);
    expect(a.state).toBe('timed out');
    await expect(a.waiter).rejects.toThrow('waited 1000 ms');
    serveFirst(queue); // b
    await vi.advanceTimersByTimeAsync(1000);
    expect([b.state, c.state]).toEqual(['served', 'timed out']);
    expect(queue.length).toBe(0);
  });

  it('holds a shorter timeout (after a reload) for a waiter queued behind one with a longer one', async () => {
    const queue = new WaitQueue();
    const slow = enqueue(queue, 'slow', timeouts(5000));
    await vi.advanceTimersByTimeAsync(100);
    const quick = enqueue(queue, 'quick', timeouts(1000));
    await vi.advanceTimersByTimeAsync(1001);
    expect([slow.state, quick.state]).toEqual(['waiting', 'timed out']);
    await vi.advanceTimersByTimeAsync(4000);
    expect(slow.state).toBe('timed out');
  });

  it('offers the reserve at reserve_pool_timeout to waiters still queued, once each', async () => {
    const queue = new WaitQueue();
    const t = timeouts(10_000, 500);
    enqueue(queue, 'first', t);
    await vi.advanceTimersByTimeAsync(200);
    enqueue(queue, 'second', t);
    enqueue(queue, 'third', t);
    await vi.advanceTimersByTimeAsync(301);
    expect(offered).toEqual(['first']);
    serveFirst(queue); // first
    serveFirst(queue); // second, before its reserve time
    await vi.advanceTimersByTimeAsync(1000);
    expect(offered).toEqual(['first', 'third']);
  });

  it('lets go of its timer when the last waiter leaves', async () => {
    const queue = new WaitQueue();
    enqueue(queue, 'only', timeouts(1000, 500));
    expect(vi.getTimerCount()).toBe(1);
    serveFirst(queue);
    expect(vi.getTimerCount()).toBe(0);
  });
});
