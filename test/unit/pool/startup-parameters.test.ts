import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientSettings, settingsDiff, settingsMatch } from '../../../src/pool/startup-parameters.js';

const names = fc.constantFrom('application_name', 'TimeZone', 'DateStyle', 'search_path', 'x"y');
const values = fc.constantFrom('a', 'b', "it's", '');
const settingMap = fc.array(fc.tuple(names, values), { maxLength: 4 }).map((e) => new Map<string, string>(e));

describe('startup parameters on pooled servers', () => {
  it('the fast path attaches a server exactly when syncing it would send nothing', () => {
    fc.assert(
      fc.property(settingMap, settingMap, settingMap, (applied, wanted, reported) => {
        expect(settingsMatch(applied, wanted, reported)).toBe(settingsDiff(applied, wanted, reported).sql === '');
      }),
    );
  });

  it('after syncing, the server matches what the client wanted', () => {
    fc.assert(
      fc.property(settingMap, settingMap, settingMap, (applied, wanted, reported) => {
        const { changed, reset } = settingsDiff(applied, wanted, reported);
        const after = new Map(applied);
        for (const [k, v] of changed) after.set(k, v);
        for (const k of reset) after.delete(k);
        expect(settingsMatch(after, wanted, reported)).toBe(true);
      }),
    );
  });

  it('quotes names and values so that a client cannot inject SQL through a startup parameter', () => {
    const { sql } = settingsDiff(new Map(), new Map([['x"; DROP TABLE t; --', "'; DROP TABLE t; --"]]), new Map());
    expect(sql).toBe(`SELECT set_config('x"; DROP TABLE t; --', '''; DROP TABLE t; --', false)`);
    // A backslash cannot end the literal either, whatever standard_conforming_strings is.
    expect(settingsDiff(new Map(), new Map([['a', "\\'; DROP TABLE t; --"]]), new Map()).sql).toBe(
      `SELECT set_config('a', E'\\\\''; DROP TABLE t; --', false)`,
    );
  });

  it('applies the session user before the role, and the role again when the session user changes', () => {
    const applied = new Map([['role', 'r1']]);
    const wanted = new Map([['role', 'r1'], ['session_authorization', 'bob'], ['search_path', 'a, b']]);
    expect(settingsDiff(applied, wanted, new Map()).sql).toBe(
      `SELECT set_config('session_authorization', 'bob', false), set_config('role', 'r1', false), set_config('search_path', 'a, b', false)`,
    );
    expect(settingsDiff(new Map([['session_authorization', 'bob'], ['role', 'r1']]), new Map([['role', 'r1']]), new Map()).sql).toBe(
      `RESET "session_authorization"; SELECT set_config('role', 'r1', false)`,
    );
  });

  it('reads -c and --name=value pairs from options and refuses anything else there (0A000)', () => {
    expect([...clientSettings({ user: 'u', database: 'd', options: '-c search_path=a --statement-timeout=5s -cwork_mem=1MB' })]).toEqual([
      ['search_path', 'a'],
      ['statement_timeout', '5s'],
      ['work_mem', '1MB'],
    ]);
    expect([...clientSettings({ user: 'u', database: 'd', replication: 'false', application_name: 'app', options: '  -c a=1   -c b=2 ' })]).toEqual([
      ['application_name', 'app'],
      ['a', '1'],
      ['b', '2'],
    ]);
    for (const options of ['-d 5', 'work_mem=1MB', 'xwork_mem=1MB', '-c=1', '-c', '--=x']) {
      expect(() => clientSettings({ user: 'u', options }), options).toThrow(
        expect.objectContaining({ sqlstate: '0A000', code: 'startup.unsupported_options', message: expect.stringContaining('unsupported startup parameter in options: ') }),
      );
    }
  });
});
