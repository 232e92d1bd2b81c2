/**
 * A ServerConnection over an in-process stream whose far end answers like PostgreSQL: every simple
 * Query it is sent gets the scripted answer (by default CommandComplete + ReadyForQuery 'I').
 */
import { Duplex } from 'node:stream';
import { pino } from 'pino';
import { encodeErrorResponse, readyForQuery } from '../../../src/protocol/index.js';
import type { PoolOptions } from '../../../src/pool/pool-options.js';
import { ServerPool } from '../../../src/pool/pool.js';
import { ServerConnection } from '../../../src/pool/server-connection.js';

export type Answer = 'ok' | 'error' | 'in-transaction' | 'silence';

export class FakeBackend extends Duplex {
  readonly queries: string[] = [];
  answer: Answer = 'ok';

  override _read(): void {}

  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    if (chunk[0] === 0x51) {
      this.queries.push(chunk.subarray(5, chunk.length - 1).toString());
      const reply =
        this.answer === 'ok'
          ? readyForQuery('I')
          : this.answer === 'in-transaction'
            ? readyForQuery('T')
            : this.answer === 'error'
              ? Buffer.concat([encodeErrorResponse({ severity: 'ERROR', sqlstate: '22023', message: 'invalid value' }), readyForQuery('I')])
              : null;
      if (reply) setImmediate(() => this.push(reply));
    }
    done();
  }

  /** The server says something while nobody asked (a FATAL at shutdown, say). */
  speak(): void {
    this.push(readyForQuery('I'));
  }
}

let ids = 0;

export function fakeConnection(pool: { forget(c: ServerConnection): void } | null, parameters: Array<[string, string]> = []) {
  const backend = new FakeBackend();
  const conn = new ServerConnection({
    id: `s${++ids}`,
    pool: 'app',
    route: { host: '127.0.0.1', port: 5432, mode: 'disable', negotiation: 'postgres', material: null },
    socket: backend as never,
    tls: null,
    parameters: new Map(parameters),
    backendKey: null,
    onClosed: (c) => pool?.forget(c),
  });
  return { conn, backend };
}

/** A pool whose connect() makes fake connections; `made` lists them in order. */
export function fakePool(overrides: Partial<PoolOptions> = {}) {
  const made: Array<ReturnType<typeof fakeConnection>> = [];
  let connectFailure: Error | null = null;
  const pool: ServerPool = new ServerPool({
    name: 'app',
    user: 'u',
    size: 2,
    queryWaitTimeoutMs: 200,
    idleTimeoutMs: 60_000,
    serverLifetimeMs: 3_600_000,
    logger: pino({ level: 'silent' }),
    connect: async () => {
      if (connectFailure) throw connectFailure;
      const made1 = fakeConnection(pool, [['TimeZone', 'UTC']]);
      made.push(made1);
      return made1.conn;
    },
    ...overrides,
  });
  return { pool, made, failConnects: (e: Error | null) => (connectFailure = e) };
}

export const settings = (entries: Array<[string, string]> = []) => new Map(entries);
