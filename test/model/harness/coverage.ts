/**
 * Transition coverage: every transition definition of a machine (source state, event, candidate
 * index) and which of them the real drivers took, found by folding their journals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type AnyStateNode, type EventObject } from 'xstate';

export const COVERAGE_DIR = fileURLToPath(new URL('../../coverage/', import.meta.url));
export const COVERAGE_FILE = path.join(COVERAGE_DIR, 'machines.json');

function key(source: AnyStateNode, eventType: string, index: number): string {
  return `${source.id} | ${eventType} | #${index}`;
}

function* stateNodes(node: AnyStateNode): Generator<AnyStateNode> {
  yield node;
  for (const child of Object.values(node.states) as AnyStateNode[]) yield* stateNodes(child);
}

/** Every transition definition (including eventless and delayed ones, should a machine gain them), with a readable label. */
export function allTransitions(machine: AnyStateMachine): Map<string, string> {
  const all = new Map<string, string>();
  for (const node of stateNodes(machine.root)) {
    for (const [eventType, candidates] of node.transitions) {
      candidates.forEach((t, i) => {
        const guard = t.guard ? ` [${typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string }).type ?? 'guard')}]` : '';
        const targets = t.target?.map((n) => n.id).join(', ') ?? '(self)';
        all.set(key(node, eventType, i), `${node.id} --${eventType}${guard}--> ${targets}`);
      });
    }
    node.always?.forEach((t, i) => all.set(key(node, '(always)', i), `${node.id} --always--> ${t.target?.map((n) => n.id).join(', ')}`));
  }
  return all;
}

/** The transition definitions `event` selects in `snapshot`. */
export function takenBy(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: EventObject): string[] {
  return machine.getTransitionData(snapshot, event).map((t) => key(t.source, t.eventType, t.source.transitions.get(t.eventType)!.indexOf(t)));
}

/**
 * The pure fold of a journal, stopping at the first non-active snapshot exactly as a live actor
 * stops listening; also returns the transitions each event selected.
 */
export function foldJournal(
  machine: AnyStateMachine,
  input: unknown,
  events: EventObject[],
): { snapshot: AnyMachineSnapshot; taken: string[]; folded: number } {
  let [snapshot] = initialTransition(machine, input as never) as unknown as [AnyMachineSnapshot];
  const taken: string[] = [];
  let folded = 0;
  for (const event of events) {
    if (snapshot.status !== 'active') break;
    taken.push(...takenBy(machine, snapshot, event));
    [snapshot] = transition(machine, snapshot as never, event as never) as unknown as [AnyMachineSnapshot];
    folded++;
  }
  return { snapshot, taken, folded };
}

/** The transitions the model predicts for a generated path: its events (after step 0, the initial state) folded through the pure machine. */
export function pathTransitions(machine: AnyStateMachine, input: unknown, path: { steps: ReadonlyArray<{ event: EventObject }> }): string[] {
  return foldJournal(machine, input, path.steps.slice(1).map((s) => s.event)).taken;
}

export class CoverageRecorder {
  private readonly perMode = new Map<string, Set<string>>();
  readonly all: Map<string, string>;

  constructor(readonly machineName: string, private readonly machine: AnyStateMachine) {
    this.all = allTransitions(machine);
  }

  /**
   * Record what the generated `paths` of one mode take, folded through the pure machine. Done when
   * the paths are generated, so that the coverage gate and the per-mode diagrams hold whether or not
   * the path tests run in the same process (a file run alone, `-t`, a mutation tester's test
   * filter). That each path's driver really takes these transitions is `runPath`'s check.
   */
  recordPaths(mode: string, input: unknown, paths: ReadonlyArray<{ steps: ReadonlyArray<{ event: EventObject }> }>): void {
    for (const path of paths) this.record(mode, pathTransitions(this.machine, input, path));
  }

  record(mode: string, taken: readonly string[]): void {
    let set = this.perMode.get(mode);
    if (!set) this.perMode.set(mode, (set = new Set()));
    for (const k of taken) {
      if (!this.all.has(k)) throw new Error(`journal fold took an unknown transition ${k}`);
      set.add(k);
    }
  }

  /** The transitions each mode took, for the per-mode diagrams. */
  modes(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.perMode;
  }

  covered(): Set<string> {
    return new Set([...this.perMode.values()].flatMap((s) => [...s]));
  }

  unreached(): string[] {
    const covered = this.covered();
    return [...this.all].filter(([k]) => !covered.has(k)).map(([, label]) => label);
  }

  summary(): { total: number; covered: number; perMode: Record<string, { covered: number }>; unreached: string[] } {
    return {
      total: this.all.size,
      covered: this.covered().size,
      perMode: Object.fromEntries([...this.perMode].map(([mode, set]) => [mode, { covered: set.size }])),
      unreached: this.unreached(),
    };
  }

  table(): string {
    const s = this.summary();
    const rows = Object.entries(s.perMode).map(([mode, { covered }]) => `  ${mode.padEnd(28)} ${String(covered).padStart(3)} / ${s.total}`);
    return [`${this.machineName}: ${s.covered} / ${s.total} transitions covered (union of modes)`, ...rows].join('\n');
  }

  /**
   * Merge this machine's entry into test/coverage/machines.json. The two model test files run in
   * parallel workers, so the read-modify-write holds a lock (an exclusive mkdir).
   */
  write(): void {
    fs.mkdirSync(COVERAGE_DIR, { recursive: true });
    const lock = `${COVERAGE_FILE}.lock`;
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        fs.mkdirSync(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A lock older than the deadline was left by a killed run.
        if (Date.now() - fs.statSync(lock).mtimeMs > 10_000) fs.rmSync(lock, { recursive: true, force: true });
        if (Date.now() > deadline) throw new Error(`could not lock ${COVERAGE_FILE}`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
    try {
      const current = fs.existsSync(COVERAGE_FILE) ? (JSON.parse(fs.readFileSync(COVERAGE_FILE, 'utf8')) as Record<string, unknown>) : {};
      current[this.machineName] = this.summary();
      const sorted = Object.fromEntries(Object.entries(current).sort(([a], [b]) => a.localeCompare(b)));
      const tmp = `${COVERAGE_FILE}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(sorted, null, 2)}\n`);
      fs.renameSync(tmp, COVERAGE_FILE);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}
