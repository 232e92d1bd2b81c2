/** What the admin console reads and does: supplied by the Gateway, which owns all of it. */
import type { Config, LogLevel } from '../../config/types.js';
import type { ClientInfo } from '../../driver/session-port.js';
import type { JournalBook } from '../../journal/journal.js';
import type { Metrics } from '../../observability/metrics.js';
import type { PoolEntry } from '../pool-directory.js';

export interface ConsolePool {
  database: string;
  user: string;
  entry: PoolEntry;
}

export interface ReloadOutcome {
  /** false: the file was invalid and nothing changed. */
  applied: boolean;
  /** Why nothing changed (each names its file and key), or, when applied, the TLS files that kept their old material. */
  failures: string[];
  /** Changed settings that take effect only after a restart. */
  needRestart: string[];
}

export interface ConsoleData {
  /** The configuration in force. */
  readonly config: Config;
  readonly version: string;
  readonly journals: JournalBook;
  readonly metrics: Metrics;
  clients(): Iterable<ClientInfo>;
  pools(): Iterable<ConsolePool>;
}

export interface ConsoleActions {
  /** KILL: every client of `database` is terminated (a machine event each); returns how many. */
  kill(database: string, by: string): number;
  reload(): Promise<ReloadOutcome>;
  shutdown(): void;
  /** UPGRADE: an online restart (as SIGUSR2); false when this process cannot start a successor (not `gatehouse run`). */
  upgrade(): boolean;
  setLogLevel(level: LogLevel): void;
}

export type ConsoleHost = ConsoleData & ConsoleActions;
