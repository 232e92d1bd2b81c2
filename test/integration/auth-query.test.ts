// auth_query end to end: users nobody listed are looked up in PostgreSQL, in PgDoorman's two modes (passthrough:
// each user logs in to PostgreSQL as itself from the hash the query returned; dedicated: one shared server_user),
// wrong passwords and unknown users get the same 28P01, a lookup PostgreSQL cannot answer gets FATAL 58000 at once,
// the cache remembers and forgets as its TTLs say, and a startup_parameters column sets the user's backend settings.
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/index.js';
import { APP_DATABASE, FLAVORS, startTestCluster, type Cluster } from '../fixtures/clusters.js';
import { connectError } from '../fixtures/clients.js';
import { clientTls, poolFor, startGatehouse, type RunningGatehouse } from '../fixtures/gatehouse.js';
import { createPki, type Pki } from '../fixtures/pki.js';
import { gatehouseConninfo, psqlQuery } from '../fixtures/psql.js';

const EXECUTOR = { name: 'doorman_auth', password: 'auth-exec-pass' };
const SCRAM_USER = { name: 'looked_scram', password: 'looked-scram-pass' };
const MD5_USER = { name: 'looked_md5', password: 'looked-md5-pass' };
const OWNER = { name: 'pool_owner', password: 'pool-owner-pass' };
const QUERY = 'SELECT usename, passwd FROM public.gatehouse_auth($1)';

describe.each(FLAVORS)('auth_query in front of %s', (flavor) => {
  let pki: Pki;
  let cluster: Cluster;
  let gh: RunningGatehouse;
  const target = (dbname: string, user: string, password: string) =>
    gatehouseConninfo(gh, { dbname, user, password, sslmode: 'verify-full', sslrootcert: pki.caFile });
  const whoami = async (dbname: string, user: string, password: string) => {
    const result = await psqlQuery(target(dbname, user, password), 'SELECT current_user');
    return { code: result.code, out: result.stdout.trim(), err: result.stderr };
  };

  beforeAll(async () => {
    pki = await createPki();
    cluster = await startTestCluster(flavor, pki, {
      hba: [`hostssl all ${MD5_USER.name} 127.0.0.1/32 md5`, 'hostssl all all 127.0.0.1/32 scram-sha-256'],
      users: [
        { ...EXECUTOR },
        { ...SCRAM_USER },
        { ...MD5_USER, passwordEncryption: 'md5' },
        { ...OWNER },
      ],
      databases: [{ name: APP_DATABASE, owner: OWNER.name }],
      settings: { log_connections: true },
    });
    // PgDoorman's recipe: a SECURITY DEFINER function over pg_shadow that only the executor may call.
    await cluster.query(
      `CREATE FUNCTION public.gatehouse_auth(name text) RETURNS TABLE (usename name, passwd text) LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = name $$;
       REVOKE ALL ON FUNCTION public.gatehouse_auth(text) FROM PUBLIC;
       GRANT EXECUTE ON FUNCTION public.gatehouse_auth(text) TO ${EXECUTOR.name};
       CREATE TABLE public.user_settings (usename name PRIMARY KEY, settings jsonb);
       INSERT INTO public.user_settings VALUES ('${SCRAM_USER.name}', '{"work_mem": "7MB", "statement_timeout": "4s"}'),
                                               ('${OWNER.name}', '{"no_such_setting": "1"}');
       CREATE FUNCTION public.gatehouse_auth_settings(name text) RETURNS TABLE (usename name, passwd text, startup_parameters jsonb)
         LANGUAGE sql SECURITY DEFINER
         AS $$ SELECT s.usename, s.passwd, u.settings FROM pg_catalog.pg_shadow s LEFT JOIN public.user_settings u USING (usename) WHERE s.usename = name $$;
       REVOKE ALL ON FUNCTION public.gatehouse_auth_settings(text) FROM PUBLIC;
       GRANT EXECUTE ON FUNCTION public.gatehouse_auth_settings(text) TO ${EXECUTOR.name};`,
      APP_DATABASE,
    );
    const authQuery = { query: QUERY, user: EXECUTOR.name, password: EXECUTOR.password, cache_failure_ttl: '1s', min_interval: '0ms' };
    gh = await startGatehouse({
      logLevel: 'debug',
      general: { ...clientTls(pki), connect_timeout: 1000 },
      pools: {
        passthrough: poolFor(cluster, pki, { server_database: APP_DATABASE, users: [], auth_query: authQuery }),
        dedicated: poolFor(cluster, pki, {
          server_database: APP_DATABASE,
          users: [],
          auth_query: { ...authQuery, server_user: OWNER.name, server_password: OWNER.password },
        }),
        down: { server_port: await freePort(), server_tls_mode: 'disable', users: [], auth_query: authQuery },
        settings: poolFor(cluster, pki, {
          server_database: APP_DATABASE,
          users: [],
          auth_query: { ...authQuery, query: 'SELECT * FROM public.gatehouse_auth_settings($1)' },
        }),
      },
    });
  });

  afterAll(async () => {
    await gh?.stop();
    await cluster?.stop();
    await pki?.remove();
  });

  it('passthrough mode: each looked-up user logs in to PostgreSQL as itself, by SCRAM or md5 passthrough', async () => {
    expect(await whoami('passthrough', SCRAM_USER.name, SCRAM_USER.password)).toEqual({ code: 0, out: SCRAM_USER.name, err: '' });
    expect(await whoami('passthrough', MD5_USER.name, MD5_USER.password)).toEqual({ code: 0, out: MD5_USER.name, err: '' });
    const log = await fs.readFile(cluster.logFile, 'utf8');
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${SCRAM_USER.name}" method=scram-sha-256`));
    expect(log).toMatch(new RegExp(`connection authenticated: identity="${MD5_USER.name}" method=md5`));
  });

  it('dedicated mode: looked-up users share server_user\'s connections', async () => {
    expect(await whoami('dedicated', SCRAM_USER.name, SCRAM_USER.password)).toEqual({ code: 0, out: OWNER.name, err: '' });
    expect(await whoami('dedicated', MD5_USER.name, MD5_USER.password)).toEqual({ code: 0, out: OWNER.name, err: '' });
  });

  it.each(['passthrough', 'dedicated'])('%s mode: a wrong password and an unknown user both get FATAL 28P01, alike', async (dbname) => {
    const wrong = await connectError(gh, pki, { database: dbname, user: SCRAM_USER.name, password: 'wrong' });
    const unknown = await connectError(gh, pki, { database: dbname, user: 'nobody_at_all', password: 'wrong' });
    expect(wrong).toMatchObject({ code: '28P01', severity: 'FATAL', message: `password authentication failed for user "${SCRAM_USER.name}"` });
    expect(unknown).toMatchObject({ code: '28P01', severity: 'FATAL', message: 'password authentication failed for user "nobody_at_all"' });
  });

  it("passthrough mode: a startup_parameters column sets the looked-up user's backend settings; the client's own win", async () => {
    const settings = async (user: string, password: string, extra: Record<string, string> = {}) => {
      const conn = gatehouseConninfo(gh, { dbname: 'settings', user, password, sslmode: 'verify-full', sslrootcert: pki.caFile, ...extra });
      const result = await psqlQuery(conn, "SELECT current_user, current_setting('work_mem'), current_setting('statement_timeout')");
      return { out: result.stdout.trim(), err: result.stderr };
    };
    expect(await settings(SCRAM_USER.name, SCRAM_USER.password)).toEqual({ out: `${SCRAM_USER.name}|7MB|4s`, err: '' });
    expect(await settings(SCRAM_USER.name, SCRAM_USER.password, { options: '-c work_mem=2MB' })).toEqual({ out: `${SCRAM_USER.name}|2MB|4s`, err: '' });
    // No row in user_settings: the column is NULL, and the backend has PostgreSQL's defaults.
    expect(await settings(MD5_USER.name, MD5_USER.password)).toEqual({ out: `${MD5_USER.name}|4MB|0`, err: '' });
    // A setting PostgreSQL does not know fails the backend login, and the client hears PostgreSQL's reason.
    expect((await settings(OWNER.name, OWNER.password)).err).toMatch(/FATAL: {2}.*unrecognized configuration parameter "no_such_setting"/);
  });

  it('a lookup PostgreSQL cannot answer gets FATAL 58000 promptly, and the log says why', async () => {
    const started = Date.now();
    const err = await connectError(gh, pki, { database: 'down', user: SCRAM_USER.name, password: SCRAM_USER.password });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toMatchObject({ code: '58000', severity: 'FATAL', message: 'Authentication service unavailable. Please try again later.' });
    const line = gh.logs.find((l) => String(l.msg).startsWith('auth_query lookup failed'));
    expect(String(line?.detail)).toMatch(/auth_query of pool "down": cannot connect as "doorman_auth" to database "down"/);
  });

  it('a user created after a failed lookup is refused until cache_failure_ttl passes, then let in', async () => {
    const late = { name: 'late_user', password: 'late-pass' };
    expect((await whoami('passthrough', late.name, late.password)).err).toContain(`password authentication failed for user "${late.name}"`);
    await cluster.query(`CREATE ROLE ${late.name} LOGIN PASSWORD '${late.password}'`);
    expect((await whoami('passthrough', late.name, late.password)).err, 'still remembered as unknown').toContain('password authentication failed');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await whoami('passthrough', late.name, late.password)).toEqual({ code: 0, out: late.name, err: '' });
  });

  it('a password changed in PostgreSQL works after one refused login, which drops the cached hash (min_interval 0)', async () => {
    expect((await whoami('passthrough', MD5_USER.name, MD5_USER.password)).code).toBe(0);
    await cluster.query(`SET password_encryption = 'md5'; ALTER ROLE ${MD5_USER.name} PASSWORD 'changed-pass'`);
    expect((await whoami('passthrough', MD5_USER.name, 'changed-pass')).err, 'the cached hash is the old one').toContain('password authentication failed');
    expect(await whoami('passthrough', MD5_USER.name, 'changed-pass')).toEqual({ code: 0, out: MD5_USER.name, err: '' });
    expect((await whoami('passthrough', MD5_USER.name, MD5_USER.password)).code, 'the old password no longer works').toBe(2);
  });

  it('the journal says the user was looked up; no log line holds a looked-up hash or password', async () => {
    const events = gh.gateway.journals.endedRecords().flatMap((r) => r.entries.map((e) => e.event));
    expect(events).toContainEqual({ type: 'user.found', password: 'scram-sha-256' });
    expect(events).toContainEqual({ type: 'user.found', password: 'md5' });
    expect(events).toContainEqual({ type: 'user.found', password: null });
    const hashes = (await cluster.query(`SELECT passwd FROM pg_shadow WHERE usename IN ('${SCRAM_USER.name}', '${MD5_USER.name}')`)).map((r) => r[0]);
    const logs = JSON.stringify(gh.logs);
    for (const secret of [...hashes, SCRAM_USER.password, MD5_USER.password, EXECUTOR.password]) expect(logs).not.toContain(secret);
  });
});
