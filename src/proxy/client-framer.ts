/**
 * Cuts a client's byte stream into whole messages for transaction pooling, where names inside
 * messages are rewritten. A message that lies inside one chunk is handed on as a view of it (no
 * copy); only a message split across chunks is copied, once, when its last byte arrives. COPY data
 * is the exception: it is streamed in the pieces it came in, whatever their size, and never held.
 */
import { FrontendType, ProxyError, SqlState } from '../protocol/index.js';

/** A whole message (header included), or a piece of a CopyData message (`piece` true). */
export type ClientMessageSink = (type: number, bytes: Buffer, piece: boolean) => void;

const HEADER = 5;

export class ClientFramer {
  /** A header split across chunks, byte by byte; made the first time one is (an idle client holds no buffer). */
  private header: Buffer | null = null;
  private headerRead = 0;
  private type = 0;
  /** Bytes of the current message still to come (0 between messages). */
  private remaining = 0;
  /** The split message so far, or null while streaming COPY data. */
  private parts: Buffer[] | null = null;

  constructor(
    private readonly sink: ClientMessageSink,
    private readonly maxMessageLength = 0x3fffffff,
  ) {}

  /** True between messages. */
  get atBoundary(): boolean {
    return this.headerRead === 0 && this.remaining === 0;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        const piece = chunk.subarray(i, i + take);
        this.remaining -= take;
        i += take;
        if (this.parts === null) this.sink(this.type, piece, true);
        else this.parts.push(piece);
        if (this.remaining === 0 && this.parts !== null) {
          const whole = Buffer.concat(this.parts);
          this.parts = null;
          this.sink(this.type, whole, false);
        }
        continue;
      }
      if (this.headerRead === 0 && n - i >= HEADER) {
        const total = 1 + this.checked(chunk.readInt32BE(i + 1));
        if (n - i >= total) {
          this.sink(chunk[i], chunk.subarray(i, i + total), false);
          i += total;
          continue;
        }
        this.begin(chunk[i], chunk.subarray(i, n), total);
        i = n;
        continue;
      }
      const header = (this.header ??= Buffer.alloc(HEADER));
      header[this.headerRead++] = chunk[i++];
      if (this.headerRead < HEADER) continue;
      this.headerRead = 0;
      const total = 1 + this.checked(header.readInt32BE(1));
      if (total === HEADER) this.sink(header[0], Buffer.from(header), false);
      else this.begin(header[0], Buffer.from(header), total);
    }
  }

  /** A message of `total` bytes starts with `first` (its header and maybe some body). */
  private begin(type: number, first: Buffer, total: number): void {
    this.type = type;
    this.remaining = total - first.length;
    if (type === FrontendType.CopyData) {
      this.parts = null;
      this.sink(type, first, true);
    } else {
      this.parts = [first];
    }
  }

  private checked(length: number): number {
    if (length < 4 || length > this.maxMessageLength) {
      throw new ProxyError('relay.bad_length', SqlState.PROTOCOL_VIOLATION, `invalid message length ${length}`);
    }
    return length;
  }
}
