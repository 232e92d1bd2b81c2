// pg_hba rules: what the parser accepts and refuses (with line numbers), how the matcher picks the first rule that
// fits a connection, and how general.pg_hba and the legacy general.hba list load from the configuration file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { configWarnings, parseConfig } from '../../../src/config/index.js';
import { compileHba, parseHba, type HbaFacts } from '../../../src/config/hba.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const facts = (over: Partial<HbaFacts> = {}): HbaFacts => ({ local: false, address: '127.0.0.1', tls: false, user: 'alice', database: 'app', ...over });

function matcher(text: string) {
  const { rules, problems } = parseHba(text);
  expect(problems).toEqual([]);
  return compileHba({ source: 'hba.conf', rules });
}

/** The line of the rule that decides, or 'none'. */
function lineFor(text: string, f: HbaFacts): number | 'none' {
  const verdict = matcher(text)(f);
  return verdict.kind === 'match' ? verdict.line : 'none';
}

describe('parsing pg_hba.conf text', () => {
  test('reads PostgreSQL syntax: comments, quotes, lists, netmasks, IPv6 and continued lines', () => {
    const { rules, problems } = parseHba(`# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all                      trust   # admin over the socket

host    "all",app2 alice, "bob smith" 10.0.0.0/8 scram-sha-256
hostssl sameuser  all   192.168.1.0 255.255.255.0  md5
hostnossl all     all   ::1/128      reject
hostssl app all \\
        all cert
`);
    expect(problems).toEqual([]);
    expect(rules.map((r) => [r.line, r.type, r.method])).toEqual([
      [2, 'local', 'trust'],
      [4, 'host', 'scram-sha-256'],
      [5, 'hostssl', 'md5'],
      [6, 'hostnossl', 'reject'],
      [7, 'hostssl', 'cert'],
    ]);
    expect(rules[1].databases).toEqual([{ kind: 'name', name: 'all' }, { kind: 'name', name: 'app2' }]);
    expect(rules[1].users).toEqual([{ kind: 'name', name: 'alice' }, { kind: 'name', name: 'bob smith' }]);
    expect(rules[2].address).toEqual({ kind: 'cidr', family: 'ipv4', network: '192.168.1.0', prefix: 24 });
    expect(rules[2].databases).toEqual([{ kind: 'sameuser' }]);
    expect(rules[3].address).toEqual({ kind: 'cidr', family: 'ipv6', network: '::1', prefix: 128 });
    expect(rules[4].address).toEqual({ kind: 'all' });
    expect(rules[1].text).toBe('host "all",app2 alice, "bob smith" 10.0.0.0/8 scram-sha-256');
  });

  test.each([
    ['host all all 10.0.0.1 trust', /the address "10.0.0.1" needs a CIDR mask \(10.0.0.1\/32\)/],
    ['host all all db.example.com trust', /host names are not supported/],
    ['host all all 10.0.0.0/33 trust', /invalid CIDR mask/],
    ['host all all 10.0.0.0 255.0.255.0 trust', /not contiguous/],
    ['host all all 0.0.0.0/0 password', /"password" is not supported: gatehouse never asks for a cleartext password/],
    ['local all all peer', /"peer" is not supported/],
    ['host all all 0.0.0.0/0 sha1', /invalid authentication method "sha1"/],
    ['host all all 0.0.0.0/0 md5 clientcert=verify-full', /options after the method are not supported \(clientcert=verify-full\)/],
    ['host all all 0.0.0.0/0 cert', /cert authentication is only supported on hostssl connections/],
    ['hostx all all 0.0.0.0/0 trust', /invalid connection type "hostx"/],
    ['include other.conf', /include is not supported/],
    ['host all +admins 0.0.0.0/0 trust', /group names \(\+admins\) are not supported/],
    ['host @dbs all 0.0.0.0/0 trust', /included name files/],
    ['host samerole all 0.0.0.0/0 trust', /samerole is not supported/],
    ['host all all samenet trust', /samenet is not supported/],
    ['host "app all 0.0.0.0/0 trust', /unterminated quoted string/],
    ['host app,', /a list ends with a comma/],
    ['host all all', /missing IP address/],
    ['local all all', /missing authentication method/],
  ])('refuses %j, naming the line', (line, problem) => {
    const { rules, problems } = parseHba(`# line 1\n${line}\nlocal all all trust\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0].line).toBe(2);
    expect(problems[0].problem).toMatch(problem);
    // The bad line is not dropped silently: the file as a whole is refused by the configuration.
    expect(rules.map((r) => r.line)).toEqual([3]);
  });
});

describe('matching a connection', () => {
  const RULES = `hostssl all   all   127.0.0.1/32 cert
hostnossl all all    127.0.0.1/32 md5
local   all   all                 trust
host    sameuser all 10.0.0.0/8   scram-sha-256
host    app   bob,carol 10.0.0.0/8 reject
host    all   all   ::1/128       trust
host    replication all 0.0.0.0/0 trust
`;

  test('the first rule that fits wins; TLS, transport, address, database and user all count', () => {
    expect(lineFor(RULES, facts({ tls: true }))).toBe(1);
    expect(lineFor(RULES, facts())).toBe(2);
    expect(lineFor(RULES, facts({ local: true, address: '[local]' }))).toBe(3);
    expect(lineFor(RULES, facts({ address: '10.1.2.3', database: 'alice' }))).toBe(4);
    expect(lineFor(RULES, facts({ address: '10.1.2.3', user: 'carol' }))).toBe(5);
    expect(lineFor(RULES, facts({ address: '10.1.2.3' }))).toBe('none');
    expect(lineFor(RULES, facts({ address: '::1' }))).toBe(6);
  });

  test('the verdict names the source, the line, the rule and its method', () => {
    expect(matcher(RULES)(facts())).toEqual({ kind: 'match', source: 'hba.conf', line: 2, text: 'hostnossl all all 127.0.0.1/32 md5', method: 'md5' });
    expect(matcher(RULES)(facts({ address: '192.0.2.1' }))).toEqual({ kind: 'no-match' });
    expect(compileHba(null)(facts())).toEqual({ kind: 'unconfigured' });
  });

  test('an IPv4 client of a dual-stack listener (::ffff:a.b.c.d) matches IPv4 rules', () => {
    expect(lineFor('host all all 127.0.0.0/8 trust', facts({ address: '::ffff:127.0.0.1' }))).toBe(1);
    expect(lineFor('host all all ::1/128 trust', facts({ address: '::ffff:127.0.0.1' }))).toBe('none');
  });

  test('host rules never match the Unix socket, and local rules never match TCP', () => {
    expect(lineFor('host all all 0.0.0.0/0 trust\nhost all all ::/0 trust', facts({ local: true, address: '[local]' }))).toBe('none');
    expect(lineFor('local all all trust', facts())).toBe('none');
  });

  test('replication and hostgssenc rules match no gatehouse client; hostnogssenc matches TCP like host', () => {
    expect(lineFor('host replication all 0.0.0.0/0 trust\nhostgssenc all all 0.0.0.0/0 trust\nhostnogssenc all all 0.0.0.0/0 md5', facts())).toBe(3);
  });

  test('a quoted keyword is a name: "all" matches only the database called all', () => {
    expect(lineFor('host "all" all 0.0.0.0/0 trust', facts())).toBe('none');
    expect(lineFor('host "all" all 0.0.0.0/0 trust', facts({ database: 'all' }))).toBe(1);
  });
});

describe('general.pg_hba and general.hba in the configuration file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-hba-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const parse = (text: string) => parseConfig(text, FILE, { checkFiles: false, baseDir: dir });

  test('rules as a string, from { content } and from { path } (relative to the configuration file)', () => {
    writeFileSync(join(dir, 'pg_hba.conf'), '# comment\nhost all all 10.0.0.0/8 md5\n');
    const inline = parse(`general:\n  pg_hba: |\n    host all all 0.0.0.0/0 scram-sha-256\n${ONE_POOL}`);
    expect(inline.general.pg_hba?.source).toBe('general.pg_hba');
    expect(inline.general.pg_hba?.rules.map((r) => r.text)).toEqual(['host all all 0.0.0.0/0 scram-sha-256']);
    const content = parse(`general:\n  pg_hba:\n    content: "local all all trust"\n${ONE_POOL}`);
    expect(content.general.pg_hba?.source).toBe('general.pg_hba.content');
    const file = parse(`general:\n  pg_hba: { path: pg_hba.conf }\n${ONE_POOL}`);
    expect(file.general.pg_hba).toMatchObject({ source: join(dir, 'pg_hba.conf'), rules: [{ line: 2, method: 'md5' }] });
    expect(parse(ONE_POOL).general.pg_hba).toBeNull();
  });

  test('a bad rule is an error naming the key, the file and the line', () => {
    writeFileSync(join(dir, 'bad.conf'), 'host all all 0.0.0.0/0 trust\nhost all all 10.0.0.1 trust\n');
    const fromFile = configErrorOf(`general:\n  pg_hba: { path: bad.conf }\n${ONE_POOL}`, { checkFiles: false, baseDir: dir });
    expectProblem(fromFile, 'general.pg_hba.path', `${join(dir, 'bad.conf')}: line 2: the address "10.0.0.1" needs a CIDR mask`);
    const inline = configErrorOf(`general:\n  pg_hba: "host all all 0.0.0.0/0 ldap"\n${ONE_POOL}`);
    expectProblem(inline, 'general.pg_hba', 'line 1: authentication method "ldap" is not supported');
  });

  test('a missing rules file, an unknown key, path and content together, and both hba keys are errors', () => {
    expectProblem(configErrorOf(`general:\n  pg_hba: { path: nowhere.conf }\n${ONE_POOL}`, { checkFiles: false, baseDir: dir }), 'general.pg_hba.path', `cannot read ${join(dir, 'nowhere.conf')}: no such file`);
    expectProblem(configErrorOf(`general:\n  pg_hba: { file: x }\n${ONE_POOL}`), 'general.pg_hba.file', 'unknown key (expected path or content)');
    expectProblem(configErrorOf(`general:\n  pg_hba: { path: a, content: b }\n${ONE_POOL}`), 'general.pg_hba', 'set either path or content, not both');
    expectProblem(configErrorOf(`general:\n  pg_hba: 7\n${ONE_POOL}`), 'general.pg_hba', 'expected pg_hba.conf rules as a string');
    expectProblem(configErrorOf(`general:\n  pg_hba: "local all all trust"\n  hba: [10.0.0.0/8]\n${ONE_POOL}`), 'general.hba', 'cannot be used together with general.pg_hba');
  });

  test('the legacy general.hba list admits its CIDRs (and the Unix socket) with the usual password, and refuses others', () => {
    const config = parse(`general:\n  hba: [10.0.0.0/8, "::1/128"]\n${ONE_POOL}`);
    const match = compileHba(config.general.pg_hba);
    expect(match(facts({ address: '10.9.9.9' }))).toEqual({ kind: 'match', source: 'general.hba', line: 1, text: 'host all all 10.0.0.0/8 md5', method: 'md5' });
    expect(match(facts({ address: '::1' }))).toMatchObject({ line: 2 });
    expect(match(facts({ local: true, address: '[local]' }))).toMatchObject({ kind: 'match', line: 0, method: 'md5' });
    expect(match(facts({ address: '192.0.2.1' }))).toEqual({ kind: 'no-match' });
    // PgDoorman: an empty list lets everyone in.
    expect(parse(`general:\n  hba: []\n${ONE_POOL}`).general.pg_hba).toBeNull();
    expectProblem(configErrorOf(`general:\n  hba: [10.0.0.1]\n${ONE_POOL}`), 'general.hba[0]', 'expected an address with a CIDR mask like 10.0.0.0/8 (got "10.0.0.1")');
  });

  test('cert rules need TLS with a CA for client certificates', () => {
    const error = configErrorOf(`general:\n  tls_mode: disable\n  pg_hba: "hostssl all all 0.0.0.0/0 cert"\n${ONE_POOL}`);
    expectProblem(error, 'general.tls_mode', 'is disable, but pg_hba line 1 uses cert');
    expectProblem(error, 'general.tls_ca_cert', 'required when pg_hba uses cert (line 1)');
    expectProblem(error, 'general.tls_certificate', 'required when pg_hba uses cert');
  });

  test('rules that can never match are warned about', () => {
    const config = parse(`general:\n  tls_mode: disable\n  pg_hba: |\n    hostssl all all 0.0.0.0/0 md5\n    local all all trust\n    host all all 0.0.0.0/0 md5\n${ONE_POOL}`);
    expect(configWarnings(config)).toEqual([
      `${FILE}: general.pg_hba: line 1: hostssl never matches: TLS is not offered to clients (general.tls_mode is disable)`,
      `${FILE}: general.pg_hba: line 2: local never matches: no Unix socket is configured (general.unix_socket_dir)`,
    ]);
    expect(configWarnings(parse(`general:\n  unix_socket_dir: /tmp\n  pg_hba: "local all all trust"\n${ONE_POOL}`))).toEqual([]);
    const required = parse(`general:\n  tls_mode: require\n  tls_certificate: s.crt\n  tls_private_key: s.key\n  pg_hba: "hostnossl all all 0.0.0.0/0 md5"\n${ONE_POOL}`);
    expect(configWarnings(required)).toEqual([
      `${FILE}: general.pg_hba: line 1: hostnossl never matches: general.tls_mode require refuses plain TCP clients before pg_hba is read`,
    ]);
  });
});
