// A hand-driven PostgreSQL wire client for the startup phase: plain TCP that can be upgraded to TLS
// on the same socket (after 'S'), or direct TLS from the first byte. It buffers what the server sends
// and records when the server closed, so tests can assert exactly what came back and when.
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { parseErrorFields, type ErrorFields } from '../../../../src/protocol/index.js';

export interface BackendMessage {
  type: string;
  body: Buffer;
}

export class WireClient {
  private buffer: Buffer = Buffer.alloc(0);
  private cursor = 0;
  private waiters = new Set<() => void>();
  private closedAtMs: number | null = null;
  readonly openedAt = Date.now();
  private readonly onData = (chunk: Buffer) => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.wake();
  };

  private constructor(readonly socket: net.Socket | tls.TLSSocket) {
    socket.on('data', this.onData);
    socket.on('close', () => {
      this.closedAtMs ??= Date.now();
      this.wake();
    });
    // A reset is a close for our purposes; 'close' follows it.
    socket.on('error', () => {});
  }

  /** A plain TCP connection to 127.0.0.1:`port`. */
  static async connect(port: number): Promise<WireClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new WireClient(socket);
  }

  /** Direct TLS (no SSLRequest): the ClientHello is the first byte on the wire. Rejects with the handshake error. */
  static async directTls(port: number, options: tls.ConnectionOptions): Promise<WireClient> {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    const client = new WireClient(socket);
    await handshake(socket);
    return client;
  }

  /** The server closed (or reset) the connection. */
  get isClosed(): boolean {
    return this.closedAtMs !== null;
  }

  /** Bytes received and not read yet. */
  get unread(): Buffer {
    return this.buffer.subarray(this.cursor);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  /** Exactly `n` bytes; rejects if the server closes first or nothing comes within `timeoutMs`. */
  async read(n: number, timeoutMs = 3000): Promise<Buffer> {
    await this.waitFor(`${n} bytes`, () => this.buffer.length - this.cursor >= n, timeoutMs);
    const out = this.buffer.subarray(this.cursor, this.cursor + n);
    this.cursor += n;
    return out;
  }

  /** One backend message (type byte, Int32 length, body). */
  async readMessage(timeoutMs = 3000): Promise<BackendMessage> {
    const head = await this.read(5, timeoutMs);
    const length = head.readInt32BE(1);
    if (length < 4 || length > 1 << 20) throw new Error(`implausible message length ${length} (type ${head[0]})`);
    return { type: String.fromCharCode(head[0]), body: await this.read(length - 4, timeoutMs) };
  }

  /** The next message, which must be an ErrorResponse; returns its fields. */
  async readError(timeoutMs = 3000): Promise<ErrorFields> {
    const message = await this.readMessage(timeoutMs);
    if (message.type !== 'E') throw new Error(`expected an ErrorResponse, got message type '${message.type}'`);
    return parseErrorFields(message.body);
  }

  /** Milliseconds from connect to the server's close; rejects if it stays open for `timeoutMs`. */
  async closed(timeoutMs = 3000): Promise<number> {
    await this.waitFor('the server to close the connection', () => this.closedAtMs !== null, timeoutMs);
    return this.closedAtMs! - this.openedAt;
  }

  /**
   * TLS on this socket (after the server answered 'S'): resolves with a client reading the TLS
   * stream, rejects with the handshake error. Bytes received before the handshake are an error.
   */
  async startTls(options: tls.ConnectionOptions): Promise<WireClient> {
    if (this.unread.length > 0) throw new Error(`server sent ${this.unread.length} unexpected bytes before the TLS handshake`);
    this.socket.off('data', this.onData);
    const secure = tls.connect({ socket: this.socket as net.Socket, servername: 'localhost', ...options });
    const client = new WireClient(secure);
    await handshake(secure);
    return client;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves when `ready()` holds; rejects when the connection closes first or `timeoutMs` passes. */
  private waitFor(what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) return done(null);
        if (this.closedAtMs !== null) {
          done(new Error(`connection closed while waiting for ${what} (unread: ${this.unread.toString('hex') || 'nothing'})`));
        }
      };
      const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      const done = (err: Error | null) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }
}

function handshake(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      socket.off('secureConnect', onSecure);
      reject(err);
    };
    const onClose = () => reject(new Error('connection closed during the TLS handshake'));
    const onSecure = () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve();
    };
    socket.once('secureConnect', onSecure);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** The bytes of the ClientHello a node:tls client with `options` would send (one TLS record). */
export function captureClientHello(options: tls.ConnectionOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let client: tls.TLSSocket | undefined;
    const sink = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        callback();
        queueMicrotask(() => client?.destroy());
        resolve(Buffer.from(chunk));
      },
    });
    client = tls.connect({ socket: sink, servername: 'localhost', ...options });
    client.on('error', (err) => reject(err));
  });
}
