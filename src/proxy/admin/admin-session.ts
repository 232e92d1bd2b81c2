/**
 * One admin console connection after login (databases pgdoorman and pgbouncer): a SessionHandle like
 * any other, so the client-session machine sees the same lifecycle (pool.acquired at once, then
 * ready). Only simple Query and Terminate are accepted; each command's reply ends with ReadyForQuery,
 * and an error keeps the session open, as in PgBouncer.
 */
import { randomBytes } from 'node:crypto';
import type { Login, SessionEvent, SessionHandle } from '../../driver/session-port.js';
import {
  backendKeyData,
  encodeErrorResponse,
  FrontendType,
  MessageFramer,
  parameterStatus,
  ProxyError,
  readyForQuery,
} from '../../protocol/index.js';
import { AdminError, parseAdminQuery } from './admin-commands.js';
import type { CommandRunner } from './console.js';
import { commandComplete, encodeResultSet } from './result-set.js';

/** Longest admin query accepted (a SHOW with an argument is a few dozen bytes). */
const MAX_ADMIN_MESSAGE = 64 * 1024;
const EMPTY_QUERY_RESPONSE = Buffer.from([0x49, 0, 0, 0, 4]);

export class AdminSession implements SessionHandle {
  private readonly framer = new MessageFramer({ maxMessageLength: MAX_ADMIN_MESSAGE });
  private busy = false;
  private ended = false;
  private readonly onData = (chunk: Buffer) => {
    this.framer.push(chunk);
    this.pump();
  };
  private readonly onClose = () => this.report({ type: 'socket.closed' });

  constructor(
    private readonly login: Login,
    private readonly report: (event: SessionEvent) => void,
    private readonly console: CommandRunner,
    private readonly serverVersion: string,
  ) {
    // No server to wait for; reported on a microtask, as the machine is still taking the step that asked.
    queueMicrotask(() => this.report({ type: 'pool.acquired', serverId: 'admin-console' }));
  }

  activity(): 'idle' | 'active' {
    return this.busy ? 'active' : 'idle';
  }

  start(early: Buffer): void {
    const { socket } = this.login;
    socket.write(
      Buffer.concat([
        parameterStatus('server_version', this.serverVersion),
        parameterStatus('server_encoding', 'UTF8'),
        parameterStatus('client_encoding', 'UTF8'),
        parameterStatus('DateStyle', 'ISO'),
        parameterStatus('integer_datetimes', 'on'),
        parameterStatus('standard_conforming_strings', 'on'),
        parameterStatus('application_name', this.login.settings.get('application_name') ?? ''),
        // A cancel of an admin command reaches no server: the key is registered nowhere.
        backendKeyData(randomBytes(4).readInt32BE(0) & 0x7fffffff, randomBytes(4)),
        readyForQuery('I'),
      ]),
    );
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onClose);
    socket.resume();
    if (early.length > 0) this.onData(early);
  }

  private pump(): void {
    while (!this.busy && !this.ended) {
      let message;
      try {
        message = this.framer.next();
      } catch (err) {
        if (!(err instanceof ProxyError)) throw err;
        return this.report({ type: 'client.invalidMessage', message: err.message });
      }
      if (!message) return;
      if (message.type === FrontendType.Terminate) return this.report({ type: 'socket.closed' });
      if (message.type !== FrontendType.Query) {
        return this.report({ type: 'client.invalidMessage', message: 'the admin console accepts only simple Query messages' });
      }
      const end = message.body.indexOf(0);
      void this.execute(message.body.toString('utf8', 0, end < 0 ? message.body.length : end));
    }
  }

  private async execute(sql: string): Promise<void> {
    this.busy = true;
    this.login.socket.pause();
    const out: Buffer[] = [];
    const after: Array<() => void> = [];
    try {
      const commands = parseAdminQuery(sql);
      if (commands.length === 0) out.push(EMPTY_QUERY_RESPONSE);
      for (const command of commands) {
        const outcome = await this.console.run(command, this.login.id);
        for (const notice of outcome.notices) out.push(encodeErrorResponse({ severity: 'NOTICE', sqlstate: '00000', message: notice }, 'N'));
        out.push('columns' in outcome.result ? encodeResultSet(outcome.result) : commandComplete(outcome.result.tag));
        if (outcome.after) after.push(outcome.after);
      }
    } catch (err) {
      if (!(err instanceof AdminError)) {
        this.login.logger.error({ err }, 'admin command failed');
        out.push(encodeErrorResponse({ severity: 'ERROR', sqlstate: 'XX000', message: `internal error: ${(err as Error).message}` }));
      } else {
        out.push(encodeErrorResponse({ severity: 'ERROR', sqlstate: err.sqlstate, message: err.message }));
      }
    }
    out.push(readyForQuery('I'));
    this.busy = false;
    if (this.ended) return;
    this.login.socket.write(Buffer.concat(out));
    for (const run of after) run();
    this.login.socket.resume();
    this.pump();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const { socket } = this.login;
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('error', this.onClose);
  }
}
