#!/usr/bin/env node
// Where a proxy's CPU goes, from `perf record -g` of its process (CPU time, every thread), in categories: each
// sample goes to the first category, in the order below, that one of its stack frames matches, so a category
// includes what its functions call (apart from the categories before it).
//   perf record -F 999 -g -p PID -o perf.data -- sleep 40        # gatehouse started with --perf-basic-prof
//   perf script -i perf.data -F comm,tid,time,ip,sym,dso | node bench/perf-categories.mjs [--from S --to S]
// --from/--to keep samples between S seconds after the first sample and S seconds after it (the busy stretch).
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const from = option('from', 0);
const to = option('to', Infinity);

/** [category, test on one frame's text], in matching order. */
const CATEGORIES = [
  ['JIT compiler (V8 background threads)', /OptimizingCompileDispatcher|compiler::Pipeline|Compiler::Compile|CompileLazy|Builtins_BaselineOutOfLinePrologue/],
  ['garbage collection', /Heap::|Scavenger|MarkCompact|ConcurrentMarking|Sweeper|GCTracer|MinorMarkSweep/],
  ['socket write syscall (kernel)', /\bksys_write\b|\b__sys_sendto\b|\bksys_writev\b/],
  ['socket read syscall (kernel)', /\bksys_read\b|\b__sys_recvfrom\b|\bksys_readv\b/],
  ['epoll_wait (kernel)', /do_epoll_wait/],
  ['TLS handshake (OpenSSL state machine)', /\bstate_machine\b|tls_process_|tls_construct_|ossl_statem/],
  ['TLS record encrypt (SSL_write)', /\bSSL_write\b|do_ssl3_write/],
  ['TLS record decrypt (SSL_read)', /\bSSL_read\b|ssl3_read_bytes/],
  ['Node write path (Writable, WriteWrap, TLSWrap::DoWrite)', /streams\/writable|stream_base_commons:(46|110|148)|WriteWrap|TLSWrap::DoWrite|StreamBase::Write/],
  ['XState (transitions)', /node_modules\/xstate\//],
  ['gatehouse code', /\/dist\/(src|machines)\//],
  ['Node ticks and microtasks', /task_queues|RunMicrotasks|maybeReadMore|resume_/],
  ['Node read path (TLSWrap::ClearOut, Readable.push, emit)', /TLSWrap::ClearOut|streams\/readable|onStreamRead|node:events|EmitToJSStreamListener/],
  ['accept and new sockets (libuv, net)', /uv__server_io|OnConnection|node:net|_tls_wrap|internal\/tls/],
  ['malloc/free', /\b(malloc|_int_malloc|_int_free|cfree|free)\b/],
  ['kernel, other (scheduling, softirq, page faults)', /\[kernel\.kallsyms\]/],
];
const OTHER = 'other (event loop, timers, libuv, V8 runtime)';

const counts = new Map([...CATEGORIES.map(([name]) => [name, 0]), [OTHER, 0]]);
let first = null;
let time = 0;
let frames = [];
let kept = 0;

function flush() {
  if (frames.length === 0) return;
  const at = first === null ? 0 : time - first;
  if (at >= from && at <= to) {
    const match = CATEGORIES.find(([, test]) => frames.some((f) => test.test(f)));
    const name = match ? match[0] : OTHER;
    counts.set(name, counts.get(name) + 1);
    kept++;
  }
  frames = [];
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') {
    flush();
    continue;
  }
  if (!line.startsWith('\t') && !line.startsWith(' ')) {
    flush();
    const t = /(\d+\.\d+):/.exec(line);
    if (t) {
      time = Number(t[1]);
      first ??= time;
    }
    continue;
  }
  frames.push(line);
}
flush();

console.log(`${kept} samples\n`);
console.log('| category | % of samples |');
console.log('|---|---|');
for (const [name, n] of counts) console.log(`| ${name} | ${((100 * n) / Math.max(kept, 1)).toFixed(1)} |`);
