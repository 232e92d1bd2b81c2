/**
 * What arms a look at a transaction-pooled session: a pin or a setting missed here stays on the server
 * for the next client, or the client loses its server under a LISTEN or a lock.
 */
import { describe, expect, it } from 'vitest';
import { mayChangeSession, sessionSnapshot, tagEffect, touchesSession } from '../../../src/proxy/session-state.js';

describe('session-state signals', () => {
  it.each([
    'SELECT pg_advisory_lock(42)',
    'select pg_try_advisory_lock(42)',
    'SELECT pg_advisory_lock_shared(1, 2)',
    'SELECT PG_TRY_ADVISORY_LOCK_SHARED(7)',
    'SELECT pg_advisory_unlock_all()',
    "SELECT set_config('search_path', 'a', false)",
    'CREATE TEMP TABLE t AS SELECT 1',
    'create temporary view v as select 1',
    'SELECT 1 INTO TEMP t',
    'CREATE TABLE pg_temp.t (x int)',
  ])('the text of %s arms a look at the session', (sql) => {
    expect(touchesSession(sql)).toBe(true);
  });

  it.each(['SELECT abalance FROM pgbench_accounts WHERE aid = $1', 'UPDATE temperatures SET c = 1', 'SELECT template FROM t'])(
    'ordinary text does not: %s',
    (sql) => expect(touchesSession(sql)).toBe(false),
  );

  it('tags that change session state arm it; SET and RESET only change settings; DISCARD ALL and DEALLOCATE ALL drop every statement', () => {
    for (const tag of ['LISTEN', 'UNLISTEN', 'DECLARE CURSOR', 'CLOSE CURSOR', 'CLOSE CURSOR ALL', 'PREPARE', 'DEALLOCATE', 'DISCARD TEMP', 'CREATE TABLE', 'DROP TABLE']) {
      expect(tagEffect(tag), tag).toEqual({ inspect: true, settingsOnly: false, statementsGone: false });
    }
    for (const tag of ['SET', 'RESET']) expect(tagEffect(tag), tag).toEqual({ inspect: true, settingsOnly: true, statementsGone: false });
    for (const tag of ['DISCARD ALL', 'DEALLOCATE ALL']) expect(tagEffect(tag), tag).toEqual({ inspect: true, settingsOnly: false, statementsGone: true });
    for (const tag of ['SELECT 1', 'INSERT 0 1', 'UPDATE 3', 'BEGIN', 'COMMIT', 'SETTINGS', 'CREATE INDEX']) {
      expect(tagEffect(tag), tag).toEqual({ inspect: false, settingsOnly: false, statementsGone: false });
    }
  });

  it('the byte-level pre-check of a tag lets every tag that arms a look through, and stops the commonest that cannot', () => {
    const raw = (tag: string) => Buffer.from(`${tag}\0`, 'latin1');
    for (const tag of ['SET', 'RESET', 'LISTEN', 'UNLISTEN', 'DECLARE CURSOR', 'CLOSE CURSOR', 'CLOSE CURSOR ALL', 'PREPARE', 'DEALLOCATE', 'DEALLOCATE ALL', 'DISCARD ALL', 'DISCARD TEMP', 'CREATE TABLE', 'DROP TABLE']) {
      expect(mayChangeSession(raw(tag)), tag).toBe(true);
    }
    for (const tag of ['SELECT 1', 'INSERT 0 1', 'UPDATE 3', 'DELETE 2', 'COMMIT', 'COPY 5', 'BEGIN', 'FETCH 3', 'MOVE 1']) {
      expect(mayChangeSession(raw(tag)), tag).toBe(false);
    }
  });

  it('reads the inspection row: pins by name, then the session user, the role and the settings, in the order they must be applied', () => {
    const snapshot = sessionSnapshot(['1', '0', '2', '0', '1', 'bob', 'r1', '{"statement_timeout" : "1234", "search_path" : "\\"a, b\\""}']);
    expect(snapshot.pins).toEqual(['listen', 'temp_object', 'prepared_statement']);
    expect([...snapshot.settings]).toEqual([
      ['session_authorization', 'bob'],
      ['role', 'r1'],
      ['statement_timeout', '1234'],
      ['search_path', '"a, b"'],
    ]);
    expect(sessionSnapshot(['0', '0', '0', '0', '0', null, null, null])).toEqual({ pins: [], settings: new Map() });
  });
});
