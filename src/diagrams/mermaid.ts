/**
 * Mermaid stateDiagram-v2 text from a live machine definition (machine.root, not toJSON(), which
 * drops inline guards such as and([...]) / not(...)). Edges carry the event, the guard and the
 * commands the transition emits, so the diagram reads as the protocol.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

type AnyGuard = unknown;

/** `isX`, `!isX`, `a && !b` for the guards XState builds with and()/not(). */
export function describeGuard(guard: AnyGuard): string | null {
  if (!guard) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && guard !== null && 'type' in guard) return String((guard as { type: string }).type);
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: AnyGuard[]; check?: unknown };
    const parts = (fn.guards ?? []).map((g) => describeGuard(g) ?? '?');
    if (fn.name === 'and' || (fn as { type?: string }).type === 'xstate.and') return parts.join(' && ');
    if (fn.name === 'or' || (fn as { type?: string }).type === 'xstate.or') return parts.join(' || ');
    if (fn.name === 'not' || (fn as { type?: string }).type === 'xstate.not') return `!${parts[0]}`;
    return fn.name || 'guard';
  }
  return 'guard';
}

function describeActions(actions: readonly unknown[]): string[] {
  return actions
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a && typeof a === 'object' && 'type' in a) return String((a as { type: string }).type);
      if (typeof a === 'function') return (a as { name?: string }).name || '';
      return '';
    })
    .filter((name) => name && !name.startsWith('xstate.'));
}

/** An edge's label, `event [guard] / actions`: the viewer finds a walked transition's edge by it. */
export function transitionLabel(event: string, t: { guard?: unknown; actions: readonly unknown[] }): string {
  const guard = describeGuard(t.guard);
  const actions = describeActions(t.actions);
  return [event, guard ? `[${guard}]` : '', actions.length ? `/ ${actions.join(', ')}` : ''].filter(Boolean).join(' ');
}

/** Mermaid ids: the state's path below the root, e.g. connected_negotiating_ssl_requested. The viewer highlights states by these ids. */
export const diagramNodeId = (path: readonly string[]): string => path.join('_').replace(/[^A-Za-z0-9_]/g, '_');
const nodeName = (node: AnyStateNode) => diagramNodeId(node.path);

/** Identifies one transition definition: `<source state id> | <event> | #<candidate index>`. */
export function transitionKey(source: AnyStateNode, eventType: string, index: number): string {
  return `${source.id} | ${eventType} | #${index}`;
}

/**
 * The machine as Mermaid text. With `only`, just those transitions (keys from transitionKey) and
 * the states they touch are drawn: the graph one mode can actually walk.
 */
export function toMermaid(machine: AnyStateMachine, only?: ReadonlySet<string>): string {
  const lines: string[] = ['stateDiagram-v2', '  direction LR'];
  const edges: string[] = [];
  const root = machine.root as AnyStateNode;
  const shown = only ? touchedStates(root, only) : null;

  const declare = (node: AnyStateNode, indent: string) => {
    const children = (Object.values(node.states) as AnyStateNode[]).filter((c) => !shown || shown.has(c.id));
    for (const child of children) {
      const id = nodeName(child);
      if (Object.keys(child.states).length > 0 && (!shown || Object.values(child.states).some((c) => shown.has((c as AnyStateNode).id)))) {
        // Declarations first: renderers take a state's label from its first mention.
        lines.push(`${indent}state "${child.key}" as ${id} {`);
        declare(child, indent + '  ');
        lines.push(`${indent}  [*] --> ${nodeName(child.states[child.initial!.target[0].key] as AnyStateNode)}`);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${child.key}" as ${id}`);
        if (child.type === 'final') edges.push(`  ${id} --> [*]`);
      }
      if (child.description) lines.push(`${indent}note right of ${id} : ${child.description.replace(/\n/g, ' ')}`);
    }
  };

  const collect = (node: AnyStateNode) => {
    for (const [event, candidates] of node.transitions) {
      for (const [index, t] of candidates.entries()) {
        if (only && !only.has(transitionKey(node, event, index))) continue;
        const label = transitionLabel(event, t);
        for (const target of t.target ?? [node]) edges.push(`  ${nodeName(node)} --> ${nodeName(target)} : ${label}`);
      }
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) collect(child);
  };

  declare(root, '  ');
  lines.push(`  [*] --> ${nodeName(root.states[root.initial!.target[0].key] as AnyStateNode)}`);
  collect(root);
  return [...lines, ...edges, ''].join('\n');
}

/** States an edge set touches, with their ancestors and the initial states entered on the way. */
function touchedStates(root: AnyStateNode, only: ReadonlySet<string>): Set<string> {
  const shown = new Set<string>();
  const addWithAncestors = (node: AnyStateNode | undefined) => {
    for (let n = node; n; n = n.parent) shown.add(n.id);
  };
  const enterInitial = (node: AnyStateNode) => {
    addWithAncestors(node);
    const initial = node.initial?.target[0] as AnyStateNode | undefined;
    if (initial) enterInitial(initial);
  };
  enterInitial(root);
  const visit = (node: AnyStateNode) => {
    for (const [event, candidates] of node.transitions) {
      candidates.forEach((t, index) => {
        if (!only.has(transitionKey(node, event, index))) return;
        addWithAncestors(node);
        for (const target of t.target ?? []) enterInitial(target as AnyStateNode);
      });
    }
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(root);
  return shown;
}
