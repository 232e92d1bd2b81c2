// How gatehouse logs in to PostgreSQL with server_username/server_password: SCRAM, MD5 and cleartext,
// whichever method pg_hba.conf asks for; a wrong server password reaches the client as a FATAL.
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectError } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psqlQuery } from '../fixtures/psql.js';

const SERVER_USERS = {
  'scram-sha-256': { name: 'scram_srv', password: 'scram-srv-pass', passwordEncryption: 'scram-sha-256' as const },
  md5: { name: 'md5_srv', password: 'md5-srv-pass', passwordEncryption: 'md5' as const },
  password: { name: 'clear_srv', password: 'clear-srv-pass', passwordEncryption: 'scram-sha-256' as const },
};
const CLIENT_PASSWORD = 'client-side-pass';
const METHODS = Object.keys(SERVER_USERS) as Array<keyof typeof SERVER_USERS>;

describe.each(FLAVORS)('gatehouse logging in to %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki, {
      hba: [
        `hostssl all ${SERVER_USERS.md5.name} 127.0.0.1/32 md5`,
        `hostssl all ${SERVER_USERS.password.name} 127.0.0.1/32 password`,
        'hostssl all all 127.0.0.1/32 scram-sha-256',
      ],
      users: Object.values(SERVER_USERS),
      databases: [{ name: APP_DATABASE }],
      settings: { log_connections: true },
    });
    gh = await startGatehouse({
      general: clientTls(pki),
      pools: {
        [APP_DATABASE]: poolFor(cluster, pki, {
          users: [
            ...METHODS.map((method) => ({
              username: `client_${SERVER_USERS[method].name}`,
              password: CLIENT_PASSWORD,
              server_username: SERVER_USERS[method].name,
              server_password: SERVER_USERS[method].password,
            })),
            { username: 'client_bad_server_password', password: CLIENT_PASSWORD, server_username: SERVER_USERS.md5.name, server_password: 'wrong' },
          ],
        }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it.each(METHODS)('a client gets a session when pg_hba.conf makes gatehouse log in with %s', async (method) => {
    const server = SERVER_USERS[method];
    const target = gatehouseConninfo(gh, { user: `client_${server.name}`, password: CLIENT_PASSWORD, sslmode: 'verify-full', sslrootcert: pki.caFile });
    const result = await psqlQuery(target, 'SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${server.name}|t\n`);
    // PostgreSQL 14+ logs the method that authenticated each connection.
    const log = await fs.readFile(cluster.logFile, 'utf8');
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${server.name}" method=${method} `));
  });

  it('a server password PostgreSQL rejects reaches the client as FATAL 28P01 naming the server login', async () => {
    const err = await connectError(gh, pki, { user: 'client_bad_server_password', password: CLIENT_PASSWORD });
    expect(err).toMatchObject({ code: '28P01', severity: 'FATAL' });
    expect(err.message).toMatch(/server login failed: password authentication failed for user "md5_srv"/);
  });
});
