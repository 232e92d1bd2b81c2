/**
 * Cancel routing. Each client gets a BackendKeyData of gatehouse's own (random process id,
 * random 32-bit secret); a CancelRequest carrying it is forwarded to the server connection the
 * client is attached to at that moment, with that server's real key. Unknown keys are ignored
 * silently, as PostgreSQL does.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { sendCancel } from '../driver/cancel-sender.js';
import type { ServerConnection } from '../pool/server-connection.js';

interface Entry {
  secretKey: Buffer;
  server: ServerConnection | null;
}

export class CancelRegistry {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly logger: Logger) {}

  /** A fresh key for a client session. */
  register(): { processId: number; secretKey: Buffer } {
    let processId: number;
    do processId = randomInt(1, 2 ** 31 - 1);
    while (this.entries.has(processId));
    const secretKey = randomBytes(4);
    this.entries.set(processId, { secretKey, server: null });
    return { processId, secretKey };
  }

  attach(processId: number, server: ServerConnection | null): void {
    const entry = this.entries.get(processId);
    if (entry) entry.server = server;
  }

  unregister(processId: number): void {
    this.entries.delete(processId);
  }

  /** Forward a client's cancel; resolves when it was sent (or ignored). */
  forward(processId: number, secretKey: Buffer): Promise<void> {
    const entry = this.entries.get(processId);
    if (!entry || entry.secretKey.length !== secretKey.length || !timingSafeEqual(entry.secretKey, secretKey)) return Promise.resolve();
    return entry.server ? sendCancel(entry.server, this.logger) : Promise.resolve();
  }
}
