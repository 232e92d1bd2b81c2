import { protocolViolation } from './wire.js';

/** PostgreSQL's MaxAllocSize (1 GiB - 1): the largest message length the server itself accepts. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 0x3fffffff;
const INITIAL_CAPACITY = 16 * 1024;
/** Storage grown past this for one large message is released once it has been read. */
const RETAINED_CAPACITY = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface FramedMessage {
  type: number;
  /** View into the framer's memory: valid until the next push(). Copy it to keep it longer. */
  body: Buffer;
}

export interface MessageFramerOptions {
  /** Largest accepted value of the length word (which counts itself). Default 1 GiB - 1. */
  maxMessageLength?: number;
}

/**
 * Splits a byte stream into regular protocol 3 messages (type byte + int32 length counting itself
 * + body). One buffer and two cursors: bytes are appended into growable storage that is compacted
 * when the read cursor passes its middle; nothing is allocated per message except the body view.
 * When the framer is empty, a pushed chunk is read in place without copying, so push() keeps a
 * reference to its chunk: do not modify a chunk after pushing it.
 *
 * Lengths are checked as soon as a header's 5 bytes are present, before any body is buffered, so a
 * peer cannot make us hold more than `maxMessageLength` bytes for one message.
 */
export class MessageFramer {
  private readonly maxMessageLength: number;
  /** Bytes being read: either `storage` or a borrowed chunk. */
  private buf: Buffer = EMPTY;
  private borrowed = false;
  private storage: Buffer | null = null;
  private start = 0;
  private end = 0;

  constructor(opts: MessageFramerOptions = {}) {
    const max = opts.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
    if (!Number.isInteger(max) || max < 4 || max > 0x7fffffff) {
      throw new RangeError(`maxMessageLength must be an integer from 4 to 2147483647, got ${max}`);
    }
    this.maxMessageLength = max;
  }

  /** Bytes held but not yet returned by next(). */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const unread = this.end - this.start;

    if (unread === 0) {
      // Nothing pending: read the chunk in place. Storage grown for one huge message is let go here.
      if (this.storage !== null && this.storage.length > RETAINED_CAPACITY) this.storage = null;
      this.buf = chunk;
      this.borrowed = true;
      this.start = 0;
      this.end = chunk.length;
      return;
    }

    const needed = unread + chunk.length;
    if (this.borrowed) {
      // The tail of a borrowed chunk must survive: move it into our own storage.
      const storage = this.storageFor(needed);
      this.buf.copy(storage, 0, this.start, this.end);
      this.buf = storage;
      this.borrowed = false;
      this.start = 0;
      this.end = unread;
    } else if (this.start > this.buf.length >>> 1 || this.end + chunk.length > this.buf.length) {
      if (needed <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const grown = this.allocate(needed);
        this.buf.copy(grown, 0, this.start, this.end);
        this.buf = grown;
        this.storage = grown;
      }
      this.start = 0;
      this.end = unread;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /**
   * Returns the next complete message, or null until one is buffered. Throws ProxyError 08P01 when
   * a length word is below 4 or above the maximum; the offending header stays buffered, so the
   * stream cannot be resynchronised and the connection must be closed.
   */
  next(): FramedMessage | null {
    const unread = this.end - this.start;
    if (unread < 5) return null;
    const buf = this.buf;
    const type = buf[this.start];
    const length = buf.readInt32BE(this.start + 1);
    if (length < 4 || length > this.maxMessageLength) {
      throw protocolViolation(
        'message.invalid_length',
        'invalid message length',
        `message type 0x${type.toString(16).padStart(2, '0')} declares length ${length}; allowed 4 to ${this.maxMessageLength}`,
      );
    }
    if (unread < 1 + length) return null;
    const body = buf.subarray(this.start + 5, this.start + 1 + length);
    this.start += 1 + length;
    return { type, body };
  }

  /** Returns the bytes not yet returned by next() (a copy when they sit in reused storage) and empties the framer. */
  takeRemaining(): Buffer {
    const rest = this.borrowed
      ? this.buf.subarray(this.start, this.end)
      : Buffer.from(this.buf.subarray(this.start, this.end));
    this.buf = EMPTY;
    this.borrowed = false;
    this.storage = null;
    this.start = 0;
    this.end = 0;
    return rest;
  }

  /** Storage holding at least `needed` bytes, reusing the current one when it is big enough. */
  private storageFor(needed: number): Buffer {
    if (this.storage !== null && this.storage.length >= needed) return this.storage;
    this.storage = this.allocate(needed);
    return this.storage;
  }

  private allocate(needed: number): Buffer {
    const current = this.storage?.length ?? 0;
    return Buffer.allocUnsafe(Math.max(needed, current * 2, INITIAL_CAPACITY));
  }
}
