/**
 * The test side of a socket: collects every byte a peer sends and tells when the connection ended,
 * so a test can wait for "the client got 'S'" or "the server closed the connection" with a timeout.
 */
import type { Readable } from 'node:stream';

export const EFFECT_TIMEOUT_MS = 3000;

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
}

export class ByteReader {
  private buffer = Buffer.alloc(0);
  private ended = false;
  private waiters: Waiter[] = [];
  private stream: Readable | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };
  private readonly onError = () => this.onEnd();

  constructor(stream: Readable, private readonly label: string) {
    this.attach(stream);
  }

  /** Read from another stream from now on (e.g. the TLS layer over the same TCP connection). */
  attach(stream: Readable): void {
    this.detach();
    this.stream = stream;
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
  }

  /** Stop reading; bytes received but not yet read are returned (to be handed to a TLS layer). */
  detach(): Buffer {
    const stream = this.stream;
    if (stream) {
      stream.off('data', this.onData);
      stream.off('end', this.onEnd);
      stream.off('close', this.onEnd);
      // Keep an error listener: an unobserved 'error' would be thrown.
      stream.off('error', this.onError);
      stream.on('error', () => {});
      stream.pause();
    }
    this.stream = null;
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  get available(): number {
    return this.buffer.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) (w.ready() ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private until(ready: () => boolean, what: string): Promise<void> {
    if (ready() || this.ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.label}: timed out waiting for ${what}; got ${this.buffer.length} unread bytes, ended=${this.ended}`));
      }, EFFECT_TIMEOUT_MS);
      const waiter: Waiter = {
        ready: () => ready() || this.ended,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Exactly `n` bytes; fails if the connection ends first. */
  async read(n: number, what = `${n} bytes`): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n, what);
    if (this.buffer.length < n) throw new Error(`${this.label}: connection ended before ${what} (had ${this.buffer.length} bytes)`);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return Buffer.from(out);
  }

  /** The next `n` bytes, left unread (e.g. a TLS record header that a TLS layer must still get). */
  async peek(n: number, what = `${n} bytes`): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n, what);
    if (this.buffer.length < n) throw new Error(`${this.label}: connection ended before ${what} (had ${this.buffer.length} bytes)`);
    return Buffer.from(this.buffer.subarray(0, n));
  }

  /** One protocol message: type byte, int32 length counting itself, body. */
  async message(): Promise<{ type: string; body: Buffer }> {
    const header = await this.read(5, 'a message header');
    const body = await this.read(header.readInt32BE(1) - 4, `the body of a '${String.fromCharCode(header[0])}' message`);
    return { type: String.fromCharCode(header[0]), body };
  }

  /** One startup-phase packet (no type byte): int32 length counting itself, then the rest. */
  async startupPacket(): Promise<Buffer> {
    const length = (await this.read(4, 'a startup packet length')).readInt32BE(0);
    return this.read(length - 4, 'a startup packet body');
  }

  /** Resolves once the peer closed the connection; fails if unread bytes are left. */
  async ends(): Promise<void> {
    await this.until(() => false, 'the connection to close');
    if (this.buffer.length > 0) {
      throw new Error(`${this.label}: connection closed with ${this.buffer.length} unexpected bytes: ${this.buffer.subarray(0, 40).toString('hex')}`);
    }
  }

  /** Nothing unread right now (used before a step whose effect must be the only output). */
  expectDrained(): void {
    if (this.buffer.length > 0) {
      throw new Error(`${this.label}: unexpected bytes before this step: ${this.buffer.subarray(0, 40).toString('hex')}`);
    }
  }
}
