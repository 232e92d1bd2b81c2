/**
 * fast-check arbitraries for what a client does after login: simple queries, extended-protocol
 * batches, Parse+Flush then Bind/Execute/Sync, COPY FROM STDIN, function calls, lone Syncs, each
 * either sent after every earlier answer arrived (`wait`) or pipelined behind them.
 */
import fc from 'fast-check';
import { fe } from './pg-messages.js';
import type { Turn } from './relay-harness.js';

const sql = fc.constantFrom('select 1', 'select 2', 'begin', 'commit', 'rollback', 'select error', 'set app', 'notice');

export interface ScriptOptions {
  /**
   * Let a turn that starts with a message other than a sync point (Parse…) be pipelined behind
   * unanswered Queries/Syncs (relay-regressions.test.ts runs the properties with it on: the relay
   * once released a server holding such unsynced messages).
   */
  pipelineExtended: boolean;
}

export function unit(opts: ScriptOptions): fc.Arbitrary<Turn[]> {
  const extendedWait = (w: boolean) => (opts.pipelineExtended ? w : true);
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(sql, fc.boolean()).map(([q, wait]) => [{ bytes: fe.query(q), wait }]) },
    {
      weight: 4,
      arbitrary: fc.tuple(sql, fc.boolean(), fc.boolean()).map(([q, describe, wait]) => [
        { bytes: Buffer.concat([fe.parse(q), fe.bind(), ...(describe ? [fe.describePortal()] : []), fe.execute(), fe.sync()]), wait: extendedWait(wait) },
      ]),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(sql, fc.boolean(), fc.boolean()).map(([q, w1, w2]) => [
        { bytes: Buffer.concat([fe.parse(q), fe.flush()]), wait: extendedWait(w1) },
        { bytes: Buffer.concat([fe.bind(), fe.execute(), fe.sync()]), wait: w2 },
      ]),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.boolean(), fc.boolean()).map(([rows, fail, w1, w2]) => [
        { bytes: fe.query('copy t from stdin'), wait: w1 },
        {
          bytes: Buffer.concat([...Array.from({ length: rows }, (_, i) => fe.copyData(`${i}\trow ${i}\n`)), fail ? fe.copyFail('client gave up') : fe.copyDone()]),
          wait: w2,
        },
      ]),
    },
    { weight: 2, arbitrary: fc.boolean().map((wait) => [{ bytes: fe.functionCall(), wait }]) },
    { weight: 1, arbitrary: fc.boolean().map((wait) => [{ bytes: fe.sync(), wait }]) },
    { weight: 1, arbitrary: fc.boolean().map((wait) => [{ bytes: fe.query('select big'), wait }]) },
  );
}

export type Leave = 'terminate' | 'close' | 'stop';

export interface Script {
  turns: Turn[];
  leave: Leave;
}

export function script(opts: ScriptOptions, maxUnits = 10): fc.Arbitrary<Script> {
  return fc
    .tuple(fc.array(unit(opts), { minLength: 1, maxLength: maxUnits }), fc.constantFrom<Leave>('terminate', 'terminate', 'close', 'stop'), fc.boolean())
    .map(([units, leave, wait]) => ({
      turns: [...units.flat(), ...(leave === 'terminate' ? [{ bytes: fe.terminate(), wait }] : [])],
      leave,
    }));
}
