/**
 * The viewer's single page: inline CSS and script, no external resource of any kind. A connection is
 * chosen by clicking it or with `/machines?connection=<id>`; its handshake flow (viewer-flow-svg.ts)
 * fills the left column, the verdict, the whole machine as a dimmed thumbnail with the walked edges
 * numbered, and the journal the right one.
 */
import { VIEWER_SCRIPT } from './viewer-page-script.js';

export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gatehouse — machines</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1f2937; display: grid; grid-template-columns: 18rem 1fr; height: 100vh; }
  aside { border-right: 1px solid #e5e7eb; overflow: auto; padding: 0.75rem; }
  main { overflow: hidden; padding: 0.75rem; display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
         grid-template-rows: auto minmax(0, 1fr); gap: 0.5rem 0.75rem; }
  #title { grid-column: 1 / 3; }
  h1 { font-size: 1.1rem; margin: 0 0 0.25rem; }
  h2 { font-size: 0.95rem; margin: 0.75rem 0 0.25rem; color: #4b5563; }
  ul { list-style: none; padding: 0; margin: 0; }
  li { padding: 0.3rem 0.4rem; border-radius: 4px; cursor: pointer; }
  li:hover { background: #f3f4f6; }
  li.selected { background: #fef3c7; }
  .id { font-weight: 600; }
  .state { font-family: ui-monospace, monospace; font-size: 12px; color: #374151; }
  .failure { color: #b91c1c; font-size: 12px; }
  #flow { border: 1px solid #e5e7eb; border-radius: 6px; min-height: 0; overflow: hidden; display: flex; justify-content: center; align-items: flex-start; }
  #flow svg { width: 100%; height: 100%; }
  /* A long journal (a session pinned and unpinned many times) is fitted to the width and scrolls. */
  #flow.tall { overflow-y: auto; } #flow.tall svg { height: auto; }
  #side { min-height: 0; overflow-x: hidden; overflow-y: auto; }
  #verdict { border-radius: 6px; padding: 0.5rem 0.75rem; border: 1px solid #e5e7eb; }
  #verdict.refused { border: 2px solid #b91c1c; background: #fef2f2; }
  #verdict.ok { border: 2px solid #b45309; background: #fffbeb; }
  #verdict h2 { margin: 0 0 0.25rem; color: inherit; }
  #verdict .refusing-guard { font-family: ui-monospace, monospace; font-weight: 700; color: #b91c1c; font-size: 1.05rem; }
  #verdict code { font-family: ui-monospace, monospace; }
  #machine { border: 1px solid #e5e7eb; border-radius: 6px; margin-top: 0.5rem; }
  #machine svg { width: 100%; height: auto; display: block; }
  #machine .dimmed { opacity: 0.15; }
  #machine.flow g.subgraph > rect, #machine.flow g.subgraph > text { opacity: 0.35; }
  #machine polyline.edge.walked { stroke: #b45309 !important; stroke-width: 3px !important; vector-effect: non-scaling-stroke; marker-end: none; }
  #machine polyline.edge.walked.refused { stroke: #b91c1c !important; }
  #machine g.node.visited > rect { stroke: #b45309 !important; stroke-width: 2px !important; vector-effect: non-scaling-stroke; }
  #machine g.active > rect { fill: #fde68a !important; stroke: #b45309 !important; }
  #machine g.node.active[data-id="failed"] > rect { fill: #fecaca !important; stroke: #b91c1c !important; }
  #machine .step-badge circle { fill: #b45309; } #machine .step-badge.refused circle { fill: #b91c1c; }
  #machine .step-badge text { fill: #fff; font-weight: 700; font-family: system-ui, sans-serif; }
  .caption { font-size: 12px; color: #6b7280; margin: 0.25rem 0 0; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 0.5rem; table-layout: fixed; }
  th:nth-child(1) { width: 1.8rem; } th:nth-child(3) { width: 45%; }
  td, th { border-bottom: 1px solid #f3f4f6; text-align: left; padding: 0.2rem 0.4rem; vertical-align: top; }
  tr.walked td:first-child { color: #b45309; font-weight: 700; }
  tr.refused td { background: #fef2f2; } tr.refused td:first-child { color: #b91c1c; }
  tr.ignored td { color: #9ca3af; }
  td { overflow-wrap: anywhere; } td.transition { font-family: ui-monospace, monospace; font-size: 11px; }
  .payload { font-family: ui-monospace, monospace; font-size: 10px; color: #6b7280; word-break: break-all; }
  .empty { color: #6b7280; font-style: italic; }
</style>
</head>
<body>
<aside>
  <h1>gatehouse machines</h1>
  <h2>Live connections</h2>
  <ul id="live"><li class="empty">none</li></ul>
  <h2>Recently ended</h2>
  <ul id="ended"><li class="empty">none</li></ul>
</aside>
<main>
  <div id="title" class="empty">Select a connection.</div>
  <div id="flow"></div>
  <div id="side">
    <div id="verdict" class="empty">The handshake flow of the selected connection is drawn on the left.</div>
    <div id="machine"></div>
    <p class="caption">The whole machine: the walked transitions numbered like the journal rows, the rest dimmed.</p>
    <table id="journal"></table>
  </div>
</main>
<script>
${VIEWER_SCRIPT}
</script>
</body>
</html>
`;
