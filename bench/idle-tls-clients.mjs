#!/usr/bin/env node
// The floor under gatehouse's memory per idle client: a bare Node TLS server (no PostgreSQL protocol, no pooler)
// holding N idle TLS 1.3 clients, with the same ECDSA P-256 certificate kind bench/setup.mjs makes. The clients run
// in a child process; the server's RSS is read before they connect and once they are all held and settled.
//   node bench/idle-tls-clients.mjs [--clients 5000]
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);

if (process.env.IDLE_TLS_ROLE === 'clients') {
  const [port, count] = [Number(option('port')), Number(option('clients'))];
  const held = [];
  let connected = 0;
  const next = () => {
    if (held.length === count) return;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['postgresql'] }, () => {
      socket.write('x');
      if (++connected === count) process.send('held');
      next();
    });
    socket.on('error', (err) => {
      console.error(err.message);
      process.exit(1);
    });
    held.push(socket);
  };
  for (let i = 0; i < 50; i++) next();
} else {
  const count = Number(option('clients', '5000'));
  const dir = mkdtempSync(path.join(tmpdir(), 'idle-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const rss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4;
  let open = 0;
  const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert), ALPNProtocols: ['postgresql'] }, (socket) => {
    open++;
    // Read what the client sends, as a pooler does, and keep the socket open and idle.
    socket.on('data', () => {});
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    global.gc?.();
    const before = rss();
    const clients = fork(new URL(import.meta.url).pathname, ['--port', String(server.address().port), '--clients', String(count)], { env: { ...process.env, IDLE_TLS_ROLE: 'clients' } });
    clients.on('message', () => {
      setTimeout(() => {
        global.gc?.();
        const after = rss();
        console.log(`bare Node ${process.version} TLS server: ${open} idle TLS clients, RSS ${(before / 1024).toFixed(0)} → ${(after / 1024).toFixed(0)} MB = ${((after - before) / open).toFixed(1)} kB per client`);
        clients.kill();
        server.close();
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      }, 3000);
    });
  });
}
