/**
 * Cancel routing. Each client gets a BackendKeyData of gatehouse's own, which names the worker and
 * the instance (peer) that own the session (cancel-key.ts). A CancelRequest carrying it is handed
 * to `elsewhere` when another worker or peer owns it; here it is forwarded to the server connection
 * the client is attached to at that moment, with that server's real key, by the cancel driver (the
 * cancel-request machine: journaled as `x<N>`, counted in gatehouse_cancel_requests_total).
 * Unknown keys are ignored silently, as PostgreSQL does.
 */
import type { Logger } from 'pino';
import { cancelKeyId, cancelKeyOwner, issueCancelKey, type KeyOwner } from './cancel-key.js';
import { sendCancel } from '../driver/cancel-driver.js';
import type { Timers } from '../driver/timers.js';
import type { JournalBook } from '../journal/journal.js';
import type { Metrics } from '../observability/metrics.js';
import type { ServerConnection } from '../pool/server-connection.js';
import type { CancelKey } from './cancel-key.js';

interface Entry {
  server: ServerConnection | null;
}

/** What sending a cancel needs, to PostgreSQL here or to a peer (peer-cancel.ts). */
export interface CancelSenderOptions {
  logger: Logger;
  /** Every forwarded cancel is journaled here, like a connection. */
  journals: JournalBook;
  metrics: Metrics;
  /** The Stately inspector observer, read when a cancel starts (the inspector may start after the registry). */
  inspect?: () => unknown;
  /** For tests: a manual clock for the cancel timeout (and a peer forward's wait for a slot). */
  timers?: Timers;
  /** Journal ids of the cancels sent (`x<N>`, `xp<N>`); default a counter of its own. */
  nextId?: () => string;
}

export interface CancelRegistryOptions extends CancelSenderOptions {
  /** This process's place in the instance and among peers; default worker 0, no peering. */
  owner?: KeyOwner;
  /**
   * A cancel whose key another worker or peer owns: return true when it was passed on (or dropped
   * deliberately) there; false means this process owns it.
   */
  elsewhere?: (processId: number, secretKey: Buffer, owner: KeyOwner & { ttl: number }) => boolean;
}

export class CancelRegistry {
  /** By cancelKeyId (both halves of the key): issued keys share their owner bytes. */
  private readonly entries = new Map<string, Entry>();
  /** The same entries by the key object handed out: attach() runs twice per transaction and builds no id for it. */
  private readonly byKey = new WeakMap<CancelKey, Entry>();
  private cancelsStarted = 0;

  constructor(private readonly options: CancelRegistryOptions) {}

  /** A fresh key for a client session. */
  register(): CancelKey {
    const owner = this.options.owner ?? { peerId: 0, worker: 0 };
    let key: CancelKey;
    do key = issueCancelKey(owner);
    while (this.entries.has(cancelKeyId(key.processId, key.secretKey)!));
    const entry: Entry = { server: null };
    this.entries.set(cancelKeyId(key.processId, key.secretKey)!, entry);
    this.byKey.set(key, entry);
    return key;
  }

  attach(key: CancelKey, server: ServerConnection | null): void {
    const entry = this.byKey.get(key);
    if (entry) entry.server = server;
  }

  unregister(key: CancelKey): void {
    this.entries.delete(cancelKeyId(key.processId, key.secretKey)!);
    this.byKey.delete(key);
  }

  /** Forward a client's cancel; resolves when it was sent, passed on, given up or ignored (never rejects). */
  async forward(processId: number, secretKey: Buffer): Promise<void> {
    if (this.options.elsewhere?.(processId, secretKey, cancelKeyOwner(processId, secretKey))) return;
    const keyId = cancelKeyId(processId, secretKey);
    const entry = keyId === null ? undefined : this.entries.get(keyId);
    if (!entry) return;
    const server = entry.server;
    // A server that sent no BackendKeyData cannot be cancelled (PostgreSQL always sends one).
    if (!server?.backendKey) return;
    const id = this.options.nextId ? this.options.nextId() : `x${++this.cancelsStarted}`;
    const { logger, journals, metrics, inspect, timers } = this.options;
    try {
      await sendCancel({
        id,
        target: { pool: server.pool },
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
