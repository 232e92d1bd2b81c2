/**
 * Reads a server's replies in transaction pooling without copying them: it finds each message's
 * start and end in place, lets its owner drop a message (a reply to something gatehouse sent for
 * itself) and insert its own messages at a boundary, and captures the first bytes of the bodies the
 * owner reads (CommandComplete tags, ErrorResponse fields, ReadyForQuery's status). What is kept is
 * described as views of the chunk, so an unchanged chunk is forwarded as the very same buffer.
 */
import { BackendType, ProxyError, SqlState } from '../protocol/index.js';

export interface ReplySink {
  /** A message of `type` begins: keep it (true) or drop it. */
  starts(type: number): boolean;
  /** It ended; `head` holds the first bytes of its body for the captured types (an ErrorResponse's whole), else is empty. */
  ended(type: number, head: Buffer): void;
}

const HEADER = 5;
const CAPTURE = 96;
/** ErrorResponses are captured whole (up to this size) so that one held back can still be passed on. */
const ERROR_CAPTURE = 8192;
const EMPTY = Buffer.alloc(0);
/** What `out` is between scans, so that a scanner holds no reference to the chunks it last returned. */
const NOT_SCANNING: Buffer[] = [];

const captured = (type: number) =>
  type === BackendType.CommandComplete || type === BackendType.ErrorResponse || type === BackendType.ReadyForQuery;

export class ReplyScanner {
  private headerRead = 0;
  private type = 0;
  private length = 0;
  private remaining = 0;
  private dropping = false;
  /**
   * The captured first bytes of the current message. It starts small (a tag, a status byte) and grows only for an
   * ErrorResponse, once per relay that sees one: an idle client should not hold an 8 kB buffer it may never use.
   */
  private head: Buffer = EMPTY;
  private cap = CAPTURE;
  private headLength = 0;
  private capturing = false;
  /**
   * While scanning: what goes to the client so far, where the current kept run of bytes began, and the end of
   * the message whose `ended` is running (where an inserted message goes). A run is cut only where a message is
   * dropped or one is inserted, so a chunk kept whole is one run: no view is made per message.
   */
  private out: Buffer[] = NOT_SCANNING;
  private chunk: Buffer = EMPTY;
  private runStart = 0;
  private boundary = 0;

  constructor(
    private readonly sink: ReplySink,
    private readonly maxMessageLength = 0x3fffffff,
  ) {}

  get atBoundary(): boolean {
    return this.headerRead === 0;
  }

  /** Scan a chunk; returns what of it (and what the sink inserted) goes to the client, in order. */
  scan(chunk: Buffer): Buffer[] {
    this.out = [];
    this.chunk = chunk;
    this.runStart = 0;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.headerRead === 0) {
        this.type = chunk[i];
        this.length = 0;
        this.headerRead = 1;
        if (!this.sink.starts(this.type)) {
          this.cut(i);
          this.dropping = true;
        }
        i++;
        if (n - i >= 4) {
          this.begin(chunk.readInt32BE(i));
          i += 4;
        }
      } else if (this.headerRead < HEADER) {
        this.length = (this.length << 8) | chunk[i++];
        if (++this.headerRead === HEADER) this.begin(this.length);
      }
      if (this.headerRead < HEADER) continue;
      if (this.remaining > 0 && i < n) {
        const take = Math.min(this.remaining, n - i);
        if (this.capturing && this.headLength < this.cap) {
          this.headLength += chunk.copy(this.head, this.headLength, i, i + Math.min(take, this.cap - this.headLength));
        }
        this.remaining -= take;
        i += take;
      }
      if (this.remaining === 0) this.finish(i);
    }
    const out = this.out;
    if (!this.dropping && this.runStart < n) out.push(this.runStart === 0 ? chunk : chunk.subarray(this.runStart));
    this.chunk = EMPTY;
    this.out = NOT_SCANNING;
    return out;
  }

  /** Write `message` to the client at the current boundary (only from within `ended`). */
  insert(message: Buffer): void {
    this.cut(this.boundary);
    this.out.push(message);
  }

  private begin(length: number): void {
    if (length < 4 || length > this.maxMessageLength) {
      throw new ProxyError('relay.bad_length', SqlState.PROTOCOL_VIOLATION, `invalid message length ${length} from the server`);
    }
    this.headerRead = HEADER;
    this.remaining = length - 4;
    this.capturing = captured(this.type);
    this.cap = this.type === BackendType.ErrorResponse ? ERROR_CAPTURE : CAPTURE;
    this.headLength = 0;
    const need = this.capturing ? Math.min(this.cap, this.remaining) : 0;
    // Its own store, not a slice of Buffer's shared pool: the relay keeps it for its life, and a pool slice would
    // keep a whole 8 kB slab alive with it.
    if (this.head.length < need) this.head = Buffer.allocUnsafeSlow(Math.max(CAPTURE, need));
  }

  private finish(end: number): void {
    this.headerRead = 0;
    if (this.dropping) {
      this.dropping = false;
      this.runStart = end;
    }
    this.boundary = end;
    this.sink.ended(this.type, this.capturing ? this.head.subarray(0, this.headLength) : EMPTY);
  }

  /** Close the kept run at `at` (bytes before it go out; the run restarts there). */
  private cut(at: number): void {
    if (at > this.runStart) this.out.push(this.chunk.subarray(this.runStart, at));
    this.runStart = at;
  }
}
