/**
 * Finds message boundaries in a relayed byte stream without copying it: only the 5-byte header
 * (and the first body byte, for ReadyForQuery's status) is looked at. Chunks are forwarded as they
 * came; the scanner only tells the relay where each message ends.
 */
import { ProxyError, SqlState } from '../protocol/index.js';

export interface ScannedMessage {
  type: number;
  /** First body byte, or -1 for an empty body. */
  first: number;
  /** Offset just past the message's last byte within the current chunk. */
  end: number;
}

export class MessageScanner {
  private headerBytes = 0;
  private readonly header = Buffer.alloc(5);
  /** Body bytes of the current message still to come (valid once the header is complete). */
  private remaining = 0;
  private type = 0;
  private first = -1;
  private bodyStarted = false;

  constructor(private readonly maxMessageLength = 0x3fffffff) {}

  /** Calls visit for every message completed in this chunk; visit returns false to stop scanning early. */
  scan(chunk: Buffer, visit: (m: ScannedMessage) => boolean | void): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.headerBytes < 5) {
        const take = Math.min(5 - this.headerBytes, n - i);
        chunk.copy(this.header, this.headerBytes, i, i + take);
        this.headerBytes += take;
        i += take;
        if (this.headerBytes < 5) return;
        this.type = this.header[0];
        const length = this.header.readInt32BE(1);
        if (length < 4 || length > this.maxMessageLength) {
          throw new ProxyError('relay.bad_length', SqlState.PROTOCOL_VIOLATION, `invalid message length ${length}`);
        }
        this.remaining = length - 4;
        this.first = -1;
        this.bodyStarted = false;
      }
      if (this.remaining > 0 && i < n) {
        if (!this.bodyStarted) {
          this.first = chunk[i];
          this.bodyStarted = true;
        }
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        i += take;
      }
      if (this.remaining === 0) {
        this.headerBytes = 0;
        if (visit({ type: this.type, first: this.first, end: i }) === false) return;
      }
    }
  }

  /** True between messages (no partial message held). */
  get atBoundary(): boolean {
    return this.headerBytes === 0;
  }
}
