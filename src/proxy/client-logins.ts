/**
 * What a client's login asks of the gateway, answered the same way for every client (so built once, not per
 * connection): whether its database exists or is the admin console's, its user's password, and the session that
 * takes the client once it logged in (a pooled Session, or an AdminSession).
 */
import { parseStoredPassword } from '../auth/index.js';
import { ADMIN_DATABASES, type Config } from '../config/types.js';
import type { ClientDriverDeps } from '../driver/client-driver.js';
import type { Metrics } from '../observability/metrics.js';
import { AdminSession } from './admin/admin-session.js';
import type { CommandRunner } from './admin/console.js';
import type { CancelRegistry } from './cancel-registry.js';
import type { PoolDirectory } from './pool-directory.js';
import { Session } from './session.js';

export type ClientLogins = Pick<
  ClientDriverDeps,
  'databaseExists' | 'adminConsole' | 'userPassword' | 'lookupUser' | 'passwordRejected' | 'learnClientKey' | 'forwardCancel' | 'openSession'
>;

export interface ClientLoginDeps {
  /** The running configuration, read at each login (a reload changes it in place). */
  config: Config;
  pools: PoolDirectory;
  cancels: CancelRegistry;
  metrics: Metrics;
  /** What admin sessions run their commands on. */
  commands: CommandRunner;
  /** gatehouse's version, as admin sessions report it. */
  version: string;
}

export function clientLogins({ config, pools, cancels, metrics, commands, version }: ClientLoginDeps): ClientLogins {
  /** pgdoorman and pgbouncer reach the admin console, when general.admin_password turns it on. */
  const isAdminDatabase = (database: string) => config.general.admin_password !== null && ADMIN_DATABASES.includes(database);
  return {
    databaseExists: (database) => database in config.pools || isAdminDatabase(database),
    adminConsole: (database, user) => (isAdminDatabase(database) ? (user === config.general.admin_username ? 'admin' : 'forbidden') : null),
    userPassword: (database, user) =>
      isAdminDatabase(database)
        ? user === config.general.admin_username
          ? parseStoredPassword(config.general.admin_password!)
          : null
        : pools.userPassword(database, user),
    lookupUser: (database, user) => pools.lookupUser(database, user),
    passwordRejected: (database, user) => pools.passwordRejected(database, user),
    learnClientKey: (database, user, clientKey) => pools.learnClientKey(database, user, clientKey),
    forwardCancel: (processId, secretKey) => void cancels.forward(processId, secretKey),
    openSession: (login, report) => {
      if (isAdminDatabase(login.database)) return new AdminSession(login, report, commands, `${version}/gatehouse`);
      const entry = pools.entryFor(login.database, login.user);
      return new Session(login, report, {
        pool: entry.pool,
        mode: entry.mode,
        transaction: entry.transaction,
        cancels,
        pinned: (delta) => metrics.pinnedClients.inc({ pool: login.database }, delta),
        idleTransactionTimeoutMs: entry.idleTransactionTimeoutMs,
      });
    },
  };
}
