/**
 * The handshake flow of one connection as a compact SVG: the states it walked as a vertical chain,
 * each arrow numbered with its journal row and labelled with the event and the guard that chose it;
 * the refusing step and the `failed` state in red with the guard and SQLSTATE. Text is monospace, so
 * widths are known here and the viewBox encloses every label: the page scales it down to its frame
 * (never up, the max sizes are the natural ones) without clipping anything.
 */
import type { ConnectionFlow, FlowStep } from './viewer-flow.js';

const FONT = 12;
/** Advance of one monospace character at FONT px (0.6 em in the common monospace faces), with some slack. */
const CHAR = FONT * 0.62;
const PAD = 16;
const BOX_H = 42;
const LINE = 16;
const WRAP = 64;
const RAIL = PAD + 22;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const width = (s: string, size = FONT) => s.length * CHAR * (size / FONT);

/** Words joined back into lines of at most WRAP characters (a single longer word stays whole). */
function wrap(words: string[], sep: string): string[] {
  const lines: string[] = [];
  for (const word of words) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + sep.length + word.length <= WRAP) lines[last] += sep + word;
    else lines.push(word);
  }
  return lines;
}

interface Line {
  text: string;
  cls: string;
}

/** The label lines beside one arrow: event and guard, what was tried first, what was done, the verdict. */
function arrowLines(step: FlowStep, refused: boolean): Line[] {
  const t = step.transition;
  if (!t) return [{ text: `${step.event}: no transition, ignored`, cls: 'ignored' }];
  const lines: Line[] = [{ text: step.event + (t.guard ? ` [${t.guard}]` : ''), cls: 'event' }];
  if (t.passedOver.length) {
    const tried = wrap(t.passedOver.map((g, i) => (i === 0 ? `tried first, false: ${g}` : g)), ', ');
    lines.push(...tried.map((text) => ({ text, cls: 'tried' })));
  }
  const actions = t.label.split(' / ')[1];
  if (actions) lines.push({ text: `/ ${actions}`, cls: 'actions' });
  if (refused) lines.push({ text: t.guard ? `refused by guard ${t.guard}` : `refused by the event ${step.event}`, cls: 'refusing-guard' });
  return lines;
}

/** The state box's lines: the leaf state's name, then the states it sits in. */
function stateLines(state: string): [string, string] {
  const parts = state.split('.');
  return [parts[parts.length - 1], parts.slice(0, -1).join(' › ')];
}

export function renderFlowSvg(flow: ConnectionFlow): string {
  const out: string[] = [];
  let y = PAD;
  let maxX = 0;
  const text = (x: number, yy: number, s: string, cls: string, size = FONT) => {
    maxX = Math.max(maxX, x + width(s, size));
    out.push(`<text x="${x}" y="${yy}" class="${cls}" font-size="${size}">${esc(s)}</text>`);
  };

  const box = (state: string, kind: string, extra: string[] = []) => {
    const [name, within] = stateLines(state);
    const lines = [...extra];
    const w = Math.max(width(name, 13), width(within, 11), ...lines.map((l) => width(l, 11))) + 24;
    const h = (within ? BOX_H : BOX_H - 14) + lines.length * 14;
    out.push(`<g class="flow-state ${kind}" data-state="${esc(state)}">`);
    out.push(`<rect x="${PAD}" y="${y}" width="${w}" height="${h}" rx="6"/>`);
    text(PAD + 12, y + 17, name, 'state-name', 13);
    if (within) text(PAD + 12, y + 32, within, 'state-within', 11);
    lines.forEach((l, i) => text(PAD + 12, y + (within ? 46 : 32) + i * 14, l, 'state-failure', 11));
    out.push('</g>');
    maxX = Math.max(maxX, PAD + w);
    y += h;
  };

  box(flow.initial, 'initial');
  const last = flow.steps.length - 1;
  flow.steps.forEach((step, i) => {
    const refused = flow.refusal?.seq === step.seq;
    const lines = arrowLines(step, refused);
    const h = Math.max(44, lines.length * LINE + 16);
    const cls = step.transition ? (refused ? 'flow-step walked refused' : 'flow-step walked') : 'flow-step ignored';
    out.push(`<g class="${cls}" data-seq="${step.seq}" data-event="${esc(step.event)}"${refused && flow.refusal?.guard ? ` data-guard="${esc(flow.refusal.guard)}"` : ''}>`);
    if (step.transition) out.push(`<line x1="${RAIL}" y1="${y}" x2="${RAIL}" y2="${y + h - 2}" marker-end="url(#flow-arrow${refused ? '-refused' : ''})"/>`);
    else out.push(`<line x1="${RAIL}" y1="${y}" x2="${RAIL}" y2="${y + h}" class="dotted"/>`);
    const cy = y + h / 2;
    out.push(`<circle cx="${RAIL}" cy="${cy}" r="11"/>`);
    out.push(`<text x="${RAIL}" y="${cy + 4}" class="step-number" text-anchor="middle" font-size="11">${step.seq}</text>`);
    const top = cy - ((lines.length - 1) * LINE) / 2 + 4;
    lines.forEach((l, j) => text(RAIL + 20, top + j * LINE, l.text, l.cls, l.cls === 'event' || l.cls === 'refusing-guard' ? FONT : 11));
    out.push('</g>');
    y += h;
    if (!step.transition) return;
    const failure = refused ? flow.refusal?.failure : null;
    const failureLines = failure ? wrap(`${failure.sqlstate ?? 'no SQLSTATE'} ${failure.reason}: ${failure.message}`.split(' '), ' ') : [];
    const now = i === last && flow.status === 'active' ? ' current' : '';
    box(step.to, (refused ? 'failed' : 'walked') + now, failureLines);
  });
  if (flow.afterFinal.length) {
    y += 8;
    text(PAD, y + 12, `rows ${flow.afterFinal.join(', ')} came after the final state and changed nothing`, 'ignored', 11);
    y += 20;
  }

  const w = Math.ceil(maxX + PAD);
  const h = Math.ceil(y + PAD);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="flow" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" style="max-width:${w}px;max-height:${h}px" preserveAspectRatio="xMidYMin meet" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace">`,
    '<defs>',
    '<marker id="flow-arrow" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><polygon points="0 0, 10 4, 0 8" fill="#b45309"/></marker>',
    '<marker id="flow-arrow-refused" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto"><polygon points="0 0, 10 4, 0 8" fill="#b91c1c"/></marker>',
    '</defs>',
    '<style>',
    // The machine diagrams on the same page style every `text` with a proportional face; the widths above are monospace ones.
    'svg.flow text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; }',
    '.flow-state rect { fill: #f9fafb; stroke: #9ca3af; stroke-width: 1; }',
    '.flow-state.walked rect { fill: #fffbeb; stroke: #b45309; stroke-width: 1.5; }',
    '.flow-state.current rect { fill: #fde68a; stroke: #b45309; stroke-width: 3; }',
    '.flow-state.failed rect { fill: #fef2f2; stroke: #b91c1c; stroke-width: 3; }',
    '.state-name { font-weight: 700; fill: #111827; } .state-within { fill: #6b7280; } .state-failure { fill: #991b1b; }',
    '.flow-step line { stroke: #b45309; stroke-width: 2.5; } .flow-step.refused line { stroke: #b91c1c; }',
    '.flow-step line.dotted { stroke: #9ca3af; stroke-width: 1.5; stroke-dasharray: 3 3; }',
    '.flow-step circle { fill: #b45309; } .flow-step.refused circle { fill: #b91c1c; } .flow-step.ignored circle { fill: #fff; stroke: #9ca3af; }',
    '.step-number { fill: #fff; font-weight: 700; } .flow-step.ignored .step-number { fill: #6b7280; }',
    '.event { fill: #111827; font-weight: 600; } .tried { fill: #6b7280; } .actions { fill: #4b5563; }',
    '.refusing-guard { fill: #b91c1c; font-weight: 700; } .ignored { fill: #6b7280; font-style: italic; }',
    '</style>',
    ...out,
    '</svg>',
  ].join('\n');
}
