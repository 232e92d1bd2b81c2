/**
 * Requests and replies over a worker's IPC channel, in both directions: `call` sends `{ t: 'call' }` and
 * resolves with the other side's `{ t: 'result' }`; `receive` answers calls with the handlers given. A call
 * the other side cannot answer in time (a worker that hangs or died) is rejected, never left pending.
 */

export type Handlers = Record<string, (arg: unknown) => unknown>;

interface CallMessage {
  t: 'call';
  id: number;
  what: string;
  arg: unknown;
}

interface ResultMessage {
  t: 'result';
  id: number;
  value?: unknown;
  error?: { message: string; sqlstate?: string };
}

/** An error that crossed the channel: its message and, for an admin command, its SQLSTATE. */
export class RemoteError extends Error {
  constructor(
    message: string,
    readonly sqlstate?: string,
  ) {
    super(message);
  }
}

export const CALL_TIMEOUT_MS = 10_000;

export class Rpc {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly send: (message: object) => void,
    private readonly handlers: Handlers,
  ) {}

  call<T>(what: string, arg: unknown = null, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.send({ t: 'call', id, what, arg } satisfies CallMessage);
      } catch (err) {
        this.settle({ t: 'result', id, error: { message: (err as Error).message } });
      }
    });
  }

  /** Handles `message` if it is a call or a result (true), else leaves it to the caller (false). */
  receive(message: { t?: string }): boolean {
    if (message.t === 'result') {
      this.settle(message as ResultMessage);
      return true;
    }
    if (message.t !== 'call') return false;
    const { id, what, arg } = message as CallMessage;
    const reply = (result: Omit<ResultMessage, 't' | 'id'>) => {
      try {
        this.send({ t: 'result', id, ...result });
      } catch {
        // The channel closed: the caller's timeout answers it.
      }
    };
    const handler = this.handlers[what];
    if (!handler) {
      reply({ error: { message: `unknown call ${what}` } });
      return true;
    }
    Promise.resolve()
      .then(() => handler(arg))
      .then(
        (value) => reply({ value }),
        (err: Error & { sqlstate?: string }) => reply({ error: { message: err.message, sqlstate: err.sqlstate } }),
      );
    return true;
  }

  /** The channel is gone: every call still waiting fails now. */
  closed(reason: string): void {
    for (const [id] of this.pending) this.settle({ t: 'result', id, error: { message: reason } });
  }

  private settle(result: ResultMessage): void {
    const call = this.pending.get(result.id);
    if (!call) return;
    this.pending.delete(result.id);
    clearTimeout(call.timer);
    if (result.error) call.reject(new RemoteError(result.error.message, result.error.sqlstate));
    else call.resolve(result.value);
  }
}
