#!/usr/bin/env node
// bench/setup.mjs — the long-lived half of bench/run.sh: throwaway certificates, a PostgreSQL cluster with TLS and
// SCRAM, and the configuration files of gatehouse and PgBouncer. It writes WORK/state.env (shell variables) once
// everything is ready, then holds the cluster until SIGTERM/SIGINT, or until its parent (run.sh) is gone, and stops
// it (copying the server log to --results first). Needs `npm run build` (imports ../dist/src/dev).
//
//   node bench/setup.mjs --work DIR --results DIR [--flavor system15|embedded18] [--pool-mode session|transaction]
//                        [--pool-size 20] [--pgbouncer-modes session,transaction] [--log-level warn] [--soak]
//                        [--max-clients 1000] [--pg-max-connections 200] [--workers 1,2]
// --max-clients: clients each proxy accepts (gatehouse's general.max_connections, PgBouncer's max_client_conn).
// --pg-max-connections: the cluster's max_connections. --workers: besides gatehouse.yaml (general.worker_threads
// left to its default), one WORK/gatehouse-wN.yaml per N with general.worker_threads: N, each on its own port.
// --soak: also WORK/gatehouse-soak.yaml for bench/soak.sh: two pools on database bench (soak_session in session
// pooling, soak_transaction in transaction pooling, --pool-size servers each), web.enabled for /metrics on its
// own port and general.admin_password for the admin console; state.env then has SOAK_* variables.
// Environment: BENCH_SECRETS=scram (default) or plain: what the proxies store to authenticate clients. scram: the
// SCRAM secret from pg_authid (PgBouncer's auth_file; gatehouse's `password`, with the plaintext as
// `server_password` for its own logins to PostgreSQL); plain: the password itself for both.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import {
  availableFlavors,
  createCertificateAuthority,
  freePort,
  startCluster,
  writeCertificateFiles,
} from '../dist/src/dev/index.js';
import { postgresOsUser } from '../dist/src/dev/os-user.js';
import { writePgbouncer } from './pgbouncer-config.mjs';

const BENCH_USER = 'bench';
const BENCH_DB = 'bench';
const PARENT_POLL_MS = 1000;

const { values: opts } = parseArgs({
  options: {
    work: { type: 'string' },
    results: { type: 'string' },
    flavor: { type: 'string' },
    'pool-mode': { type: 'string', default: 'session' },
    'pool-size': { type: 'string', default: '20' },
    'pgbouncer-modes': { type: 'string', default: '' },
    'log-level': { type: 'string', default: 'warn' },
    soak: { type: 'boolean', default: false },
    'max-clients': { type: 'string', default: '1000' },
    'pg-max-connections': { type: 'string', default: '200' },
    workers: { type: 'string', default: '' },
  },
});

function fail(message) {
  process.stderr.write(`setup.mjs: ${message}\n`);
  process.exit(2);
}

if (!opts.work || !opts.results) fail('--work DIR and --results DIR are required');
const work = path.resolve(opts.work);
const results = path.resolve(opts.results);
const flavor = opts.flavor ?? (availableFlavors().includes('system15') ? 'system15' : 'embedded18');
const poolMode = opts['pool-mode'];
const poolSize = Number(opts['pool-size']);
const maxClients = Number(opts['max-clients']);
const pgMaxConnections = Number(opts['pg-max-connections']);
const workerCounts = opts.workers.split(',').filter((w) => w !== '').map(Number);
const pgbModes = opts['pgbouncer-modes'].split(',').filter((m) => m !== '');
const secretsMode = process.env.BENCH_SECRETS ?? 'scram';
if (!['session', 'transaction'].includes(poolMode)) fail(`--pool-mode must be session or transaction, got ${poolMode}`);
for (const [name, n] of [['pool-size', poolSize], ['max-clients', maxClients], ['pg-max-connections', pgMaxConnections]]) {
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${opts[name]}`);
}
for (const w of workerCounts) if (!Number.isInteger(w) || w < 1 || w > 255) fail(`--workers: ${w} is not an integer 1..255`);
for (const m of pgbModes) if (!['session', 'transaction'].includes(m)) fail(`unknown PgBouncer pool mode ${m}`);
if (!['scram', 'plain'].includes(secretsMode)) fail(`BENCH_SECRETS must be scram or plain, got ${secretsMode}`);

let cluster;
let stopping;

function stop(reason) {
  stopping ??= (async () => {
    process.stderr.write(`setup.mjs: stopping the cluster (${reason})\n`);
    if (cluster) {
      await fs.copyFile(cluster.logFile, path.join(results, 'postgres.log')).catch(() => {});
      await cluster.stop();
    }
    process.exit(0);
  })();
  return stopping;
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGHUP', () => void stop('SIGHUP'));

/** PgBouncer and postgres refuse to run as root: files they read or write must belong to the user they run as. */
const runAs = postgresOsUser();

/** `NAME='value'` lines a shell can source; single quotes inside values are escaped. */
function shellAssignments(vars) {
  return Object.entries(vars)
    .map(([name, value]) => `${name}='${String(value).replace(/'/g, `'\\''`)}'\n`)
    .join('');
}

async function makeCertificates(certDir) {
  const ca = await createCertificateAuthority('gatehouse-bench-ca');
  const names = { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server' };
  const pgCert = await ca.issue(names);
  const proxyCert = await ca.issue(names);
  await writeCertificateFiles(certDir, 'ca', ca);
  await writeCertificateFiles(certDir, 'postgres-server', pgCert);
  const proxy = await writeCertificateFiles(certDir, 'proxy-server', proxyCert);
  return { ca, pgCert, proxy, caFile: path.join(certDir, 'ca.crt') };
}

const SOAK_POOLS = { soak_session: 'session', soak_transaction: 'transaction' };

/** gatehouse's YAML: one pool named after the database in --pool-mode, or with `soak` bench/soak.sh's two pools,
 *  the web listener and the admin console. */
function gatehouseConfig({ port, pgPort, password, scramSecret, proxy, caFile, soak, workers }) {
  const user =
    secretsMode === 'scram'
      ? { username: BENCH_USER, password: scramSecret, server_password: password, pool_size: poolSize }
      : { username: BENCH_USER, password, pool_size: poolSize };
  const pool = (mode) => ({ server_host: '127.0.0.1', server_port: pgPort, server_database: BENCH_DB, pool_mode: mode, users: [user] });
  const pools = soak
    ? Object.fromEntries(Object.entries(SOAK_POOLS).map(([name, mode]) => [name, pool(mode)]))
    : { [BENCH_DB]: pool(poolMode) };
  return stringify({
    general: {
      host: '127.0.0.1',
      port,
      tls_mode: 'require',
      tls_certificate: proxy.certFile,
      tls_private_key: proxy.keyFile,
      server_tls_mode: 'verify-full',
      server_tls_ca_cert: caFile,
      log_level: opts['log-level'],
      max_connections: maxClients,
      ...(workers === undefined ? {} : { worker_threads: workers }),
      ...(soak ? { admin_password: soak.adminPassword } : {}),
    },
    ...(soak ? { web: { enabled: true, host: '127.0.0.1', port: soak.webPort } } : {}),
    pools,
  });
}

async function main() {
  await fs.mkdir(work, { recursive: true });
  const certDir = path.join(work, 'certs');
  const certs = await makeCertificates(certDir);
  const password = `bench-${randomBytes(9).toString('hex')}`;

  cluster = await startCluster({
    flavor,
    baseDir: path.join(work, 'pg'),
    ssl: { certPem: certs.pgCert.certPem, keyPem: certs.pgCert.keyPem, caPem: certs.ca.certPem },
    hba: ['hostssl all all 127.0.0.1/32 scram-sha-256', 'hostnossl all all 127.0.0.1/32 reject'],
    users: [{ name: BENCH_USER, password }],
    databases: [{ name: BENCH_DB, owner: BENCH_USER }],
    settings: {
      max_connections: pgMaxConnections,
      shared_buffers: '256MB',
      password_encryption: 'scram-sha-256',
      ssl_min_protocol_version: 'TLSv1.2',
      log_min_messages: 'warning',
      log_connections: false,
      log_disconnections: false,
      log_checkpoints: false,
    },
  });
  const [[scramSecret]] = await cluster.query(`SELECT rolpassword FROM pg_authid WHERE rolname = '${BENCH_USER}'`);
  const postmasterPid = (await fs.readFile(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];

  const taken = new Set([cluster.port]);
  const pickPort = async () => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) return taken.add(port), port;
    }
  };

  const common = { pgPort: cluster.port, password, scramSecret, proxy: certs.proxy, caFile: certs.caFile };
  const gatehousePort = await pickPort();
  const gatehouseFile = path.join(work, 'gatehouse.yaml');
  await fs.writeFile(gatehouseFile, gatehouseConfig({ ...common, port: gatehousePort }), { mode: 0o600 });
  // The same configuration on its own port, for run.sh --baseline (another build of gatehouse measured beside this one).
  const baselinePort = await pickPort();
  const baselineFile = path.join(work, 'gatehouse-baseline.yaml');
  await fs.writeFile(baselineFile, gatehouseConfig({ ...common, port: baselinePort }), { mode: 0o600 });

  const state = {};
  for (const workers of workerCounts) {
    const port = await pickPort();
    const file = path.join(work, `gatehouse-w${workers}.yaml`);
    await fs.writeFile(file, gatehouseConfig({ ...common, port, workers }), { mode: 0o600 });
    state[`GATEHOUSE_W${workers}_CONFIG`] = file;
    state[`GATEHOUSE_W${workers}_PORT`] = port;
  }

  Object.assign(state, {
    WORK: work,
    FLAVOR: flavor,
    PG_VERSION: cluster.version,
    PG_PORT: cluster.port,
    PG_SOCKET_DIR: cluster.socketDir,
    PG_DATA_DIR: cluster.dataDir,
    PG_LOG: cluster.logFile,
    POSTMASTER_PID: postmasterPid,
    CERT_DIR: certDir,
    CA_FILE: certs.caFile,
    BENCH_USER,
    BENCH_DB,
    BENCH_PASSWORD: password,
    GATEHOUSE_CONFIG: gatehouseFile,
    GATEHOUSE_PORT: gatehousePort,
    BASELINE_CONFIG: baselineFile,
    BASELINE_PORT: baselinePort,
    POOL_MODE: poolMode,
    POOL_SIZE: poolSize,
    SECRETS_MODE: secretsMode,
    RUN_AS: runAs?.name ?? '',
    PGB_MODES: pgbModes.join(' '),
    GATEHOUSE_WORKERS: workerCounts.join(' '),
  });
  for (const mode of pgbModes) {
    const port = await pickPort();
    const userlistSecret = secretsMode === 'plain' ? password : scramSecret;
    const dir = await writePgbouncer({
      ...{ work, runAs, mode, port, pgPort: cluster.port, certDir, user: BENCH_USER, db: BENCH_DB },
      ...{ userlistSecret, poolSize, maxClients },
    });
    state[`PGB_${mode.toUpperCase()}_PORT`] = port;
    state[`PGB_${mode.toUpperCase()}_DIR`] = dir;
  }

  if (opts.soak) {
    const soak = { webPort: await pickPort(), adminPassword: `admin-${randomBytes(9).toString('hex')}` };
    const soakFile = path.join(work, 'gatehouse-soak.yaml');
    const soakPort = await pickPort();
    await fs.writeFile(soakFile, gatehouseConfig({ ...common, port: soakPort, soak }), { mode: 0o600 });
    Object.assign(state, {
      SOAK_CONFIG: soakFile,
      SOAK_PORT: soakPort,
      SOAK_WEB_PORT: soak.webPort,
      SOAK_ADMIN_PASSWORD: soak.adminPassword,
      SOAK_SESSION_DB: 'soak_session',
      SOAK_TRANSACTION_DB: 'soak_transaction',
    });
  }

  const stateFile = path.join(work, 'state.env');
  await fs.writeFile(`${stateFile}.tmp`, shellAssignments(state), { mode: 0o600 });
  await fs.rename(`${stateFile}.tmp`, stateFile);
  process.stderr.write(`setup.mjs: PostgreSQL ${cluster.version} (${flavor}) on 127.0.0.1:${cluster.port}; ready\n`);

  // Stay alive (the postmaster child is unref'ed) and leave with run.sh even if it is killed without its trap.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop(`parent process ${parent} is gone`);
  }, PARENT_POLL_MS);
}

main().catch(async (err) => {
  process.stderr.write(`setup.mjs: ${err.stack ?? err}\n`);
  if (cluster) await cluster.stop().catch(() => {});
  process.exit(1);
});
