// general.peer_id and the peers section (PgBouncer's [peers] as YAML), what a file can get wrong with them, and
// which of them a reload applies.
import { describe, expect, test } from 'vitest';
import { formatKeyPath, parseConfig } from '../../../src/config/index.js';
import { needsRestart, restartChanges } from '../../../src/config/reload-scope.js';
import { configErrorOf, expectProblem, FILE, ONE_POOL } from './expect-problems.js';

const parse = (text: string) => parseConfig(text, FILE, { checkFiles: false });
const withPeers = (peerId: number | null, peers: string) => `general:\n${peerId === null ? '  port: 6432' : `  peer_id: ${peerId}`}\n${ONE_POOL}peers:\n${peers}`;

describe('peer_id and peers', () => {
  test('peering is off unless peer_id is set, and there are no peers', () => {
    const config = parse(`general: {}\n${ONE_POOL}`);
    expect(config.general.peer_id).toBe(0);
    expect(config.peers).toEqual([]);
  });

  test('peers are read by id in order, with PgBouncer\'s port and gatehouse\'s pool_size defaults; the own id stays listed', () => {
    const config = parse(withPeers(2, '  3: { host: /run/gatehouse-3 }\n  1: { host: 10.0.0.1, port: 6433, pool_size: 4 }\n  2: { host: 10.0.0.2 }\n'));
    expect(config.general.peer_id).toBe(2);
    expect(config.peers).toEqual([
      { peer_id: 1, host: '10.0.0.1', port: 6433, pool_size: 4 },
      { peer_id: 2, host: '10.0.0.2', port: 6432, pool_size: 20 },
      { peer_id: 3, host: '/run/gatehouse-3', port: 6432, pool_size: 20 },
    ]);
  });

  test.each(['0', '16384', 'two', '01', '-1'])('refuses the peer id %s', (id) => {
    expectProblem(configErrorOf(withPeers(1, `  "${id}": { host: h }\n`)), formatKeyPath(['peers', id]), 'a peer id is an integer 1..16383');
  });

  test.each([['-1'], ['16384'], ['1.5'], ['"3"']])('refuses general.peer_id %s', (value) => {
    expectProblem(configErrorOf(`general:\n  peer_id: ${value}\n${ONE_POOL}`), 'general.peer_id', 'expected an integer 0..16383');
  });

  test('peers without a peer_id of this instance would never be used, so they are an error', () => {
    expectProblem(configErrorOf(withPeers(null, '  2: { host: h }\n')), 'general.peer_id', "must be this instance's id (1..16383) when peers is set");
    expectProblem(configErrorOf(withPeers(0, '  2: { host: h }\n')), 'general.peer_id', 'with 0 (the default) peering is off');
  });

  test('a peer needs a host; its keys are checked like any section, with a did-you-mean', () => {
    const error = configErrorOf(withPeers(1, '  2: { port: 6433, pool_sise: 3 }\n  3: { host: h, port: 70000, pool_size: 0 }\n  4: "host=h port=5"\n'));
    expectProblem(error, 'peers.2.host', 'required');
    expectProblem(error, 'peers.2.pool_sise', 'unknown key (did you mean pool_size?)');
    expectProblem(error, 'peers.3.port', 'expected a port number 1..65535 (got 70000)');
    expectProblem(error, 'peers.3.pool_size', 'expected a positive integer (got 0)');
    expectProblem(error, 'peers.4', 'expected a map with host, port and pool_size');
  });

  test('an abstract Unix socket is refused; a socket directory too long for a socket address is an error', () => {
    expectProblem(configErrorOf(withPeers(1, '  2: { host: "@gatehouse" }\n')), 'peers.2.host', 'abstract Unix sockets are not supported');
    expectProblem(configErrorOf(withPeers(1, `  2: { host: /tmp/${'d'.repeat(100)} }\n`)), 'peers.2.host', 'longer than the 107 bytes a Unix socket address holds');
  });

  test('a reload applies peers at once; peer_id waits for a restart (keys already issued name the old id)', () => {
    expect(needsRestart('general.peer_id')).toBe(true);
    expect(needsRestart('peers.2')).toBe(false);
    const running = parse(withPeers(1, '  2: { host: a }\n'));
    const next = parse(withPeers(3, '  2: { host: b }\n'));
    expect(restartChanges(running, next)).toEqual(['general.peer_id (1 → 3)']);
  });
});
