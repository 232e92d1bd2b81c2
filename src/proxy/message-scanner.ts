/**
 * Finds message boundaries in a relayed byte stream without copying it: the 5-byte header is read
 * in place (straight from the chunk when it is whole, byte by byte into two integers when a chunk
 * splits it), and nothing is allocated per message. Chunks are forwarded as they came; the scanner
 * only tells its owner, through one callback fixed at construction, where each message ends.
 */
import { ProxyError, SqlState } from '../protocol/index.js';

/**
 * A message ended. `first` is its first body byte (ReadyForQuery's status) or -1 for an empty body;
 * `end` is the offset just past its last byte within the chunk being scanned (it may be small or
 * even below 5 when the message began in an earlier chunk). Return false to stop scanning the chunk.
 */
export type MessageSink = (type: number, first: number, end: number) => boolean;

const HEADER = 5;
const NO_PARTIAL = { type: -1, start: -1 } as const;

export class MessageScanner {
  /** Header bytes of the current message seen so far (0 between messages, 5 once the body is being read). */
  private headerRead = 0;
  private type = 0;
  /** The length word, accumulated big-endian as an int32 while a split header arrives. */
  private length = 0;
  /** Body bytes of the current message still to come. */
  private remaining = 0;
  private first = -1;
  /** The length word of the message being read (the one just completed, inside the sink). */
  private current = 0;
  /** Where the message being read started in the chunk being scanned; -1 when it started in an earlier one. */
  private startAt = -1;

  constructor(
    private readonly sink: MessageSink,
    private readonly maxMessageLength = 0x3fffffff,
  ) {}

  scan(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    this.startAt = -1;
    while (i < n) {
      if (this.headerRead === 0) this.startAt = i;
      if (this.headerRead === 0 && n - i >= HEADER) {
        this.type = chunk[i];
        this.begin(chunk.readInt32BE(i + 1));
        i += HEADER;
      } else if (this.headerRead < HEADER) {
        const byte = chunk[i++];
        if (this.headerRead === 0) {
          this.type = byte;
          this.length = 0;
        } else {
          this.length = (this.length << 8) | byte;
        }
        if (++this.headerRead < HEADER) continue;
        this.begin(this.length);
      }
      if (this.remaining > 0 && i < n) {
        if (this.first === -1) this.first = chunk[i];
        const take = this.remaining < n - i ? this.remaining : n - i;
        this.remaining -= take;
        i += take;
      }
      if (this.remaining === 0) {
        this.headerRead = 0;
        if (!this.sink(this.type, this.first, i)) return;
      }
    }
  }

  private begin(length: number): void {
    if (length < 4 || length > this.maxMessageLength) {
      throw new ProxyError('relay.bad_length', SqlState.PROTOCOL_VIOLATION, `invalid message length ${length}`);
    }
    this.headerRead = HEADER;
    this.current = length;
    this.remaining = length - 4;
    this.first = -1;
  }

  /** The length word (body + 4) of the current message; its header started `messageLength + 1` bytes before its end. */
  get messageLength(): number {
    return this.current;
  }

  /**
   * The message a chunk ended inside of: its type (once its first byte came) and where it started in
   * that chunk (-1: in an earlier chunk). Both -1 at a boundary.
   */
  get partial(): { type: number; start: number } {
    return this.headerRead === 0 ? NO_PARTIAL : { type: this.type, start: this.startAt };
  }

  /** True between messages (no partial message held). */
  get atBoundary(): boolean {
    return this.headerRead === 0;
  }
}
