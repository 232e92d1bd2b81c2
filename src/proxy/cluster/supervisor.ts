/**
 * The supervisor: with general.worker_threads above 1, `gatehouse run` is this primary process and that many
 * worker processes (node:cluster), each a Gateway. The supervisor listens (so an online restart can hand the
 * sockets over, and so that no worker reads a byte before it owns the client), hands each accepted client to
 * the worker serving the fewest, and keeps what must hold for the instance as a whole: the max_connections
 * count, the server slots of pool_size and max_db_connections (SlotLedger), cancel routing between workers,
 * one /metrics and one viewer, admin commands run on every worker. A worker that dies is replaced under the
 * same index (the cancel key's worker byte); its clients' loss is logged and counted.
 */
import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ClientTransport } from '../../../machines/client-session.js';
import { readFileSync } from 'node:fs';
import { ConfigError, parseConfig } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import type { ConnectionRecord } from '../../journal/journal.js';
import { aggregateScrapes, type MetricJson } from '../../observability/metrics.js';
import { createViewer, mergeConnections, type JournalSource } from '../../observability/viewer.js';
import { startWebServer, type WebServer } from '../../observability/web.js';
import { packageRoot } from '../../package-root.js';
import type { ReloadOutcome } from '../admin/console-data.js';
import { serverFd, type ListeningFds } from '../handover.js';
import { listenClients, type ClientListeners } from '../listeners.js';
import { Rpc } from './rpc.js';
import { SlotLedger, type LeaseRequest } from './slot-ledger.js';
import { mergeReloads } from './admin-merge.js';

/** A worker that dies this soon after it was ready died of something it will die of again: wait before the next. */
const QUICK_DEATH_MS = 5_000;
const MAX_RESTART_DELAY_MS = 10_000;
/** Clients accepted while no worker is ready (all restarting): at most this many wait, each at most PENDING_MS. */
const PENDING_LIMIT = 1_000;
const PENDING_MS = 10_000;

interface WorkerSlot {
  index: number;
  worker: Worker | null;
  rpc: Rpc | null;
  ready: boolean;
  /** Clients handed to it and not yet gone. */
  clients: number;
  readyAt: number;
  quickDeaths: number;
}

/** A message to a worker if its channel is open (false if not); a failed write is the worker's exit to report. */
function post(worker: Worker | null | undefined, message: object): boolean {
  if (!worker?.isConnected()) return false;
  worker.send(message, () => undefined);
  return true;
}

export interface SupervisorOptions {
  config: Config;
  /** The configuration file's text `config` was read from: workers start with the text last found valid. */
  configText: string;
  logger: Logger;
  inherited: ListeningFds | null;
}

export class Supervisor extends EventEmitter {
  private readonly slots: WorkerSlot[];
  private readonly ledger = new SlotLedger();
  private readonly registry = new Registry();
  private readonly restarts: Counter;
  private clientListeners: ClientListeners | null = null;
  private web: WebServer | null = null;
  private clients = 0;
  private readonly pending: Array<{ socket: Socket; transport: ClientTransport }> = [];
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    super();
    const count = opts.config.general.worker_threads;
    this.slots = Array.from({ length: count }, (_, index) => ({ index, worker: null, rpc: null, ready: false, clients: 0, readyAt: 0, quickDeaths: 0 }));
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_supervisor_' });
    this.restarts = new Counter({
      name: 'gatehouse_worker_restarts_total',
      help: 'Worker processes that died and were replaced.',
      registers: [this.registry],
    });
    const slots = this.slots;
    new Gauge({
      name: 'gatehouse_workers',
      help: 'Worker processes serving clients now (general.worker_threads when all are up).',
      registers: [this.registry],
      collect() {
        this.set(slots.filter((s) => s.ready).length);
      },
    });
  }

  get config(): Config {
    return this.opts.config;
  }

  get clientCount(): number {
    return this.clients;
  }

  /** Listen and start the workers; resolves once listening (clients wait for the first worker that is up). */
  async start(): Promise<AddressInfo> {
    const { config, logger, inherited } = this.opts;
    cluster.setupPrimary({ serialization: 'advanced' });
    // Paused: no byte of a client is read here, only by the worker that owns it (after TLS, if any).
    this.clientListeners = await listenClients(config.general, (socket, transport) => this.accept(socket, transport), inherited, { pauseOnConnect: true });
    if (config.web.enabled) {
      const routes = config.web.viewer ? [createViewer(this.journals(), new URL('diagrams/', packageRoot()))] : [];
      this.web = await startWebServer(config.web, () => this.scrape(), logger, routes, inherited?.web ?? null);
    }
    const { address, unixPath } = this.clientListeners;
    logger.info(
      { host: address.address, port: address.port, unix_socket: unixPath, tls_mode: config.general.tls_mode, pid: process.pid, workers: this.slots.length, inherited: inherited !== null },
      'gatehouse listening',
    );
    // Clients that come before the first worker is up wait for it (in `pending`), not refused.
    const started = Date.now();
    void Promise.all(this.slots.map((slot) => this.fork(slot))).then(() => {
      logger.info({ workers: this.slots.filter((s) => s.ready).length, ms: Date.now() - started }, 'workers started');
    });
    return address;
  }

  private fork(slot: WorkerSlot): Promise<void> {
    const worker = cluster.fork({ GATEHOUSE_WORKER: String(slot.index), GATEHOUSE_WORKERS: String(this.slots.length) });
    slot.worker = worker;
    slot.ready = false;
    slot.clients = 0;
    slot.rpc = new Rpc((message) => post(worker, message), this.handlers());
    // A send to a worker that just died fails with EPIPE: its exit event follows and is what counts.
    worker.on('error', () => undefined);
    const rpc = slot.rpc;
    return new Promise<void>((resolve) => {
      worker.on('message', (message: { t?: string } & Record<string, unknown>) => {
        if (rpc.receive(message)) return;
        this.onMessage(slot, message, resolve);
      });
      worker.once('exit', (code, signal) => {
        rpc.closed(`worker ${slot.index} exited`);
        resolve();
        this.onExit(slot, worker, code, signal);
      });
    });
  }

  private onMessage(slot: WorkerSlot, message: Record<string, unknown>, ready: () => void): void {
    switch (message.t) {
      case 'hello':
        post(slot.worker, { t: 'config', text: this.opts.configText });
        return;
      case 'ready':
        slot.ready = true;
        slot.readyAt = Date.now();
        this.opts.logger.info({ worker: slot.index, pid: slot.worker!.process.pid }, `worker ${slot.index} serving`);
        ready();
        this.flushPending();
        return;
      case 'closed':
        slot.clients--;
        this.clients--;
        return;
      case 'cancel': {
        const target = this.slots[message.worker as number];
        if (target?.ready) post(target.worker, { t: 'cancel', processId: message.processId, secretKey: message.secretKey });
        return;
      }
      case 'lease':
        for (const grant of this.ledger.request(slot.index, message.request as LeaseRequest)) this.grant(grant.worker, grant.request);
        this.askForSlots(slot.index, message.request as LeaseRequest);
        return;
      case 'unlease':
        for (const grant of this.ledger.release(slot.index, message.pool as string, message.database as string)) this.grant(grant.worker, grant.request);
        return;
    }
  }

  private grant(worker: number, request: LeaseRequest): void {
    post(this.slots[worker]?.worker, { t: 'grant', pool: request.pool });
  }

  /** A lease waits: the worker holding most of the pool's slots is asked to close an idle one (now, or when one goes idle). */
  private askForSlots(requester: number, request: LeaseRequest): void {
    if (!this.ledger.isWaiting(requester, request.pool)) return;
    for (const holder of this.ledger.holders(request, requester)) post(this.slots[holder]?.worker, { t: 'evict', pool: request.pool });
  }

  private onExit(slot: WorkerSlot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const lost = slot.clients;
    this.clients -= lost;
    slot.clients = 0;
    slot.ready = false;
    slot.worker = null;
    slot.rpc = null;
    for (const grant of this.ledger.forget(slot.index)) this.grant(grant.worker, grant.request);
    if (this.stopping) return;
    this.restarts.inc();
    const quick = slot.readyAt === 0 || Date.now() - slot.readyAt < QUICK_DEATH_MS;
    slot.quickDeaths = quick ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (slot.quickDeaths - 1));
    this.opts.logger.error(
      { worker: slot.index, pid: worker.process.pid, code, signal, lostClients: lost, restartInMs: delay },
      `worker ${slot.index} died (${signal ?? `exit code ${code}`}); its ${lost} client connection(s) were lost; starting a replacement`,
    );
    setTimeout(() => {
      if (!this.stopping) void this.fork(slot);
    }, delay).unref();
  }

  private accept(socket: Socket, transport: ClientTransport): void {
    if (this.stopping) return void socket.destroy();
    socket.on('error', () => socket.destroy());
    const target = this.pick();
    if (!target) {
      if (this.pending.length >= PENDING_LIMIT) return void socket.destroy();
      const waiting = { socket, transport };
      this.pending.push(waiting);
      setTimeout(() => {
        const i = this.pending.indexOf(waiting);
        if (i < 0) return;
        this.pending.splice(i, 1);
        socket.destroy();
      }, PENDING_MS).unref();
      return;
    }
    this.handTo(target, socket, transport);
  }

  /** The ready worker serving the fewest clients. */
  private pick(): WorkerSlot | null {
    let best: WorkerSlot | null = null;
    for (const slot of this.slots) if (slot.ready && (!best || slot.clients < best.clients)) best = slot;
    return best;
  }

  private handTo(slot: WorkerSlot, socket: Socket, transport: ClientTransport): void {
    const overCapacity = this.clients >= this.opts.config.general.max_connections;
    this.clients++;
    slot.clients++;
    slot.worker!.send({ t: 'client', transport, overCapacity }, socket, { keepOpen: false }, (err) => {
      if (!err) return;
      this.clients--;
      slot.clients--;
      socket.destroy();
    });
  }

  private flushPending(): void {
    while (this.pending.length > 0) {
      const target = this.pick();
      if (!target) return;
      const { socket, transport } = this.pending.shift()!;
      if (!socket.destroyed) this.handTo(target, socket, transport);
    }
  }

  /** The calls workers make to the supervisor. */
  private handlers() {
    return {
      /** Run one admin command on every worker (the admin session's worker merges the outcomes). */
      everyWorker: (arg: unknown) => this.everyWorker('admin', arg),
      reload: () => this.reload(),
      shutdown: () => void this.emit('shutdown'),
      upgrade: () => this.listenerCount('upgrade') > 0 && this.emit('upgrade'),
    };
  }

  /** Ask every serving worker; a worker that does not answer in time is left out (and logged), not waited for. */
  private async everyWorker<T>(what: string, arg: unknown = null): Promise<T[]> {
    const answers = await Promise.allSettled(this.slots.filter((s) => s.ready && s.rpc).map((s) => s.rpc!.call<T>(what, arg)));
    const values: T[] = [];
    answers.forEach((answer) => {
      if (answer.status === 'fulfilled') values.push(answer.value);
      else this.opts.logger.warn({ call: what, err: answer.reason?.message }, 'a worker did not answer; its share is left out');
    });
    return values;
  }

  private async scrape(): Promise<string> {
    const own = (await this.registry.getMetricsAsJSON()) as MetricJson[];
    return aggregateScrapes([own, ...(await this.everyWorker<MetricJson[]>('metrics'))]);
  }

  private journals(): JournalSource {
    return {
      connections: async () => mergeConnections(await this.everyWorker('connections')),
      find: async (id) => (await this.everyWorker<ConnectionRecord | undefined>('find', id)).find((record) => record !== undefined),
    };
  }

  /**
   * SIGHUP and RELOAD: every worker reads the file again and applies it (each logs what it did); the supervisor
   * takes its own settings from it too (max_connections). The outcome is every worker's, merged.
   */
  async reload(): Promise<ReloadOutcome> {
    const { config } = this.opts;
    try {
      const text = readFileSync(config.file, 'utf8');
      const next = parseConfig(text, config.file, { baseDir: config.baseDir, checkFiles: false });
      // Workers started from now on (replacements) start with this file; max_connections holds at once.
      this.opts.configText = text;
      config.general.max_connections = next.general.max_connections;
    } catch (err) {
      // Invalid: every worker refuses it too, and says why.
      if (!(err instanceof ConfigError)) throw err;
    }
    return mergeReloads(await this.everyWorker<ReloadOutcome>('reload'));
  }

  listeningFds(): ListeningFds {
    const l = this.clientListeners!;
    return { tcp: serverFd(l.tcp), unix: l.unix ? serverFd(l.unix) : null, web: this.web ? serverFd(this.web.server) : null };
  }

  /**
   * Stop accepting and stop the workers: each drains its clients for up to shutdown_timeout (`handedOver`: a
   * successor listens on the same sockets and the Unix socket file is its own). Resolves when all have exited.
   */
  async close(opts: { handedOver?: boolean } = {}): Promise<void> {
    this.stopping = true;
    for (const { socket } of this.pending.splice(0)) socket.destroy();
    const listenersClosed = this.clientListeners?.close({ keepSocketFile: opts.handedOver === true });
    const exits = this.slots
      .filter((s) => s.worker)
      .map((s) => {
        const worker = s.worker!;
        return new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          if (!post(worker, { t: 'stop', handedOver: opts.handedOver === true })) worker.process.kill('SIGTERM');
          // A worker that cannot finish in time is stopped the hard way.
          setTimeout(() => worker.process.kill('SIGKILL'), this.opts.config.general.shutdown_timeout + 5_000).unref();
        });
      });
    await Promise.all(exits);
    await listenersClosed;
    await this.web?.close();
  }
}
