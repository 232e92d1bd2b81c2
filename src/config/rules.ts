import { serverTlsModesWhere } from '../../machines/server-tls-policy.js';
import { formatKeyPath, type KeySegment } from './key-path.js';
import { poolLimitRules } from './limit-rules.js';
import { peerRules } from './peer-rules.js';
import { isMap, type PathProblem, type PlainMap } from './prepare.js';
import { generalTlsRules, poolNegotiationRule } from './tls-rules.js';
import { ADMIN_DATABASES } from './types.js';

// Rules that involve more than one key. They read the prepared document directly (not the schema's output) so
// that they are reported together with type errors elsewhere in the file; a value of the wrong type counts as
// "set" here and is reported by the schema.

const isSet = (map: PlainMap, key: string): boolean => map[key] !== undefined;
const REQUIRES_CLIENT_CERT = ['require', 'verify-full'];
/** Modes that verify the server's chain, and so need server_tls_ca_cert (machines/server-tls-policy.ts). */
const VERIFIES_SERVER: readonly string[] = serverTlsModesWhere('verifiesChain');

function serverMode(map: PlainMap): string | undefined {
  const mode = map.server_tls_mode;
  return typeof mode === 'string' ? mode.toLowerCase() : undefined;
}

class Collector {
  readonly problems: PathProblem[] = [];
  private readonly required = new Set<string>();

  /** Reports a missing key once, however many rules ask for it. */
  require(path: KeySegment[], because: string): void {
    const key = formatKeyPath(path);
    if (this.required.has(key)) return;
    this.required.add(key);
    this.problems.push({ path, problem: `required when ${because}` });
  }

  add(path: KeySegment[], problem: string): void {
    this.problems.push({ path, problem });
  }
}

/** A certificate needs its key and a key needs its certificate. */
function pairRule(out: Collector, map: PlainMap, at: KeySegment[], certKey: string, keyKey: string): void {
  if (isSet(map, certKey) && !isSet(map, keyKey)) out.require([...at, keyKey], `${formatKeyPath([...at, certKey])} is set`);
  if (isSet(map, keyKey) && !isSet(map, certKey)) out.require([...at, certKey], `${formatKeyPath([...at, keyKey])} is set`);
}

function generalRules(out: Collector, general: PlainMap): void {
  const at = ['general'];
  pairRule(out, general, at, 'tls_certificate', 'tls_private_key');
  pairRule(out, general, at, 'server_tls_certificate', 'server_tls_private_key');

  const mode = general.tls_mode;
  if (typeof mode === 'string' && REQUIRES_CLIENT_CERT.includes(mode)) {
    for (const key of ['tls_certificate', 'tls_private_key']) {
      if (!isSet(general, key)) out.require([...at, key], `general.tls_mode is ${mode}`);
    }
  }
  if (mode === 'verify-full' && !isSet(general, 'tls_ca_cert')) out.require([...at, 'tls_ca_cert'], 'general.tls_mode is verify-full');

  const sMode = serverMode(general);
  if (sMode !== undefined && VERIFIES_SERVER.includes(sMode) && !isSet(general, 'server_tls_ca_cert')) {
    out.require([...at, 'server_tls_ca_cert'], `general.server_tls_mode is ${sMode}`);
  }
  generalTlsRules(general, (path, problem) => out.add(path, problem));
}

/** Pool settings override general ones field by field, so the rules look at the effective values. */
function poolTlsRules(out: Collector, name: string, pool: PlainMap, general: PlainMap): void {
  const at = ['pools', name];
  const origin = (key: string): KeySegment[] | null =>
    isSet(pool, key) ? [...at, key] : isSet(general, key) ? ['general', key] : null;

  if (isSet(pool, 'server_tls_certificate') || isSet(pool, 'server_tls_private_key')) {
    const cert = origin('server_tls_certificate');
    const key = origin('server_tls_private_key');
    if (cert && !key) out.require([...at, 'server_tls_private_key'], `${formatKeyPath(cert)} is set`);
    if (key && !cert) out.require([...at, 'server_tls_certificate'], `${formatKeyPath(key)} is set`);
  }
  const sMode = serverMode(pool);
  if (sMode !== undefined && VERIFIES_SERVER.includes(sMode) && origin('server_tls_ca_cert') === null) {
    out.require([...at, 'server_tls_ca_cert'], `${formatKeyPath([...at, 'server_tls_mode'])} is ${sMode}`);
  }
  poolNegotiationRule(name, pool, general, (path, problem) => out.add(path, problem));
}

function userRules(out: Collector, name: string, pool: PlainMap): void {
  const at = ['pools', name, 'users'];
  const users = pool.users;
  const authQuery = isMap(pool.auth_query) ? pool.auth_query : null;
  if (authQuery && isSet(authQuery, 'server_password') && !isSet(authQuery, 'server_user')) {
    out.require(['pools', name, 'auth_query', 'server_user'], `${formatKeyPath(['pools', name, 'auth_query', 'server_password'])} is set`);
  }
  if (users === undefined || (Array.isArray(users) && users.length === 0)) {
    // With auth_query the users are looked up in PostgreSQL; listed ones are optional (and win).
    if (!authQuery) out.add(at, 'at least one user is required (or pools.<name>.auth_query)');
    return;
  }
  if (!Array.isArray(users)) return;
  const firstIndex = new Map<string, number>();
  users.forEach((user, i) => {
    if (!isMap(user) || typeof user.username !== 'string') return;
    const earlier = firstIndex.get(user.username);
    if (earlier === undefined) firstIndex.set(user.username, i);
    else out.add([...at, i, 'username'], `duplicate username ${JSON.stringify(user.username)} (also ${formatKeyPath([...at, earlier])})`);
  });
}

export function crossFieldProblems(document: unknown): PathProblem[] {
  const out = new Collector();
  if (!isMap(document)) return out.problems;
  const general = isMap(document.general) ? document.general : {};
  generalRules(out, general);

  if (isSet(document, 'web') && isSet(document, 'prometheus')) {
    out.add(['prometheus'], 'cannot be used together with web (prometheus is the old name of web; keep one)');
  }

  peerRules(document, general, (path, problem) => out.add(path, problem));

  const pools = document.pools;
  if (pools === undefined) out.add(['pools'], 'required: at least one pool');
  else if (isMap(pools)) {
    const names = Object.keys(pools);
    if (names.length === 0) out.add(['pools'], 'at least one pool is required');
    for (const name of names) {
      const pool = pools[name];
      if (name === '' || name === '__proto__') {
        out.add(['pools', name], name === '' ? 'a pool name cannot be empty' : 'this name cannot be used for a pool');
        continue;
      }
      if (isSet(general, 'admin_password') && ADMIN_DATABASES.includes(name)) {
        out.add(['pools', name], `this name is the admin console's database (general.admin_password is set): rename the pool`);
        continue;
      }
      if (!isMap(pool)) continue;
      poolTlsRules(out, name, pool, general);
      userRules(out, name, pool);
      poolLimitRules(name, pool, (path, problem) => out.add(path, problem));
    }
  }
  return out.problems;
}
