/**
 * The admin console of an instance with workers: SHOW, PAUSE, RESUME, RECONNECT, KILL and SET run on every
 * worker (through the supervisor) and their outcomes are merged (admin-merge.ts); RELOAD, SHUTDOWN and UPGRADE
 * are the supervisor's to do for all of them.
 */
import type { Logger } from 'pino';
import type { AdminCommand } from '../admin/admin-commands.js';
import { AdminConsole, type CommandOutcome, type CommandRunner } from '../admin/console.js';
import type { ConsoleHost, ReloadOutcome } from '../admin/console-data.js';
import { mergeOutcomes, type WorkerOutcome } from './admin-merge.js';
import type { Rpc } from './rpc.js';

const SUPERVISOR_VERBS = new Set<AdminCommand['verb']>(['RELOAD', 'SHUTDOWN', 'UPGRADE']);

export class InstanceConsole implements CommandRunner {
  private readonly supervisorLevel: AdminConsole;

  constructor(
    private readonly rpc: Rpc,
    local: ConsoleHost,
    logger: Logger,
  ) {
    this.supervisorLevel = new AdminConsole(
      {
        ...local,
        config: local.config,
        reload: () => rpc.call<ReloadOutcome>('reload'),
        shutdown: () => void rpc.call('shutdown').catch(() => undefined),
        upgrade: () => {
          void rpc.call('upgrade').catch(() => undefined);
          return true;
        },
      },
      logger,
    );
  }

  async run(command: AdminCommand, by: string): Promise<CommandOutcome> {
    if (SUPERVISOR_VERBS.has(command.verb)) return this.supervisorLevel.run(command, by);
    const outcomes = await this.rpc.call<WorkerOutcome[]>('everyWorker', { command, by });
    return mergeOutcomes(command, outcomes);
  }
}
