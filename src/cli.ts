/**
 * gatehouse command line:
 *   gatehouse [run] --config FILE   run the proxy in the foreground (SIGTERM/SIGINT: graceful stop, SIGHUP: reload the configuration
 *                                   file, SIGUSR2: online restart)
 *   gatehouse check-config FILE     validate a configuration file and exit
 *   gatehouse demo                  embedded PostgreSQL 18 + generated certificates + gatehouse, TLS on both sides
 *   gatehouse diagrams              Mermaid diagrams of the machines into diagrams/
 *   gatehouse replay FILE           rebuild connections from a journal file, step by step
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { compatibilityReport, ConfigError, configWarnings, loadConfig } from './config/index.js';
import { createLogger } from './observability/logger.js';
import { packageVersion } from './observability/process-series.js';
import { Gateway } from './proxy/gateway.js';
import { ListenError } from './proxy/listeners.js';
import { announceReady, inheritedFds, startSuccessor, type ListeningFds } from './proxy/handover.js';
import { Supervisor } from './proxy/cluster/supervisor.js';
import { runWorker } from './proxy/cluster/worker.js';

/** How long a successor may take to load its configuration and listen before the online restart is called off. */
const UPGRADE_TIMEOUT_MS = 30_000;

const USAGE = `usage:
  gatehouse [run] --config FILE [--inspect]   run the proxy (foreground); --inspect streams machine events to the Stately inspector
  gatehouse check-config FILE       validate a configuration file
  gatehouse demo [--port N]         try gatehouse end to end on an embedded PostgreSQL
  gatehouse diagrams [--out DIR]    write Mermaid diagrams of the machines (default: diagrams/)
  gatehouse replay FILE [--connection ID]   rebuild connections from a journal_file and explain each step
  gatehouse --version | --help`;

function option(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    for (const name of names) {
      if (args[i] === name) return args[i + 1];
      if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
    }
  }
  return undefined;
}

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function load(file: string | undefined) {
  if (!file) fail(`missing configuration file\n${USAGE}`);
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

/** What `gatehouse run` runs: one gateway, or (worker_threads above 1) the supervisor of that many. */
interface Instance {
  readonly clientCount: number;
  reload(): Promise<unknown>;
  close(opts?: { handedOver?: boolean }): Promise<void>;
  listeningFds(): ListeningFds;
  on(event: 'shutdown' | 'upgrade', listener: () => void): unknown;
}

export async function runProxy(file: string | undefined, inspect: boolean): Promise<void> {
  if (cluster.isWorker) {
    const config = load(file);
    return runWorker(config.file, createLogger(config.general.log_level));
  }
  const config = load(file);
  if (inspect) config.web.inspect = true;
  const logger = createLogger(config.general.log_level);
  for (const warning of configWarnings(config)) logger.warn({ file: config.file }, warning);
  const inherited = inheritedFds();
  let workers = config.general.worker_threads;
  if (workers > 1 && config.web.inspect) {
    logger.warn({ file: config.file }, `general.worker_threads: ${workers} workers, but the Stately inspector (web.inspect) follows one process: running one worker`);
    workers = 1;
  }
  const supervisor = workers > 1 ? new Supervisor({ config, configText: readFileSync(config.file, 'utf8'), logger, inherited }) : null;
  const gateway: Instance = supervisor ?? new Gateway(config, logger);
  // Installed before listening: a SIGTERM that arrives while the listeners start must stop gracefully,
  // not kill the process with the default action.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gateway.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void gateway.reload());
  gateway.on('shutdown', () => stop('SHUTDOWN'));
  // Online restart: a successor takes over the listening sockets, then this process drains and exits.
  const upgrade = async (reason: string) => {
    if (stopping) return;
    logger.info({ reason }, 'online restart: starting a successor with the listening sockets');
    try {
      await startSuccessor(gateway.listeningFds(), process.argv.slice(1), UPGRADE_TIMEOUT_MS);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'online restart failed; this process goes on serving');
      return;
    }
    stopping = true;
    logger.info({ clients: gateway.clientCount }, 'online restart: the successor listens; draining this process');
    gateway.close({ handedOver: true }).then(() => process.exit(0));
  };
  process.on('SIGUSR2', () => void upgrade('SIGUSR2'));
  gateway.on('upgrade', () => void upgrade('UPGRADE'));
  try {
    if (supervisor) await supervisor.start();
    else await (gateway as Gateway).listen(inherited);
    if (inherited) announceReady();
  } catch (err) {
    if (err instanceof ListenError) fail(`${config.file}: ${err.keyPath}: ${err.message}`, 1);
    fail(`${config.file}: general.port: cannot listen on ${config.general.host}:${config.general.port}: ${(err as Error).message}`, 1);
  }
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return void process.stdout.write(`${USAGE}\n`);
  if (first === '--version' || first === '-V') return void process.stdout.write(`${packageVersion()}\n`);
  if (first === 'check-config') {
    const config = load(rest[0] ?? option(rest, '--config', '-c'));
    // The PgDoorman keys without effect are the compatibility report (stdout); other warnings go to stderr.
    for (const warning of configWarnings(config, { ignoredKeys: false })) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(`${config.file}: OK (${Object.keys(config.pools).length} pool(s))\n`);
    for (const line of compatibilityReport(config)) process.stdout.write(`${line}\n`);
    return;
  }
  if (first === 'demo') {
    const { runDemo } = await import('./demo.js');
    return runDemo({ port: Number(option(rest, '--port') ?? 6432) });
  }
  if (first === 'diagrams') {
    const { updateReadme, writeDiagrams } = await import('./diagrams/write-diagrams.js');
    for (const file of await writeDiagrams(option(rest, '--out') ?? 'diagrams')) process.stdout.write(`${file}\n`);
    if (!rest.includes('--out')) await updateReadme('README.md');
    return;
  }
  if (first === 'replay') {
    const { formatReplay, readJournalFile, replayConnection } = await import('./journal/replay.js');
    const file = rest.find((a) => !a.startsWith('-') && a !== option(rest, '--connection'));
    if (!file) fail(`missing journal file\n${USAGE}`);
    const only = option(rest, '--connection');
    const connections = readJournalFile(file).filter((c) => !only || c.id === only);
    if (only && connections.length === 0) fail(`${file}: no connection ${only}`, 1);
    for (const c of connections) process.stdout.write(`${formatReplay(replayConnection(c))}\n\n`);
    return;
  }
  if (first === 'run') return runProxy(option(rest, '--config', '-c') ?? rest.find((a) => !a.startsWith('-')), rest.includes('--inspect'));
  if (first === undefined || first.startsWith('-')) return runProxy(option(argv, '--config', '-c'), argv.includes('--inspect'));
  fail(`unknown command "${first}"\n${USAGE}`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`gatehouse: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
