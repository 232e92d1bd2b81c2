/**
 * One generated cancel-request path against the real cancel driver (sendCancel) and a scripted
 * backend on a real socket. The test plays PostgreSQL: it answers the SSLRequest, runs the TLS
 * server side, reads the CancelRequest and closes the connection (or resets it, or stays silent).
 */
import type { Logger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import type { MachineRun } from '../../../src/driver/machine-host.js';
import type { CancelEvent, CancelRequestInput } from '../../../machines/cancel-request.js';
import { sendCancel, type CancelOutcome } from '../../../src/driver/cancel-driver.js';
import type { JournalBook, JournalEntry } from '../../../src/journal/journal.js';
import type { Metrics } from '../../../src/observability/metrics.js';
import type { ServerTlsMaterial } from '../../../src/tls/server-tls.js';
import { EFFECT_TIMEOUT_MS } from './byte-reader.js';
import { CANCEL_KEY } from './cancel-samples.js';
import { ManualTimers } from './manual-timers.js';
import type { ModelPath, ModelStep } from './model-paths.js';
import type { ModelPki } from './pki.js';
import { BackendPeer, ScriptedBackend } from './server-backend.js';
import { INJECTED_AFTER_S, SSL_REQUEST_ERROR } from './server-samples.js';

export interface CancelFixture {
  pki: ModelPki;
  metrics: Metrics;
  logger: Logger;
  book: JournalBook;
  /** TLS material for a mode (null for disable), loaded with the real loader. */
  material: (input: CancelRequestInput) => ServerTlsMaterial | null;
  closedPort: () => Promise<number>;
}

let worlds = 0;

export class CancelWorld {
  readonly id = `x-model-${++worlds}`;
  readonly timers = new ManualTimers();
  readonly backend = new ScriptedBackend();
  actor!: MachineRun<AnyStateMachine>;
  outcome!: Promise<CancelOutcome>;
  settled: CancelOutcome | null = null;

  constructor(
    readonly fixture: CancelFixture,
    readonly input: CancelRequestInput,
    private readonly path: ModelPath<CancelEvent>,
  ) {}

  /** Sets everything up, then starts the driver last: nothing may wait on I/O between that and the first step. */
  async open(): Promise<void> {
    const listening = await this.backend.listen();
    const refused = this.path.steps[1]?.event.type === 'socket.connectFailed';
    const port = refused ? await this.fixture.closedPort() : listening;
    let actor: MachineRun<AnyStateMachine> | null = null;
    const result = sendCancel({
      id: this.id,
      target: { pool: 'model' },
      route: { host: 'localhost', port, mode: this.input.mode, negotiation: this.input.negotiation, material: this.fixture.material(this.input) },
      key: CANCEL_KEY,
      sessionTls: this.input.sessionTls,
      logger: this.fixture.logger,
      metrics: this.fixture.metrics,
      journals: this.fixture.book,
      timers: this.timers,
      inspect: (e: { type: string; actorRef?: unknown }) => {
        if (e.type === '@xstate.actor') actor ??= e.actorRef as MachineRun<AnyStateMachine>;
      },
    });
    if (!actor) throw new Error('sendCancel() created no actor');
    this.actor = actor;
    this.outcome = result.then((outcome) => (this.settled = outcome));
  }

  entries(): JournalEntry[] {
    const record = this.fixture.book.find(this.id);
    if (!record) throw new Error(`no journal for ${this.id}`);
    return record.entries;
  }

  get peer(): BackendPeer {
    const peer = this.backend.current;
    if (!peer) throw new Error('backend: no connection accepted yet');
    return peer;
  }

  cause(step: ModelStep<CancelEvent>): Promise<void> | void {
    const event = step.event;
    switch (event.type) {
      case 'socket.connected':
      case 'socket.connectFailed':
        // The backend accepts on its own; a refused connection was arranged in open() (a closed port).
        return;
      case 'backend.sslReply': {
        const reply = { S: 'S', N: 'N', E: null, other: 'H' }[event.reply];
        if (reply === null) return this.peer.write(SSL_REQUEST_ERROR);
        return this.peer.write(event.trailingBytes > 0 ? Buffer.concat([Buffer.from(reply), INJECTED_AFTER_S]) : reply);
      }
      case 'tls.established': {
        const pki = this.fixture.pki;
        return this.peer.startTls(!event.authorized ? pki.backendUntrusted : event.hostnameError ? pki.backendOtherHost : pki.backendTrusted);
      }
      case 'tls.failed':
        // Once TLS is up: a forged record; during the handshake: not a TLS server at all.
        if (this.peer.tls) return this.peer.injectRecord();
        return this.peer.write('HTTP/1.1 400 Bad Request\r\n\r\n');
      case 'socket.closed':
        // PostgreSQL closes in order after reading a CancelRequest (TLS close_notify, then FIN); a reset is something else.
        if (event.hadError) {
          this.peer.socket.resetAndDestroy();
          return;
        }
        if (this.peer.tls) this.peer.tls.end();
        else this.peer.socket.end();
        return;
      case 'timer.expired':
        // Synchronously, with no I/O awaited since the previous step: the clock wins deterministically.
        return this.timers.fireAll();
    }
  }

  /** Close the backend and wait (bounded) for the driver to settle, so no path leaks into the next one's metrics. */
  async dispose(): Promise<void> {
    this.backend.dispose();
    await Promise.race([this.outcome, new Promise<null>((resolve) => setTimeout(() => resolve(null), EFFECT_TIMEOUT_MS).unref())]);
  }
}
