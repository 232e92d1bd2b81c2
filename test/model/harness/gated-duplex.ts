/**
 * A duplex over a TCP socket whose inbound direction can be held: a test TLS client runs over it so
 * that its ClientHello goes out at once (the driver sees direct TLS) while the server's answer is
 * held until the step that is meant to complete the handshake. Because TLS runs over this duplex
 * and not over the socket itself, a test can also write raw bytes beneath the TLS layer.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export class GatedDuplex extends Duplex {
  private held: Array<Buffer | null> = [];
  private open: boolean;

  get released(): boolean {
    return this.open;
  }

  /** `initial`: bytes already read from `raw` that must come first (e.g. a ClientHello a reader buffered). */
  constructor(private readonly raw: Socket, open: boolean, initial?: Buffer) {
    super();
    this.open = open;
    if (initial && initial.length > 0) this.deliver(initial);
    raw.on('data', (chunk: Buffer) => this.deliver(chunk));
    raw.on('end', () => this.deliver(null));
    raw.on('close', () => this.deliver(null));
    raw.on('error', () => {});
    // The raw socket may have been paused by a plain-text reader before TLS started.
    raw.resume();
  }

  private deliver(chunk: Buffer | null): void {
    if (this.open) this.push(chunk);
    else this.held.push(chunk);
  }

  /** Let held and future inbound bytes through. */
  release(): void {
    this.open = true;
    const held = this.held;
    this.held = [];
    for (const chunk of held) this.push(chunk);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.raw.destroyed) return callback();
    this.raw.write(chunk, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.raw.destroy();
    callback(error);
  }
}
