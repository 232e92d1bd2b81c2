/**
 * What the attached server still owes the client, in order: one entry per message that PostgreSQL
 * answers (Parse, Bind, Close, Describe, Execute, Sync, Query, FunctionCall), whether the client sent
 * it or gatehouse did (a re-Parse, an eviction's Close), and the answers gatehouse gives itself in
 * PostgreSQL's place (a ParseComplete for a statement the server already has, a CloseComplete for a
 * client's Close, an error). The relay asks it, message by message, whether a server reply goes to
 * the client, and writes gatehouse's own answers exactly where PostgreSQL's would have been.
 *
 * PostgreSQL's error rule is modelled: after an ErrorResponse to an extended-protocol message the
 * server skips everything up to the next Sync, so the entries in between get no reply, and the
 * optimistic bookkeeping each made when it was sent (a statement recorded as prepared, a name
 * forgotten) is undone, newest first.
 */
import { BackendType } from '../protocol/index.js';

export const Reply = {
  Parse: 0,
  Bind: 1,
  Close: 2,
  Describe: 3,
  Execute: 4,
  /** Sync: answered by ReadyForQuery, and ends a skip. */
  Sync: 5,
  /** Query or FunctionCall: answered by ReadyForQuery, skipped like the rest while the server skips. */
  Query: 6,
} as const;
export type ReplyKind = (typeof Reply)[keyof typeof Reply];

export interface Pending {
  kind: ReplyKind;
  /** The server's reply to it goes to the client (false: gatehouse sent it and drops its completion). */
  forward: boolean;
  /** Gatehouse answers it itself (given the transaction status then): nothing was sent for it. */
  local: ((status: number) => Buffer) | null;
  /** Undo what was recorded when it was sent: the server refused or skipped it. */
  undo: (() => void) | null;
  /** The server completed it. */
  done?: () => void;
  /** The server refused it with this SQLSTATE (called before undo). */
  refused: ((sqlstate: string) => void) | null;
  /**
   * Gatehouse sent it to make the server fail as PostgreSQL would have for the client (so that a
   * transaction aborts and the rest is skipped, in PostgreSQL's order of checks). An error with this
   * SQLSTATE names gatehouse's statement, so the client reads `bytes` instead; any other is its own.
   */
  error?: { sqlstate: string; bytes: Buffer };
}

function completes(kind: ReplyKind, type: number): boolean {
  switch (kind) {
    case Reply.Parse:
      return type === BackendType.ParseComplete;
    case Reply.Bind:
      return type === BackendType.BindComplete;
    case Reply.Close:
      return type === BackendType.CloseComplete;
    case Reply.Describe:
      return type === BackendType.RowDescription || type === BackendType.NoData;
    case Reply.Execute:
      return type === BackendType.CommandComplete || type === BackendType.EmptyQueryResponse || type === BackendType.PortalSuspended;
    default:
      return type === BackendType.ReadyForQuery;
  }
}

const isExtended = (kind: ReplyKind) => kind < Reply.Sync;

export class ReplyQueue {
  /** Replaced, not truncated, when emptied: setting an array's length is a call into the V8 runtime. */
  private items: Pending[] = [];
  private head = 0;
  /** The server refused an extended message and no Sync has been sent since: it ignores all but a Sync. */
  private skipping = false;

  /** Replies still to come from the server (or local answers waiting their turn). */
  get owes(): boolean {
    return this.head < this.items.length;
  }

  /** Nothing owed and no skip in progress. */
  get empty(): boolean {
    return this.head === this.items.length && !this.skipping;
  }

  /**
   * Record a message as sent (or answered locally). A local answer with nothing owed before it is
   * written to `out` at once, rendered for transaction status `status`.
   */
  push(p: Pending, out: Buffer[], status: number): void {
    if (this.skipping) {
      if (p.kind !== Reply.Sync) return p.undo?.();
      this.skipping = false;
    }
    if (p.local && this.head === this.items.length) {
      out.push(p.local(status));
      return;
    }
    this.items.push(p);
  }

  /** A server message of `type` begins: whether its bytes go to the client. */
  forwards(type: number): boolean {
    const p = this.head < this.items.length ? this.items[this.head] : null;
    if (p === null) return true;
    if (type === BackendType.ErrorResponse) return p.error === undefined;
    return p.forward || !completes(p.kind, type);
  }

  /**
   * A server message of `type` ended (`sqlstate` for an ErrorResponse; `original` rebuilds an error
   * that forwards() held back). Entries it completes are dropped, and local answers that are then
   * due are appended to `out`.
   */
  answered(type: number, sqlstate: string | null, out: Buffer[], status: number, original: () => Buffer): void {
    if (this.head === this.items.length) return;
    const p = this.items[this.head];
    if (type === BackendType.ErrorResponse && isExtended(p.kind)) {
      if (p.error) out.push(sqlstate === p.error.sqlstate ? p.error.bytes : original());
      p.refused?.(sqlstate ?? '');
      this.skipToSync();
    } else if (completes(p.kind, type)) {
      this.shift().done?.();
    } else {
      return;
    }
    this.drainLocal(out, status);
  }

  private skipToSync(): void {
    const skipped: Pending[] = [];
    while (this.head < this.items.length && this.items[this.head].kind !== Reply.Sync) skipped.push(this.shift());
    if (this.head === this.items.length) this.skipping = true;
    for (let i = skipped.length - 1; i >= 0; i--) skipped[i].undo?.();
  }

  private drainLocal(out: Buffer[], status: number): void {
    while (this.head < this.items.length && this.items[this.head].local) out.push(this.shift().local!(status));
  }

  private shift(): Pending {
    const p = this.items[this.head++];
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return p;
  }

  /** The server is gone: nothing more will be answered. */
  clear(): void {
    this.items = [];
    this.head = 0;
    this.skipping = false;
  }
}
