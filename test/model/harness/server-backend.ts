/**
 * The scripted "PostgreSQL" the server driver connects to: a real listening socket on 127.0.0.1
 * whose every answer (S/N, TLS, authentication requests, errors, ReadyForQuery) a test step writes.
 */
import { once } from 'node:events';
import net from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import type { IssuedCertificate } from '../../../src/dev/index.js';
import { ByteReader, EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { GatedDuplex } from './gated-duplex.js';

/** One accepted backend connection, as the scripted server sees it. */
export class BackendPeer {
  readonly reader: ByteReader;
  readonly closed: Promise<void>;
  tls: TLSSocket | null = null;
  /** Every byte the driver put on the wire, as the wire carried it (TLS records stay encrypted). */
  private readonly wire: Buffer[] = [];

  constructor(readonly socket: net.Socket, readonly seq: number) {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.wire.push(chunk));
    this.reader = new ByteReader(socket, `backend connection #${seq}`);
    // Not events.once(): it would reject on the ECONNRESET that often precedes the close.
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  get wireBytes(): Buffer {
    return Buffer.concat(this.wire);
  }

  write(bytes: Buffer | string): void {
    (this.tls ?? this.socket).write(bytes);
  }

  /**
   * Answer the driver's ClientHello (already received, unread) as a TLS server with `cert`. TLS runs
   * over a duplex, so `injectRecord()` can still put bytes on the wire beneath it.
   */
  startTls(cert: IssuedCertificate): void {
    const hello = this.reader.detach();
    const wire = new GatedDuplex(this.socket, true, hello);
    this.tls = new TLSSocket(wire, { isServer: true, secureContext: createSecureContext({ cert: cert.certPem, key: cert.keyPem }) });
    this.tls.on('error', () => {});
    this.reader.attach(this.tls);
  }

  /** A forged TLS application-data record, as a man in the middle would inject: the peer cannot decrypt it. */
  injectRecord(): void {
    this.socket.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 0x5a)]));
  }

  destroy(): void {
    this.tls?.destroy();
    this.socket.destroy();
  }
}

export class ScriptedBackend {
  private readonly server = net.createServer();
  readonly peers: BackendPeer[] = [];
  private waiting: Array<(peer: BackendPeer) => void> = [];

  async listen(): Promise<number> {
    this.server.on('connection', (socket) => {
      const peer = new BackendPeer(socket, this.peers.length + 1);
      this.peers.push(peer);
      this.waiting.shift()?.(peer);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The `n`-th accepted connection (1-based), once the driver opened it. */
  async peer(n: number): Promise<BackendPeer> {
    if (this.peers.length >= n) return this.peers[n - 1];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`backend: the driver did not open connection #${n}`)), EFFECT_TIMEOUT_MS);
      const wait = () =>
        this.waiting.push((p) => {
          if (this.peers.length >= n) {
            clearTimeout(timer);
            resolve(this.peers[n - 1]);
          } else wait();
        });
      wait();
    });
  }

  get current(): BackendPeer | undefined {
    return this.peers.at(-1);
  }

  /** Stop accepting: the next connection attempt is refused (the listening socket closes at once). */
  stopListening(): void {
    this.server.close();
  }

  dispose(): void {
    for (const peer of this.peers) peer.destroy();
    if (this.server.listening) this.server.close();
  }
}
