/**
 * pg_hba rules: the parser (PostgreSQL's pg_hba.conf syntax, the parts gatehouse carries out) and the matcher that
 * turns a connection's facts into a verdict for the client-session machine. Pure apart from node:net's address
 * parsing; matching decides nothing: the machine's guards read the verdict.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { HbaMethod, HbaVerdict } from '../../machines/client-session.types.js';

export type HbaConnectionType = 'local' | 'host' | 'hostssl' | 'hostnossl' | 'hostgssenc' | 'hostnogssenc';

/** One entry of a database or user list: a keyword, or a name (a quoted keyword is a name). */
export type HbaName = { kind: 'all' } | { kind: 'sameuser' } | { kind: 'replication' } | { kind: 'name'; name: string };

export type HbaAddress = { kind: 'all' } | { kind: 'cidr'; family: 'ipv4' | 'ipv6'; network: string; prefix: number };

export interface HbaRule {
  /** 1-based line in its source; where a rule continues over several lines, the first. */
  line: number;
  /** The rule as written, comments and extra spaces removed: what the journal shows. */
  text: string;
  type: HbaConnectionType;
  databases: HbaName[];
  users: HbaName[];
  /** null for `local` rules. */
  address: HbaAddress | null;
  method: HbaMethod;
}

export interface HbaRuleSet {
  /** Where the rules come from: a file's absolute path, or the key path of inline rules (`general.pg_hba`). */
  source: string;
  rules: HbaRule[];
}

export interface HbaProblem {
  line: number;
  problem: string;
}

/** The facts a connection is matched on: what the driver knows when the startup packet arrives. */
export interface HbaFacts {
  /** Came through the Unix-domain socket. */
  local: boolean;
  /** The peer's IP address (ignored when local). */
  address: string;
  tls: boolean;
  user: string;
  database: string;
}

const TYPES: readonly HbaConnectionType[] = ['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc'];
const METHODS: readonly HbaMethod[] = ['trust', 'reject', 'md5', 'scram-sha-256', 'cert'];
const UNSUPPORTED_METHODS: Readonly<Record<string, string>> = {
  password: 'gatehouse never asks for a cleartext password: use scram-sha-256',
  peer: 'gatehouse cannot read the peer credentials of a Unix-socket client: use trust, scram-sha-256 or md5 on local lines',
  ident: 'ident is not supported: use scram-sha-256 or cert',
  gss: 'GSSAPI is not supported',
  sspi: 'SSPI is not supported',
  ldap: 'LDAP is not supported',
  radius: 'RADIUS is not supported',
  pam: 'PAM is not supported',
  bsd: 'BSD authentication is not supported',
};

interface Token {
  value: string;
  quoted: boolean;
}

class LineError extends Error {}

/** PostgreSQL's tokenizer: whitespace separates fields, commas join list items, "…" quotes, # starts a comment. */
function tokenize(line: string): Token[][] {
  const fields: Token[][] = [];
  let continuing = false;
  let i = 0;
  const space = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r';
  for (;;) {
    while (space(line[i])) i++;
    if (i >= line.length || line[i] === '#') break;
    let token: Token;
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new LineError('unterminated quoted string');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i++];
      }
      token = { value, quoted: true };
    } else {
      const start = i;
      while (i < line.length && !space(line[i]) && line[i] !== ',' && line[i] !== '#' && line[i] !== '"') i++;
      token = { value: line.slice(start, i), quoted: false };
      if (line[i] === '"') throw new LineError(`a quote inside ${JSON.stringify(token.value + '"')}: quote the whole name`);
    }
    if (continuing) fields[fields.length - 1].push(token);
    else fields.push([token]);
    while (space(line[i])) i++;
    continuing = line[i] === ',';
    if (continuing) {
      i++;
      while (space(line[i])) i++;
      if (i >= line.length || line[i] === '#') throw new LineError('a list ends with a comma');
    }
  }
  return fields;
}

function single(field: Token[] | undefined, what: string): Token {
  if (!field) throw new LineError(`missing ${what}`);
  if (field.length !== 1) throw new LineError(`the ${what} cannot be a list`);
  return field[0];
}

function names(field: Token[] | undefined, what: 'database' | 'user'): HbaName[] {
  if (!field) throw new LineError(`missing ${what} name`);
  return field.map((token): HbaName => {
    if (token.quoted) return { kind: 'name', name: token.value };
    const v = token.value;
    if (v === 'all') return { kind: 'all' };
    if (what === 'database' && v === 'sameuser') return { kind: 'sameuser' };
    if (what === 'database' && v === 'replication') return { kind: 'replication' };
    if (what === 'database' && (v === 'samerole' || v === 'samegroup')) {
      throw new LineError(`${v} is not supported: gatehouse does not know role memberships`);
    }
    if (v.startsWith('+')) throw new LineError(`group names (${v}) are not supported: gatehouse does not know role memberships`);
    if (v.startsWith('@')) throw new LineError(`included name files (${v}) are not supported: list the names`);
    if (v.startsWith('/')) throw new LineError(`regular expressions (${v}) are not supported: list the names`);
    return { kind: 'name', name: v };
  });
}

function prefixOf(mask: string): number {
  const family = isIPv4(mask) ? 'ipv4' : isIPv6(mask) ? 'ipv6' : null;
  if (!family) throw new LineError(`invalid IP mask ${JSON.stringify(mask)}`);
  const bits = family === 'ipv4' ? ipv4Bits(mask) : ipv6Bits(mask);
  const prefix = bits.indexOf('0') === -1 ? bits.length : bits.indexOf('0');
  if (bits.slice(prefix).includes('1')) throw new LineError(`invalid IP mask ${JSON.stringify(mask)}: its bits are not contiguous`);
  return prefix;
}

function ipv4Bits(ip: string): string {
  return ip
    .split('.')
    .map((p) => Number(p).toString(2).padStart(8, '0'))
    .join('');
}

function ipv6Bits(ip: string): string {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

/** The address field (and the netmask field after it, if the address has no /prefix); returns the fields used. */
function address(fields: Token[][], at: number): { address: HbaAddress; used: number } {
  const token = single(fields[at], 'IP address');
  const v = token.value;
  if (!token.quoted && v === 'all') return { address: { kind: 'all' }, used: 1 };
  if (!token.quoted && (v === 'samehost' || v === 'samenet')) {
    throw new LineError(`${v} is not supported: write the addresses with CIDR masks`);
  }
  const slash = v.indexOf('/');
  const ip = slash === -1 ? v : v.slice(0, slash);
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
  if (!family) {
    throw new LineError(`host names are not supported (${JSON.stringify(v)}): gatehouse matches IP addresses, like 10.0.0.0/8`);
  }
  const max = family === 'ipv4' ? 32 : 128;
  if (slash !== -1) {
    const text = v.slice(slash + 1);
    if (!/^\d{1,3}$/.test(text) || Number(text) > max) throw new LineError(`invalid CIDR mask in address ${JSON.stringify(v)}`);
    return { address: { kind: 'cidr', family, network: ip, prefix: Number(text) }, used: 1 };
  }
  const mask = fields[at + 1]?.[0];
  if (!mask || METHODS.includes(mask.value as HbaMethod) || Object.hasOwn(UNSUPPORTED_METHODS, mask.value)) {
    throw new LineError(`the address ${JSON.stringify(v)} needs a CIDR mask (${v}/${max}) or a netmask field`);
  }
  const prefix = prefixOf(single(fields[at + 1], 'netmask').value);
  if ((isIPv4(mask.value) ? 'ipv4' : 'ipv6') !== family) throw new LineError('the IP address and the mask do not match');
  return { address: { kind: 'cidr', family, network: ip, prefix }, used: 2 };
}

function method(field: Token[] | undefined): HbaMethod {
  const token = single(field, 'authentication method');
  if (!token.quoted && METHODS.includes(token.value as HbaMethod)) return token.value as HbaMethod;
  const why = UNSUPPORTED_METHODS[token.value];
  throw new LineError(why ? `authentication method "${token.value}" is not supported: ${why}` : `invalid authentication method ${JSON.stringify(token.value)}`);
}

function parseRule(fields: Token[][], line: number, text: string): HbaRule {
  const typeToken = single(fields[0], 'connection type');
  const type = typeToken.value as HbaConnectionType;
  if (typeToken.quoted || !TYPES.includes(type)) {
    if (/^include/.test(typeToken.value)) throw new LineError(`${typeToken.value} is not supported: put the rules in this file`);
    throw new LineError(`invalid connection type ${JSON.stringify(typeToken.value)} (expected ${TYPES.join(', ')})`);
  }
  const databases = names(fields[1], 'database');
  const users = names(fields[2], 'user');
  let at = 3;
  let addr: HbaAddress | null = null;
  if (type !== 'local') {
    const a = address(fields, at);
    addr = a.address;
    at += a.used;
  }
  const m = method(fields[at]);
  if (fields.length > at + 1) {
    throw new LineError(`options after the method are not supported (${fields.slice(at + 1).flat().map((t) => t.value).join(' ')})`);
  }
  if (m === 'cert' && type !== 'hostssl') throw new LineError('cert authentication is only supported on hostssl connections');
  return { line, text, type, databases, users, address: addr, method: m };
}

/** Parses pg_hba.conf text; every bad line is reported with its number, and no rule is dropped silently. */
export function parseHba(text: string): { rules: HbaRule[]; problems: HbaProblem[] } {
  const rules: HbaRule[] = [];
  const problems: HbaProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let raw = lines[i];
    // A backslash at the end of a line continues the rule on the next one (PostgreSQL 16).
    while (raw.endsWith('\\') && i + 1 < lines.length) raw = raw.slice(0, -1) + ' ' + lines[++i];
    try {
      const fields = tokenize(raw);
      if (fields.length === 0) continue;
      const shown = raw.replace(/#.*$/, '').trim().replace(/\s+/g, ' ');
      rules.push(parseRule(fields, first, shown));
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      problems.push({ line: first, problem: err.message });
    }
  }
  return { rules, problems };
}

/**
 * PgDoorman's legacy `general.hba`: a list of CIDRs allowed in, with their usual password. Unix-socket clients are
 * always allowed. As rules: a `local all all md5` rule, then one `host all all <cidr> md5` rule per entry (md5 as
 * PostgreSQL means it: SCRAM for a user whose password is a SCRAM secret).
 */
export function hbaFromAddressList(list: string[]): { rules: HbaRule[]; problems: Array<{ index: number; problem: string }> } {
  const rules: HbaRule[] = [
    { line: 0, text: 'local all all md5', type: 'local', databases: [{ kind: 'all' }], users: [{ kind: 'all' }], address: null, method: 'md5' },
  ];
  const problems: Array<{ index: number; problem: string }> = [];
  list.forEach((entry, index) => {
    const slash = entry.indexOf('/');
    const ip = entry.slice(0, slash === -1 ? undefined : slash);
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : null;
    const prefix = Number(entry.slice(slash + 1));
    const text = entry.slice(slash + 1);
    if (slash === -1 || !family || !/^\d{1,3}$/.test(text) || prefix > (family === 'ipv4' ? 32 : 128)) {
      problems.push({ index, problem: `expected an address with a CIDR mask like 10.0.0.0/8 (got ${JSON.stringify(entry)})` });
      return;
    }
    rules.push({
      line: index + 1,
      text: `host all all ${entry} md5`,
      type: 'host',
      databases: [{ kind: 'all' }],
      users: [{ kind: 'all' }],
      address: { kind: 'cidr', family, network: ip, prefix },
      method: 'md5',
    });
  });
  return { rules, problems };
}

function typeMatches(type: HbaConnectionType, facts: HbaFacts): boolean {
  switch (type) {
    case 'local':
      return facts.local;
    case 'host':
    case 'hostnogssenc':
      return !facts.local;
    case 'hostssl':
      return !facts.local && facts.tls;
    case 'hostnossl':
      return !facts.local && !facts.tls;
    case 'hostgssenc':
      // gatehouse never negotiates GSSAPI encryption.
      return false;
  }
}

function nameMatches(list: HbaName[], value: string, user: string): boolean {
  return list.some((n) => {
    switch (n.kind) {
      case 'all':
        return true;
      case 'sameuser':
        return value === user;
      case 'replication':
        // Replication connections are not something gatehouse proxies; `replication` matches none of its clients.
        return false;
      case 'name':
        return n.name === value;
    }
  });
}

/** An IPv4 client on a dual-stack listener shows as ::ffff:a.b.c.d; IPv4 rules match it, as in PostgreSQL. */
function clientAddress(address: string): { family: 'ipv4' | 'ipv6'; ip: string } | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { family: 'ipv4', ip: mapped[1] };
  if (isIPv4(address)) return { family: 'ipv4', ip: address };
  if (isIPv6(address)) return { family: 'ipv6', ip: address };
  return null;
}

/**
 * The matcher for a rule set, built once (null: no rules configured). First match wins; no match is a verdict too.
 */
export function compileHba(set: HbaRuleSet | null): (facts: HbaFacts) => HbaVerdict {
  if (set === null) return () => ({ kind: 'unconfigured' });
  const compiled = set.rules.map((rule) => {
    let inRange: (a: { family: 'ipv4' | 'ipv6'; ip: string }) => boolean = () => true;
    if (rule.address?.kind === 'cidr') {
      const { family, network, prefix } = rule.address;
      const block = new BlockList();
      block.addSubnet(network, prefix, family);
      inRange = (a) => a.family === family && block.check(a.ip, family);
    }
    return { rule, inRange };
  });
  return (facts) => {
    const peer = facts.local ? null : clientAddress(facts.address);
    for (const { rule, inRange } of compiled) {
      if (!typeMatches(rule.type, facts)) continue;
      if (!nameMatches(rule.databases, facts.database, facts.user)) continue;
      if (!nameMatches(rule.users, facts.user, facts.user)) continue;
      if (rule.address !== null && (peer === null || !inRange(peer))) continue;
      return { kind: 'match', source: set.source, line: rule.line, text: rule.text, method: rule.method };
    }
    return { kind: 'no-match' };
  };
}
