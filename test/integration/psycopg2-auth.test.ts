// Passthrough authentication and auth_query end to end with psycopg2, as a Python application logs in:
// PgDoorman's minimal configuration file unchanged (a SCRAM secret, no server_password), md5 passthrough, and
// auth_query in both modes. One cluster per flavor holds every role; two gatehouses serve it (the fixture file as
// it is, and one with the md5 and auth_query pools). psycopg2 cannot tell the SQLSTATE of a refused connection
// (pgcode is None then), so refusals are checked by its message and by the SQLSTATE gatehouse's journal says it sent.
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAVORS, startTestCluster, storedPassword, type Cluster } from '../fixtures/clusters.js';
import { clientSessionsDuring, startGatehouse, startGatehouseFromFile, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { psycopg2ConnectError, psycopg2Rows, psycopg2Session, type Psycopg2Connect } from '../fixtures/psycopg2.js';

const MINIMAL = fileURLToPath(new URL('../fixtures/pgdoorman/minimal.yaml', import.meta.url));
/** The fixture's user and database, and the password whose SCRAM secret the fixture holds. */
const APP = { name: 'app', password: 'doorman-readme-pass', database: 'mydb' };
const MD5_USER = { name: 'doorman_md5', password: 'doorman-md5-pass', database: 'md5db' };
const EXECUTOR = { name: 'doorman_auth', password: 'auth-exec-pass' };
const LOOKED_SCRAM = { name: 'looked_scram', password: 'looked-scram-pass' };
const LOOKED_MD5 = { name: 'looked_md5', password: 'looked-md5-pass' };
const OWNER = { name: 'pool_owner', password: 'pool-owner-pass' };
const LOOKUP_DATABASE = 'lookupdb';

async function fixtureSecret(): Promise<string> {
  const secret = /password: "(SCRAM-SHA-256\$[^"]+)"/.exec(await fs.readFile(MINIMAL, 'utf8'))?.[1];
  if (!secret) throw new Error('the fixture holds no SCRAM secret');
  return secret;
}

describe.each(FLAVORS)('passthrough authentication and auth_query with psycopg2 in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let doorman: RunningGatehouse;
  let gh: RunningGatehouse;

  const connect = (on: RunningGatehouse, dbname: string, user: string, password: string): Psycopg2Connect => ({
    host: on.host,
    port: on.port,
    dbname,
    user,
    password,
    sslmode: 'disable',
  });
  /** A refused login: psycopg2's message, and the SQLSTATE gatehouse sent (psycopg2's pgcode, if it has one, agrees). */
  const refused = async (on: RunningGatehouse, dbname: string, user: string, password: string) => {
    const { result, sessions } = await clientSessionsDuring(on, () => psycopg2ConnectError(connect(on, dbname, user, password)));
    const sqlstate = sessions.at(-1)?.failure?.sqlstate;
    expect([null, sqlstate]).toContain(result.pgcode);
    return { error: result.error, message: result.message.trim(), sqlstate };
  };
  const authFailed = (user: string) => ({
    error: 'OperationalError',
    message: expect.stringMatching(new RegExp(`FATAL: {2}password authentication failed for user "${user}"$`)),
    sqlstate: '28P01',
  });
  const currentUser = async (on: RunningGatehouse, dbname: string, user: string, password: string) =>
    (await psycopg2Rows(connect(on, dbname, user, password), ['SELECT current_user']))[0];

  beforeAll(async () => {
    pki = await createPki();
    const secret = await fixtureSecret();
    // The fixture's role gets the secret itself as its password, so pg_authid holds exactly what the file holds.
    cluster = await startTestCluster(flavor, pki, {
      ssl: 'off',
      hba: [`host all ${MD5_USER.name},${LOOKED_MD5.name} 127.0.0.1/32 md5`, 'host all all 127.0.0.1/32 scram-sha-256'],
      users: [
        { name: APP.name, password: secret },
        { ...MD5_USER, passwordEncryption: 'md5' },
        { ...EXECUTOR },
        { ...LOOKED_SCRAM },
        { ...LOOKED_MD5, passwordEncryption: 'md5' },
        { ...OWNER },
      ],
      databases: [
        { name: APP.database, owner: APP.name },
        { name: MD5_USER.database, owner: MD5_USER.name },
        { name: LOOKUP_DATABASE, owner: OWNER.name },
      ],
      settings: { log_connections: true },
    });
    // PgDoorman's recipe: a SECURITY DEFINER function over pg_shadow that only the executor may call.
    await cluster.query(
      `CREATE FUNCTION public.gatehouse_auth(name text) RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = name $$;
       REVOKE ALL ON FUNCTION public.gatehouse_auth(text) FROM PUBLIC;
       GRANT EXECUTE ON FUNCTION public.gatehouse_auth(text) TO ${EXECUTOR.name};`,
      LOOKUP_DATABASE,
    );
    doorman = await startGatehouseFromFile(MINIMAL, (config) => {
      config.pools.mydb.server_port = cluster.port;
    });
    const md5Hash = await storedPassword(cluster, MD5_USER.name);
    const backend = { server_host: '127.0.0.1', server_port: cluster.port, server_tls_mode: 'disable', pool_mode: 'transaction' };
    const authQuery = { query: 'SELECT usename, passwd FROM public.gatehouse_auth($1)', user: EXECUTOR.name, password: EXECUTOR.password };
    gh = await startGatehouse({
      pools: {
        [MD5_USER.database]: { ...backend, users: [{ username: MD5_USER.name, password: md5Hash, pool_size: 4 }] },
        passthrough: { ...backend, server_database: LOOKUP_DATABASE, users: [], auth_query: authQuery },
        dedicated: {
          ...backend,
          server_database: LOOKUP_DATABASE,
          users: [],
          auth_query: { ...authQuery, server_user: OWNER.name, server_password: OWNER.password },
        },
      },
    });
  });

  afterAll(async () => {
    await doorman?.stop();
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it("PgDoorman's minimal configuration, unchanged: psycopg2 logs in and queries; PostgreSQL saw a SCRAM login as app", async () => {
    const rows = await psycopg2Rows(connect(doorman, APP.database, APP.name, APP.password), [
      'SELECT current_user, current_database()',
      ['SELECT %s::int + 1, %s::text', [41, 'psycopg2']],
    ]);
    expect(rows).toEqual([[[APP.name, APP.database]], [[42, 'psycopg2']]]);
    const log = await fs.readFile(cluster.logFile, 'utf8');
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${APP.name}" method=scram-sha-256`));
  });

  it("PgDoorman's minimal configuration: three psycopg2 connections at once each run their transaction as app", async () => {
    const result = await psycopg2Session(connect(doorman, APP.database, APP.name, APP.password), ['SELECT current_user', 'SELECT count(*) FROM pg_class WHERE false'], 3);
    expect(result).toEqual({ ok: true, sessions: Array(3).fill({ ssl: false, rows: [[[APP.name]], [[0]]] }) });
  });

  it("PgDoorman's minimal configuration: a wrong password is refused with FATAL 28P01", async () => {
    expect(await refused(doorman, APP.database, APP.name, 'not-the-password')).toEqual(authFailed(APP.name));
  });

  it('md5 passthrough: psycopg2 logs in with the password whose hash the configuration holds; PostgreSQL saw an md5 login', async () => {
    expect(await currentUser(gh, MD5_USER.database, MD5_USER.name, MD5_USER.password)).toEqual([[MD5_USER.name]]);
    const log = await fs.readFile(cluster.logFile, 'utf8');
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${MD5_USER.name}" method=md5`));
    expect(await refused(gh, MD5_USER.database, MD5_USER.name, 'wrong')).toEqual(authFailed(MD5_USER.name));
  });

  it('auth_query passthrough mode: each looked-up user is current_user on its own backend, by SCRAM or md5 passthrough', async () => {
    expect(await currentUser(gh, 'passthrough', LOOKED_SCRAM.name, LOOKED_SCRAM.password)).toEqual([[LOOKED_SCRAM.name]]);
    expect(await currentUser(gh, 'passthrough', LOOKED_MD5.name, LOOKED_MD5.password)).toEqual([[LOOKED_MD5.name]]);
    const log = await fs.readFile(cluster.logFile, 'utf8');
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${LOOKED_SCRAM.name}" method=scram-sha-256`));
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${LOOKED_MD5.name}" method=md5`));
  });

  it("auth_query dedicated mode: looked-up users log in with their own passwords and query as server_user", async () => {
    expect(await currentUser(gh, 'dedicated', LOOKED_SCRAM.name, LOOKED_SCRAM.password)).toEqual([[OWNER.name]]);
    expect(await currentUser(gh, 'dedicated', LOOKED_MD5.name, LOOKED_MD5.password)).toEqual([[OWNER.name]]);
  });

  it.each(['passthrough', 'dedicated'])('auth_query %s mode: a wrong password and an unknown user both get FATAL 28P01, alike', async (dbname) => {
    expect(await refused(gh, dbname, LOOKED_SCRAM.name, 'wrong')).toEqual(authFailed(LOOKED_SCRAM.name));
    expect(await refused(gh, dbname, LOOKED_MD5.name, 'wrong')).toEqual(authFailed(LOOKED_MD5.name));
    expect(await refused(gh, dbname, 'nobody_at_all', 'wrong')).toEqual(authFailed('nobody_at_all'));
  });
});
