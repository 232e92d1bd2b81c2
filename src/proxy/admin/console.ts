/**
 * Runs admin commands against the gateway (ConsoleHost). Commands that act on client connections
 * reach them as machine events (KILL), so their journals say who ended them; every command is
 * logged with the admin connection's id.
 */
import type { Logger } from 'pino';
import { LOG_LEVELS, type LogLevel } from '../../config/types.js';
import { SqlState } from '../../protocol/sqlstate.js';
import { AdminError, type AdminCommand } from './admin-commands.js';
import type { ConsoleHost } from './console-data.js';
import { columns, type ResultSet } from './result-set.js';
import { showTable } from './show-tables.js';

export interface CommandOutcome {
  /** Rows to send, or only a CommandComplete tag. */
  result: ResultSet | { tag: string };
  /** Sent as NoticeResponses before the result (a reload's settings that wait for a restart). */
  notices: string[];
  /** Runs once the reply is written (SHUTDOWN). */
  after?: () => void;
  /** KILL: how many clients it terminated (a worker's count, added up for the instance). */
  killed?: number;
}

/** What runs admin commands: this process's console, or the instance's (src/proxy/cluster/instance-console.ts). */
export interface CommandRunner {
  run(command: AdminCommand, by: string): Promise<CommandOutcome>;
}

export function killNotice(killed: number, database: string): string {
  return `${killed} client connection(s) of "${database}" terminated`;
}

const done = (tag: string, notices: string[] = []): CommandOutcome => ({ result: { tag }, notices });

export class AdminConsole implements CommandRunner {
  constructor(
    private readonly host: ConsoleHost,
    private readonly log: Logger,
  ) {}

  /** The pools a PAUSE/RESUME/RECONNECT/KILL names: all, or one database's, which must exist. */
  private databases(database: string | null): string[] {
    if (database === null) return Object.keys(this.host.config.pools);
    if (!(database in this.host.config.pools)) throw new AdminError(SqlState.INVALID_CATALOG_NAME, `No pool for database "${database}"`);
    return [database];
  }

  private poolsOf(databases: string[]) {
    return [...this.host.pools()].filter((p) => databases.includes(p.database)).map((p) => p.entry.pool);
  }

  async run(command: AdminCommand, by: string): Promise<CommandOutcome> {
    this.log.info({ admin: by, command }, 'admin command');
    switch (command.verb) {
      case 'SHOW':
        return { result: await showTable(this.host, command.what, command.arg), notices: [] };
      case 'PAUSE':
        for (const pool of this.poolsOf(this.databases(command.database))) pool.pause();
        return done('PAUSE');
      case 'RESUME':
        for (const pool of this.poolsOf(this.databases(command.database))) pool.resume();
        return done('RESUME');
      case 'RECONNECT':
        for (const pool of this.poolsOf(this.databases(command.database))) pool.reconnect();
        return done('RECONNECT');
      case 'KILL': {
        const [database] = this.databases(command.database);
        const killed = this.host.kill(database, by);
        for (const pool of this.poolsOf([database])) pool.reconnect();
        return { ...done('KILL', [killNotice(killed, database)]), killed };
      }
      case 'RELOAD': {
        const outcome = await this.host.reload();
        if (!outcome.applied) {
          throw new AdminError(SqlState.CONFIGURATION_FILE_ERROR, `reload failed; the running configuration stays in force:\n${outcome.failures.join('\n')}`);
        }
        return done('RELOAD', [
          ...outcome.needRestart.map((change) => `needs a restart to take effect: ${change}`),
          ...outcome.failures.map((failure) => `kept the previous TLS material: ${failure}`),
        ]);
      }
      case 'SHUTDOWN':
        return { result: { columns: columns('success'), rows: [['t']], tag: 'SHUTDOWN' }, notices: [], after: () => this.host.shutdown() };
      case 'UPGRADE':
        if (!this.host.upgrade()) throw new AdminError(SqlState.FEATURE_NOT_SUPPORTED, 'UPGRADE needs gatehouse run (an online restart starts the same command line again)');
        return done('UPGRADE');
      case 'SET': {
        if (command.name !== 'log_level') throw new AdminError(SqlState.SYNTAX_ERROR, `SET ${command.name}: the admin console can only SET log_level`);
        const level = command.value.toLowerCase();
        if (!(LOG_LEVELS as readonly string[]).includes(level)) {
          throw new AdminError(SqlState.INVALID_PARAMETER_VALUE, `invalid value for log_level: "${command.value}" (one of ${LOG_LEVELS.join(', ')})`);
        }
        this.host.setLogLevel(level as LogLevel);
        return done('SET');
      }
    }
  }
}
