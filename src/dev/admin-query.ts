// A tiny PostgreSQL simple-query client for test clusters: Unix socket, trust authentication, text results.
// Self-contained on purpose (it must not depend on src/protocol, whose behaviour the tests exercise).
import net from 'node:net';
import path from 'node:path';

/** An ErrorResponse from the server, with its SQLSTATE. */
export class AdminQueryError extends Error {
  constructor(
    message: string,
    readonly sqlstate: string,
    readonly severity: string,
  ) {
    super(`${message} (SQLSTATE ${sqlstate})`);
    this.name = 'AdminQueryError';
  }
}

export interface AdminQueryTarget {
  socketDir: string;
  port: number;
  /** Default 'postgres'. */
  user?: string;
  /** Default 'postgres'. */
  database?: string;
  /** Whole exchange, connect to last row. Default 30 s. */
  timeoutMs?: number;
}

const PROTOCOL_3_0 = 196608;
// Admin results are small; refuse anything absurd instead of allocating it.
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0application_name\0gatehouse-dev-admin\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, body]);
}

function queryMessage(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head.write('Q', 0, 'latin1');
  head.writeInt32BE(4 + text.length, 1);
  return Buffer.concat([head, text]);
}

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

function parseErrorFields(body: Buffer): AdminQueryError {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const code = String.fromCharCode(body[at]);
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    fields.set(code, body.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return new AdminQueryError(fields.get('M') ?? 'unknown error', fields.get('C') ?? 'XX000', fields.get('V') ?? fields.get('S') ?? 'ERROR');
}

/** DataRow → text values; SQL NULL is returned as ''. */
function parseDataRow(body: Buffer): string[] {
  const count = body.readInt16BE(0);
  const row: string[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const len = body.readInt32BE(at);
    at += 4;
    if (len < 0) {
      row.push('');
    } else {
      row.push(body.toString('utf8', at, at + len));
      at += len;
    }
  }
  return row;
}

/**
 * Runs `sql` (one or more statements) with the simple query protocol and returns every DataRow of every
 * statement, as text. Rejects with AdminQueryError on an ErrorResponse, or with an Error on a transport problem.
 */
export function adminQuery(target: AdminQueryTarget, sql: string): Promise<string[][]> {
  const user = target.user ?? 'postgres';
  const database = target.database ?? 'postgres';
  const socketPath = path.join(target.socketDir, `.s.PGSQL.${target.port}`);
  const timeoutMs = target.timeoutMs ?? 30_000;

  return new Promise((resolve, reject) => {
    const rows: string[][] = [];
    let phase: 'startup' | 'query' | 'done' = 'startup';
    let queryError: AdminQueryError | undefined;
    let pending: Buffer = Buffer.alloc(0);
    const socket = net.connect({ path: socketPath });

    const timer = setTimeout(() => {
      finish(new Error(`admin query on ${socketPath} timed out after ${timeoutMs} ms`));
    }, timeoutMs);

    function finish(error?: Error): void {
      if (phase === 'done') return;
      phase = 'done';
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.end(TERMINATE);
        resolve(rows);
      }
    }

    function handle(type: string, body: Buffer): void {
      switch (type) {
        case 'R': {
          const code = body.readInt32BE(0);
          if (code !== 0) {
            finish(new Error(`server asked for authentication (method ${code}) on ${socketPath}; the admin connection needs a 'local all all trust' line`));
          }
          return;
        }
        case 'E': {
          const error = parseErrorFields(body);
          if (phase === 'startup') finish(error);
          else queryError ??= error;
          return;
        }
        case 'D':
          rows.push(parseDataRow(body));
          return;
        case 'Z':
          if (phase === 'startup') {
            phase = 'query';
            socket.write(queryMessage(sql));
          } else {
            finish(queryError);
          }
          return;
        default:
          // S ParameterStatus, K BackendKeyData, T RowDescription, C CommandComplete, N NoticeResponse,
          // I EmptyQueryResponse, A NotificationResponse: nothing an admin caller needs.
          return;
      }
    }

    socket.on('connect', () => socket.write(startupMessage(user, database)));
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (phase !== 'done' && pending.length - at >= 5) {
        const type = String.fromCharCode(pending[at]);
        const len = pending.readInt32BE(at + 1);
        if (len < 4 || len > MAX_MESSAGE_BYTES) {
          finish(new Error(`admin query on ${socketPath}: invalid message length ${len} for type '${type}'`));
          return;
        }
        if (pending.length - at < 1 + len) break;
        handle(type, pending.subarray(at + 5, at + 1 + len));
        at += 1 + len;
      }
      pending = pending.subarray(at);
    });
    socket.on('error', (err) => finish(new Error(`admin query on ${socketPath} failed: ${err.message}`)));
    socket.on('close', () => finish(new Error(`admin connection to ${socketPath} closed before the query finished`)));
  });
}
