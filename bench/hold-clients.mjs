#!/usr/bin/env node
// bench/hold-clients.mjs — the client side of `bench/run.sh --scenario memory`: opens --clients TLS + SCRAM
// sessions to a proxy (each runs SELECT 1 once, then stays idle) and holds them, talking to run.sh by signals and
// one line per step on stdout, each `STEP {json}`:
//   held {...}      every session has been tried: how many are held, failed, and how long opening them took
//   SIGUSR1      -> probes {...}  --probes sequential new sessions, each timed from TCP connect to the
//                   ReadyForQuery of its SELECT 1, then closed; the held ones stay
//   SIGTERM      -> released {...} every held session sends Terminate and closes; exits 0
// Leaves (closing everything) when its parent is gone, like setup.mjs.
//
//   PGUSER=… PGPASSWORD=… PGDATABASE=… node bench/hold-clients.mjs --port P --clients N --ca CA_FILE
//                                         [--host 127.0.0.1] [--concurrency 32] [--probes 10]
// Needs `npm run build` (uses gatehouse's protocol encoders and SCRAM client from ../dist/src).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { closeSession, openSession } from './pg-login.mjs';

const { values: opts } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    clients: { type: 'string' },
    ca: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    probes: { type: 'string', default: '10' },
  },
});
const positive = (name) => {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${opts[name]}`);
  return n;
};
function fail(message) {
  process.stderr.write(`hold-clients.mjs: ${message}\n`);
  process.exit(2);
}
if (!opts.port || !opts.clients || !opts.ca) fail('--port, --clients and --ca are required');
for (const name of ['PGUSER', 'PGPASSWORD', 'PGDATABASE']) if (!process.env[name]) fail(`${name} must be set`);
const clients = positive('clients');
const concurrency = positive('concurrency');
const probeCount = positive('probes');
const target = {
  host: opts.host,
  port: positive('port'),
  user: process.env.PGUSER,
  database: process.env.PGDATABASE,
  password: process.env.PGPASSWORD,
  ca: fs.readFileSync(opts.ca),
  servername: 'localhost',
  appName: 'gatehouse-bench-hold',
};

const report = (step, data) => process.stdout.write(`${step} ${JSON.stringify(data)}\n`);
const held = new Set();
let dropped = 0;
let releasing = false;

/** The most frequent error messages, at most five, with their counts. */
function topErrors(errors) {
  return Object.fromEntries([...errors].sort((a, b) => b[1] - a[1]).slice(0, 5));
}

async function holdAll() {
  const errors = new Map();
  let next = 0;
  let failed = 0;
  const started = performance.now();
  async function lane() {
    while (next < clients) {
      next += 1;
      try {
        const socket = await openSession(target);
        held.add(socket);
        socket.once('close', () => {
          if (held.delete(socket) && !releasing) dropped += 1;
        });
      } catch (err) {
        failed += 1;
        const message = String(err.message ?? err).slice(0, 160);
        errors.set(message, (errors.get(message) ?? 0) + 1);
      }
      const done = held.size + failed;
      if (done % 1000 === 0) process.stderr.write(`hold-clients.mjs: ${done}/${clients} tried, ${held.size} held\n`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, clients) }, lane));
  const seconds = (performance.now() - started) / 1000;
  report('held', { clients, held: held.size, failed, seconds: Number(seconds.toFixed(2)), errors: topErrors(errors) });
}

async function probe() {
  const ms = [];
  const errors = new Map();
  for (let i = 0; i < probeCount; i++) {
    const t0 = performance.now();
    try {
      const socket = await openSession(target);
      ms.push(Number((performance.now() - t0).toFixed(1)));
      closeSession(socket);
    } catch (err) {
      const message = String(err.message ?? err).slice(0, 160);
      errors.set(message, (errors.get(message) ?? 0) + 1);
    }
  }
  report('probes', { ms, failed: probeCount - ms.length, errors: topErrors(errors), stillHeld: held.size, dropped });
}

function release(reason) {
  if (releasing) return;
  releasing = true;
  const count = held.size;
  for (const socket of held) closeSession(socket);
  report('released', { released: count, dropped, reason });
  // Give the Terminates a moment to leave, then go (sockets the server does not close are destroyed by exit).
  setTimeout(() => process.exit(0), 500).unref();
  const poll = setInterval(() => held.size === 0 && process.exit(0), 50);
  poll.unref();
}

let probing = Promise.resolve();
process.on('SIGUSR1', () => {
  probing = probing.then(probe);
});
process.on('SIGTERM', () => void probing.then(() => release('SIGTERM')));
process.on('SIGINT', () => release('SIGINT'));
const parent = process.ppid;
setInterval(() => process.ppid !== parent && release(`parent process ${parent} is gone`), 1000);

holdAll().catch((err) => fail(err.stack ?? String(err)));
