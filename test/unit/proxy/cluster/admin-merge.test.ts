import { describe, expect, it } from 'vitest';
import { mergeOutcomes, mergeReloads, type WorkerOutcome } from '../../../../src/proxy/cluster/admin-merge.js';
import { columns, type Cell } from '../../../../src/proxy/admin/result-set.js';

const rows = (spec: string, ...data: Cell[][]): WorkerOutcome => ({ ok: { result: { columns: columns(spec), rows: data, tag: 'SHOW' }, notices: [] } });
const show = (what: string) => ({ verb: 'SHOW' as const, what, arg: null });

describe("merging the workers' admin answers", () => {
  it('SHOW POOLS adds up clients and servers per pool, keeps pool_size, and takes the longest wait', () => {
    const spec = 'database user cl_active:int sv_idle:int pool_size:int maxwait:int avg_xact_time:int';
    const merged = mergeOutcomes(show('POOLS'), [rows(spec, ['app', 'alice', 2, 1, 40, 3, 100]), rows(spec, ['app', 'alice', 1, 4, 40, 7, 0], ['db2', 'bob', 1, 0, 10, 0, 50])]);
    expect('rows' in merged.result && merged.result.rows).toEqual([
      ['app', 'alice', 3, 5, 40, 7, 100],
      ['db2', 'bob', 1, 0, 10, 0, 50],
    ]);
  });

  it('SHOW CLIENTS lists every worker’s clients', () => {
    const merged = mergeOutcomes(show('CLIENTS'), [rows('client_id', ['c2'], ['c4']), rows('client_id', ['c3'])]);
    expect('rows' in merged.result && merged.result.rows).toEqual([['c2'], ['c4'], ['c3']]);
  });

  it('SHOW LISTS counts configured pools once and connected clients on every worker', () => {
    const spec = 'list items:int';
    const merged = mergeOutcomes(show('LISTS'), [rows(spec, ['pools', 2], ['used_clients', 3]), rows(spec, ['pools', 2], ['used_clients', 4])]);
    expect('rows' in merged.result && merged.result.rows).toEqual([['pools', 2], ['used_clients', 7]]);
  });

  it('SHOW JOURNAL answers from the worker that has the connection', () => {
    const missing: WorkerOutcome = { error: { sqlstate: '42704', message: 'no journal' } };
    const merged = mergeOutcomes({ verb: 'SHOW', what: 'JOURNAL', arg: 'c3' }, [missing, rows('seq:int', [1])]);
    expect('rows' in merged.result && merged.result.rows).toEqual([[1]]);
    expect(() => mergeOutcomes({ verb: 'SHOW', what: 'JOURNAL', arg: 'c9' }, [missing, missing])).toThrow('no journal');
  });

  it('KILL reports the clients terminated on all workers, and an error on one worker is the answer', () => {
    const killed = (n: number): WorkerOutcome => ({ ok: { result: { tag: 'KILL' }, notices: [], killed: n } });
    expect(mergeOutcomes({ verb: 'KILL', database: 'app' }, [killed(2), killed(3)]).notices).toEqual(['5 client connection(s) of "app" terminated']);
    expect(() => mergeOutcomes({ verb: 'PAUSE', database: 'x' }, [killed(0), { error: { sqlstate: '3D000', message: 'No pool for database "x"' } }])).toThrow('No pool');
  });

  it("a reload is applied when every worker applied it; each problem is reported once", () => {
    expect(mergeReloads([{ applied: true, failures: [], needRestart: ['general.port'] }, { applied: true, failures: [], needRestart: ['general.port'] }])).toEqual({ applied: true, failures: [], needRestart: ['general.port'] });
    expect(mergeReloads([{ applied: false, failures: ['f: general.x: bad'], needRestart: [] }, { applied: false, failures: ['f: general.x: bad'], needRestart: [] }])).toEqual({ applied: false, failures: ['f: general.x: bad'], needRestart: [] });
  });
});
