/** The viewer's single page: inline CSS and script, no external resource of any kind. */
export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gatehouse — machines</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1f2937; display: grid; grid-template-columns: 22rem 1fr; height: 100vh; }
  aside { border-right: 1px solid #e5e7eb; overflow: auto; padding: 0.75rem; }
  main { overflow: auto; padding: 0.75rem; }
  h1 { font-size: 1.1rem; margin: 0 0 0.5rem; }
  h2 { font-size: 0.95rem; margin: 1rem 0 0.25rem; color: #4b5563; }
  ul { list-style: none; padding: 0; margin: 0; }
  li { padding: 0.3rem 0.4rem; border-radius: 4px; cursor: pointer; }
  li:hover { background: #f3f4f6; }
  li.selected { background: #fef3c7; }
  .id { font-weight: 600; }
  .state { font-family: ui-monospace, monospace; font-size: 12px; color: #374151; }
  .failure { color: #b91c1c; font-size: 12px; }
  #diagram { border: 1px solid #e5e7eb; overflow: auto; max-height: 60vh; }
  #diagram svg { height: auto; }
  #diagram g.active > rect { fill: #fde68a !important; stroke: #b45309 !important; stroke-width: 3px !important; }
  #diagram g.subgraph.active > rect:first-of-type { fill: #fffbeb !important; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 0.5rem; }
  td, th { border-bottom: 1px solid #f3f4f6; text-align: left; padding: 0.2rem 0.4rem; vertical-align: top; }
  td.payload { font-family: ui-monospace, monospace; word-break: break-all; }
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
  <div id="diagram"></div>
  <table id="journal"></table>
</main>
<script>
(() => {
  const svgCache = {};
  let selected = location.hash.slice(1) || null;
  let shownMachine = null;
  let shownLeaf = null;
  const text = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

  function item(c) {
    const why = c.failure ? '<div class="failure">' + text(c.failure.reason + (c.failure.sqlstate ? ' ' + c.failure.sqlstate : '') + ': ' + c.failure.message) + '</div>' : '';
    return '<li data-id="' + text(c.id) + '"' + (c.id === selected ? ' class="selected"' : '') + '><span class="id">' + text(c.id) +
      '</span> <span class="state">' + text(c.machine) + ' · ' + text(c.state) + '</span>' + why + '</li>';
  }

  async function svgFor(machine) {
    if (!svgCache[machine]) svgCache[machine] = await (await fetch('/machines/diagram/' + machine + '.svg')).text();
    return svgCache[machine];
  }

  async function showSelected() {
    if (!selected) return;
    const res = await fetch('/machines/api/connections/' + encodeURIComponent(selected));
    if (!res.ok) return;
    const c = await res.json();
    document.getElementById('title').className = '';
    document.getElementById('title').innerHTML = '<h1>' + text(c.id) + ' — ' + text(c.machine) + ' — <span class="state" id="current-state">' +
      text(c.state) + '</span> (' + (c.live ? 'live' : 'ended') + ')</h1>';
    const holder = document.getElementById('diagram');
    if (shownMachine !== c.machine) {
      holder.innerHTML = await svgFor(c.machine);
      shownMachine = c.machine;
    }
    holder.querySelectorAll('g.active').forEach((g) => g.classList.remove('active'));
    for (const id of c.activeStates) holder.querySelectorAll('g[data-id="' + CSS.escape(id) + '"]').forEach((g) => g.classList.add('active'));
    const leaf = holder.querySelector('g.node.active');
    if (leaf && leaf.dataset.id !== shownLeaf) {
      leaf.scrollIntoView({ block: 'center', inline: 'center' });
      shownLeaf = leaf.dataset.id;
    }
    document.getElementById('journal').innerHTML = '<tr><th>#</th><th>time</th><th>event</th><th>payload</th></tr>' +
      c.entries.map((e) => {
        const { type, ...payload } = e.event;
        return '<tr><td>' + e.seq + '</td><td>' + new Date(e.at).toISOString().slice(11, 23) + '</td><td>' + text(type) +
          '</td><td class="payload">' + text(JSON.stringify(payload)) + '</td></tr>';
      }).join('');
  }

  async function refresh() {
    try {
      const data = await (await fetch('/machines/api/connections')).json();
      if (!selected && data.live.length > 0) selected = data.live[0].id;
      for (const key of ['live', 'ended']) {
        document.getElementById(key).innerHTML = data[key].length ? data[key].map(item).join('') : '<li class="empty">none</li>';
      }
      await showSelected();
    } catch (err) {
      document.getElementById('title').textContent = 'gatehouse is not answering: ' + err;
    }
  }

  document.querySelector('aside').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-id]');
    if (!li) return;
    selected = li.dataset.id;
    location.hash = selected;
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
})();
</script>
</body>
</html>
`;
