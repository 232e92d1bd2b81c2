/**
 * Cancel routing. Each client gets a BackendKeyData of gatehouse's own (random process id,
 * random 32-bit secret); a CancelRequest carrying it is forwarded to the server connection the
 * client is attached to at that moment, with that server's real key, by the cancel driver (the
 * cancel-request machine: journaled as `x<N>`, counted in gatehouse_cancel_requests_total).
 * Unknown keys are ignored silently, as PostgreSQL does.
 */
import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { sendCancel } from '../driver/cancel-driver.js';
import type { Timers } from '../driver/timers.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import type { ServerConnection } from '../pool/server-connection.js';

interface Entry {
  secretKey: Buffer;
  server: ServerConnection | null;
}

export interface CancelRegistryOptions {
  logger: Logger;
  /** Every forwarded cancel is journaled here, like a connection. */
  journals: JournalBook;
  metrics: Metrics;
  /** The Stately inspector observer, read when a cancel starts (the inspector may start after the registry). */
  inspect?: () => unknown;
  /** For tests: a manual clock for the cancel timeout. */
  timers?: Timers;
}

export class CancelRegistry {
  private readonly entries = new Map<number, Entry>();
  private cancelsStarted = 0;

  constructor(private readonly options: CancelRegistryOptions) {}

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

  /** Forward a client's cancel; resolves when it was sent, given up or ignored (never rejects). */
  async forward(processId: number, secretKey: Buffer): Promise<void> {
    const entry = this.entries.get(processId);
    if (!entry || entry.secretKey.length !== secretKey.length || !timingSafeEqual(entry.secretKey, secretKey)) return;
    const server = entry.server;
    // A server that sent no BackendKeyData cannot be cancelled (PostgreSQL always sends one).
    if (!server?.backendKey) return;
    const id = `x${++this.cancelsStarted}`;
    const { logger, journals, metrics, inspect, timers } = this.options;
    try {
      await sendCancel({
        id,
        pool: server.pool,
        route: server.route,
        key: server.backendKey,
        sessionTls: server.tls !== null,
        logger: logger.child({ conn: id, server: server.id }),
        metrics,
        journals,
        timers,
        inspect: inspect?.(),
      });
    } catch (err) {
      logger.error({ conn: id, server: server.id, err }, 'cancel request could not be started');
    }
  }
}
