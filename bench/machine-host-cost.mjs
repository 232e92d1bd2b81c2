#!/usr/bin/env node
// What running a connection's machine costs: a TLS + SCRAM login (7 events, 11 commands) through the client-session
// machine, once with an XState actor per connection (how gatehouse ran machines before 2026-12-02) and once with
// src/driver/machine-host.ts (the machine folded with its own transition function). Reports CPU per login and
// heap per live connection (10,000 held), as ratios against the actor.
// Usage: npm run build && node --expose-gc bench/machine-host-cost.mjs
import { createActor } from 'xstate';
import { clientSessionMachine } from '../dist/machines/client-session.js';
import { hostMachine } from '../dist/src/driver/machine-host.js';

if (!global.gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const input = { tlsMode: 'require', tlsAvailable: true, overCapacity: false, certIdentity: 'none', transport: 'tcp', hbaCertRules: false };
const EVENTS = [
  { type: 'client.sslRequest', trailingBytes: 0 },
  { type: 'tls.slotGranted' },
  { type: 'tls.established', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', alpnProtocol: null, authorized: false, authorizationError: null, peerCertificate: null },
  { type: 'client.startup', user: 'alice', database: 'app', databaseKnown: true, password: 'scram-sha-256', address: '127.0.0.1', hba: { kind: 'unconfigured' }, adminConsole: null },
  { type: 'auth.succeeded' },
  { type: 'pool.acquired', serverId: 's1' },
  { type: 'session.started' },
];
const journal = { append() {} };
let commands = 0;
const onCommand = () => commands++;

const ways = {
  actor() {
    const actor = createActor(clientSessionMachine, { input });
    actor.subscribe({ error: () => {} });
    actor.on('*', onCommand);
    actor.start();
    for (const e of EVENTS) actor.send(e);
    return actor;
  },
  folded() {
    const run = hostMachine(clientSessionMachine, input, journal, onCommand, () => {});
    for (const e of EVENTS) run.send(e);
    return run;
  },
};

const results = {};
for (const [name, login] of Object.entries(ways)) {
  for (let i = 0; i < 3000; i++) login();
  const n = 20000;
  commands = 0;
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) login();
  const cpu = process.cpuUsage(before);
  const perLogin = commands / n;
  const held = [];
  global.gc();
  const heap = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10000; i++) held.push(login());
  global.gc();
  results[name] = { cpu: (cpu.user + cpu.system) / n, heap: (process.memoryUsage().heapUsed - heap) / held.length, commands: perLogin };
  held.length = 0;
}
console.log('| way | CPU µs per login | heap bytes per live connection | commands per login |\n|---|---|---|---|');
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.cpu.toFixed(1)} (${(r.cpu / results.actor.cpu).toFixed(2)}×) | ${r.heap.toFixed(0)} (${(r.heap / results.actor.heap).toFixed(2)}×) | ${r.commands} |`);
}
