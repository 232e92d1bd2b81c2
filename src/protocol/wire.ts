import { ProxyError } from './proxy-error.js';
import { SqlState } from './sqlstate.js';

/** Builds a ProxyError for a malformed message (SQLSTATE 08P01, as PostgreSQL reports them). */
export function protocolViolation(code: string, message: string, detail?: string): ProxyError {
  return new ProxyError(code, SqlState.PROTOCOL_VIOLATION, message, detail === undefined ? {} : { detail });
}

/**
 * Reads a NUL-terminated UTF-8 string from buf[offset..end). Throws ProxyError 08P01 (naming `what`)
 * when no terminator lies before `end`.
 */
export function readCString(buf: Buffer, offset: number, end: number, what: string): { value: string; next: number } {
  const nul = offset < end ? buf.indexOf(0, offset) : -1;
  if (nul === -1 || nul >= end) {
    throw protocolViolation('message.unterminated_string', `invalid message format: ${what} is not NUL-terminated`);
  }
  return { value: buf.toString('utf8', offset, nul), next: nul + 1 };
}

/** Bytes a string takes on the wire as a C string (UTF-8 plus its NUL). */
export function cstringLength(value: string): number {
  return Buffer.byteLength(value, 'utf8') + 1;
}

/**
 * Writes one complete message into an exactly sized buffer. `bodyLength` is the size of what the
 * writer methods will append; `type` null writes an untyped message (startup packets).
 */
export class MessageWriter {
  readonly buffer: Buffer;
  private pos: number;

  constructor(type: number | null, bodyLength: number) {
    const header = type === null ? 4 : 5;
    this.buffer = Buffer.allocUnsafe(header + bodyLength);
    this.pos = 0;
    if (type !== null) this.buffer[this.pos++] = type;
    this.pos = this.buffer.writeInt32BE(bodyLength + 4, this.pos);
  }

  byte(value: number): this {
    this.buffer[this.pos++] = value;
    return this;
  }

  int16(value: number): this {
    this.pos = this.buffer.writeInt16BE(value, this.pos);
    return this;
  }

  int32(value: number): this {
    this.pos = this.buffer.writeInt32BE(value, this.pos);
    return this;
  }

  bytes(value: Buffer): this {
    this.pos += value.copy(this.buffer, this.pos);
    return this;
  }

  /**
   * Writes a C string. A NUL inside the value would end the string early and desynchronise the
   * peer's parser (message smuggling), so it is refused.
   */
  cstring(value: string, what: string): this {
    if (value.includes('\0')) {
      throw new ProxyError('message.nul_in_string', SqlState.INTERNAL_ERROR, `cannot encode ${what}: it contains a NUL byte`);
    }
    this.pos += this.buffer.write(value, this.pos, 'utf8');
    this.buffer[this.pos++] = 0;
    return this;
  }

  /** Returns the message, checking that exactly `bodyLength` bytes were written. */
  done(): Buffer {
    if (this.pos !== this.buffer.length) {
      throw new Error(`MessageWriter: wrote ${this.pos} of ${this.buffer.length} bytes`);
    }
    return this.buffer;
  }
}
