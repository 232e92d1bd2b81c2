/**
 * A worker process (node:cluster): one Gateway that serves the clients the supervisor hands it. It takes the
 * configuration text from the supervisor (the file as last found valid), answers the supervisor's calls
 * (metrics, journals, admin commands, reload) and tells it what the instance must count: clients gone,
 * server slots asked for and given back, cancels for another worker. It stops when told, when SIGTERM reaches
 * it, or when the supervisor is gone.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientTransport } from '../../../machines/client-session.js';
import { parseConfig } from '../../config/index.js';
import { journalSource } from '../../observability/viewer.js';
import type { AdminCommand } from '../admin/admin-commands.js';
import { Gateway } from '../gateway.js';
import { InstanceConsole } from './instance-console.js';
import { LeaseBroker } from './lease-broker.js';
import { Rpc } from './rpc.js';

type SupervisorMessage =
  | { t: 'config'; text: string }
  | { t: 'client'; transport: ClientTransport; overCapacity: boolean }
  | { t: 'cancel'; processId: number; secretKey: Uint8Array }
  | { t: 'grant'; pool: string }
  | { t: 'evict'; pool: string }
  | { t: 'stop'; handedOver: boolean };

export async function runWorker(file: string, logger: Logger): Promise<void> {
  const index = Number(process.env.GATEHOUSE_WORKER);
  const count = Number(process.env.GATEHOUSE_WORKERS);
  const send = (message: object) => {
    if (process.connected) process.send!(message);
  };
  const log = logger.child({ worker: index });
  const text = await new Promise<string>((resolve) => {
    const first = (message: SupervisorMessage) => {
      if (message.t !== 'config') return;
      process.off('message', first);
      resolve(message.text);
    };
    process.on('message', first);
    // Messages that arrive before a listener exists are dropped: ask for the configuration once listening.
    send({ t: 'hello' });
  });
  const config = parseConfig(text, file);
  let gateway: Gateway | null = null;
  const rpc = new Rpc(send, {
    metrics: () => gateway!.metrics.snapshot(),
    connections: () => journalSource(gateway!.journals).connections(),
    find: (id) => journalSource(gateway!.journals).find(id as string),
    admin: (arg) => {
      const { command, by } = arg as { command: AdminCommand; by: string };
      return gateway!.runLocally(command, by);
    },
    reload: () => gateway!.reload(),
  });
  const broker = new LeaseBroker(send, (key) => {
    const [name, user] = JSON.parse(key) as [string, string];
    return gateway!.poolsFor(name, user);
  });
  gateway = new Gateway(config, log, {
    index,
    count,
    link: {
      clientClosed: () => send({ t: 'closed' }),
      routeCancel: (worker, processId, secretKey) => {
        if (worker === index) return false;
        send({ t: 'cancel', worker, processId, secretKey });
        return true;
      },
    },
    slots: broker,
    console: (local) => new InstanceConsole(rpc, local, log.child({ admin: true })),
  });
  const running = gateway;
  let stopping = false;
  const stop = (handedOver: boolean) => {
    if (stopping) return;
    stopping = true;
    running.close({ handedOver }).then(() => process.exit(0));
  };
  process.on('message', (message: SupervisorMessage & { t: string }, handle: unknown) => {
    if (rpc.receive(message)) return;
    switch (message.t) {
      case 'client':
        if (stopping) return void (handle as Socket).destroy();
        return running.adopt(handle as Socket, message.transport, message.overCapacity);
      case 'cancel':
        return void running.cancel(message.processId, Buffer.from(message.secretKey));
      case 'grant':
        return broker.granted(message.pool);
      case 'evict':
        return broker.yieldSlot(message.pool);
      case 'stop':
        return stop(message.handedOver);
    }
  });
  // The supervisor coordinates reloads and restarts; a stop may reach a worker directly (systemd signals the group).
  process.on('SIGHUP', () => undefined);
  process.on('SIGUSR2', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => stop(false));
  process.on('disconnect', () => {
    log.warn('the supervisor is gone; draining this worker');
    stop(false);
  });
  running.start();
  send({ t: 'ready' });
}
