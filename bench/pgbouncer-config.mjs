// bench/pgbouncer-config.mjs — the PgBouncer that bench/setup.mjs writes for bench/run.sh: one directory per pool
// mode, owned by the OS user it runs as, with its own copy of the proxy certificate, the CA and an auth_file.
import fs from 'node:fs/promises';
import path from 'node:path';
import { chownTo } from '../dist/src/dev/os-user.js';

/** pgbouncer.ini: the same TLS on both hops as gatehouse, `poolSize` servers, `maxClients` clients at most. */
function pgbouncerIni({ dir, mode, port, pgPort, db, poolSize, maxClients }) {
  return `;; written by bench/setup.mjs
[databases]
${db} = host=127.0.0.1 port=${pgPort} dbname=${db}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
auth_type = scram-sha-256
auth_file = ${dir}/userlist.txt
pool_mode = ${mode}
default_pool_size = ${poolSize}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = ${maxClients}
server_idle_timeout = 600
query_wait_timeout = 120
ignore_startup_parameters = extra_float_digits
client_tls_sslmode = require
client_tls_cert_file = ${dir}/proxy-server.crt
client_tls_key_file = ${dir}/proxy-server.key
server_tls_sslmode = verify-full
server_tls_ca_file = ${dir}/ca.crt
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
stats_period = 60
`;
}

/** Writes WORK/pgbouncer-MODE/ and returns its path. `runAs`: the OS user PgBouncer runs as (null: ourselves). */
export async function writePgbouncer({ work, runAs, mode, port, pgPort, certDir, user, db, userlistSecret, poolSize, maxClients }) {
  const dir = path.join(work, `pgbouncer-${mode}`);
  await fs.mkdir(dir, { mode: 0o700 });
  for (const file of ['proxy-server.crt', 'proxy-server.key', 'ca.crt']) {
    await fs.copyFile(path.join(certDir, file), path.join(dir, file));
  }
  await fs.chmod(path.join(dir, 'proxy-server.key'), 0o600);
  await fs.writeFile(path.join(dir, 'pgbouncer.ini'), pgbouncerIni({ dir, mode, port, pgPort, db, poolSize, maxClients }));
  await fs.writeFile(path.join(dir, 'userlist.txt'), `"${user}" "${userlistSecret}"\n`, { mode: 0o600 });
  const owned = ['', 'proxy-server.crt', 'proxy-server.key', 'ca.crt', 'pgbouncer.ini', 'userlist.txt'];
  await chownTo(runAs, ...owned.map((f) => path.join(dir, f)));
  return dir;
}
