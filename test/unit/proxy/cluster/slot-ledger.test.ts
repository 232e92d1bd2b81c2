import { describe, expect, it } from 'vitest';
import { SlotLedger, type LeaseRequest } from '../../../../src/proxy/cluster/slot-ledger.js';

const app = (over: Partial<LeaseRequest> = {}): LeaseRequest => ({ pool: 'app/alice', database: 'app', poolSize: 2, maxDbConnections: 0, reserve: 0, ...over });

describe('the instance-wide server slots', () => {
  it('grant pool_size slots to the workers together, then make the next request wait', () => {
    const ledger = new SlotLedger();
    expect(ledger.request(0, app())).toHaveLength(1);
    expect(ledger.request(1, app())).toHaveLength(1);
    expect(ledger.request(1, app())).toEqual([]);
    expect(ledger.held('app/alice')).toBe(2);
    expect(ledger.isWaiting(1, 'app/alice')).toBe(true);
  });

  it('give a slot released on one worker to the request waiting on another, first come first served', () => {
    const ledger = new SlotLedger();
    ledger.request(0, app());
    ledger.request(0, app());
    ledger.request(1, app());
    ledger.request(2, app());
    expect(ledger.release(0, 'app/alice', 'app')).toEqual([{ worker: 1, request: app() }]);
    expect(ledger.release(0, 'app/alice', 'app')).toEqual([{ worker: 2, request: app() }]);
    expect(ledger.held('app/alice')).toBe(2);
  });

  it('hold max_db_connections across the users of a database', () => {
    const ledger = new SlotLedger();
    const bob = app({ pool: 'app/bob', maxDbConnections: 2 });
    const alice = app({ maxDbConnections: 2 });
    expect(ledger.request(0, alice)).toHaveLength(1);
    expect(ledger.request(1, bob)).toHaveLength(1);
    expect(ledger.request(1, alice)).toEqual([]);
    expect(ledger.heldByDatabase('app')).toBe(2);
    expect(ledger.release(1, 'app/bob', 'app')).toEqual([{ worker: 1, request: alice }]);
  });

  it('let a reserve request go past pool_size by reserve_pool_size', () => {
    const ledger = new SlotLedger();
    ledger.request(0, app());
    ledger.request(0, app());
    expect(ledger.request(1, app({ reserve: 1 }))).toHaveLength(1);
    expect(ledger.request(1, app({ reserve: 1 }))).toEqual([]);
  });

  it("free a dead worker's slots and drop its waiting requests", () => {
    const ledger = new SlotLedger();
    ledger.request(0, app());
    ledger.request(0, app());
    ledger.request(0, app());
    ledger.request(1, app());
    expect(ledger.forget(0)).toEqual([{ worker: 1, request: app() }]);
    expect(ledger.held('app/alice')).toBe(1);
    expect(ledger.isWaiting(0, 'app/alice')).toBe(false);
  });

  it('name the worker holding the most slots as the one to ask for an idle connection', () => {
    const ledger = new SlotLedger();
    ledger.request(0, app({ poolSize: 3 }));
    ledger.request(2, app({ poolSize: 3 }));
    ledger.request(2, app({ poolSize: 3 }));
    expect(ledger.holders(app(), 1)).toEqual([2]);
    expect(ledger.holders(app(), 2)).toEqual([0]);
  });

  it('do not hold back another pool behind a waiting one', () => {
    const ledger = new SlotLedger();
    ledger.request(0, app({ poolSize: 1 }));
    expect(ledger.request(1, app({ poolSize: 1 }))).toEqual([]);
    expect(ledger.request(1, app({ pool: 'other/x', database: 'other' }))).toHaveLength(1);
  });
});
