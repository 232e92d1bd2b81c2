// Spawning PostgreSQL programs, and making sure long-running ones do not outlive this Node process.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { OsUser } from './os-user.js';

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  user: OsUser | undefined;
  /** Written to stdin, which is then closed. */
  input?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they arrived. */
  output: string;
}

/** Runs a program to completion, collecting its output. Rejects only when it cannot be started. */
export function runToCompletion(command: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env,
      cwd: opts.cwd,
      uid: opts.user?.uid,
      gid: opts.user?.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (err) => reject(new Error(`could not start ${command}: ${err.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal, output: Buffer.concat(chunks).toString('utf8') }));
    child.stdin.on('error', () => {
      // The program may exit before reading all of stdin; its exit status and output tell what happened.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The last `lines` lines of a log file, or a note that it cannot be read. */
export function logTail(logFile: string, lines = 30): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(could not read ${logFile}: ${(err as Error).message})`;
  }
}

interface Tracked {
  child: ChildProcess;
  /** Removed synchronously, best effort, when the child has to be killed at exit. */
  dirs: string[];
}

const tracked = new Set<Tracked>();
let exitHandlerInstalled = false;

/** SIGKILLs every tracked child still running and removes its directories; what the process 'exit' handler runs. */
export function killTrackedChildren(): void {
  for (const entry of tracked) {
    const pid = entry.child.pid;
    if (pid !== undefined && entry.child.exitCode === null && entry.child.signalCode === null) {
      try {
        // The postmaster leads its own process group (spawned detached): take its backends with it.
        process.kill(-pid, 'SIGKILL');
      } catch {
        entry.child.kill('SIGKILL');
      }
    }
    for (const dir of entry.dirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // Best effort at exit: a backend that is still dying may hold files; the OS tmp cleaner takes the rest.
      }
    }
  }
  tracked.clear();
}

/** SIGKILL `child` (and its process group) and remove `dirs` if it is still running when Node exits. */
export function killAtExit(child: ChildProcess, dirs: string[]): () => void {
  if (!exitHandlerInstalled) {
    process.on('exit', killTrackedChildren);
    exitHandlerInstalled = true;
  }
  const entry: Tracked = { child, dirs };
  tracked.add(entry);
  return () => {
    tracked.delete(entry);
  };
}
