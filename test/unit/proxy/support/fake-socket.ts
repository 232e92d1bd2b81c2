/**
 * The part of a net.Socket the Relay uses (on/off/once, write, pause/resume/isPaused, unshift, destroy, `destroyed`),
 * in process and synchronous, so that a test decides exactly when each chunk, each 'drain' and each
 * close happens. It never emits data by itself: the harness delivers chunks, and only while the
 * socket is not paused, as a real socket would.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

export class FakeSocket extends EventEmitter {
  destroyed = false;
  paused = true;
  /** write() returned false: a 'drain' is owed. */
  drainPending = false;
  /** Writes while a 'drain' is owed: the writer ignored backpressure. */
  writesWhileOwed = 0;
  /** Writes after destroy() (a real socket would fail them with ERR_STREAM_DESTROYED). */
  writesAfterDestroy = 0;
  /** Decides what write() returns: false means the kernel buffer is full and 'drain' follows. */
  accept: () => boolean = () => true;
  /** Sees every write, in order (the bytes the peer receives). */
  onWrite: (data: Buffer) => void = () => {};

  write(data: Buffer): boolean {
    if (this.destroyed) {
      this.writesAfterDestroy++;
      return false;
    }
    if (this.drainPending) this.writesWhileOwed++;
    // Copied: the writer may reuse its buffer once write() returns.
    this.onWrite(Buffer.from(data));
    // Like a real socket: once full, every write reports full until 'drain'.
    const ok = !this.drainPending && this.accept();
    if (!ok) this.drainPending = true;
    return ok;
  }

  /** Writes are delivered one by one anyway: corking changes nothing a peer can see. */
  cork(): void {}

  uncork(): void {}

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    this.paused = false;
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** A chunk its reader did not take, put back (a server connection nobody reads keeps it for the next reader). */
  unshift(chunk: Buffer): void {
    this.unread.unshift(chunk);
  }

  /** Chunks put back by unshift(), to be delivered before anything new. */
  readonly unread: Buffer[] = [];

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.emit('close');
    return this;
  }

  drain(): void {
    this.drainPending = false;
    this.emit('drain');
  }

  /** Deliver a chunk from the peer (the caller checks `paused`). */
  deliver(chunk: Buffer): void {
    this.emit('data', chunk);
  }

  get asSocket(): Socket {
    return this as unknown as Socket;
  }
}
