/**
 * The viewer page's script (plain browser JavaScript, inlined by viewer-page.ts). It polls the
 * connection list, and for the selected connection inserts the server-drawn flow SVG, writes the
 * verdict panel, and marks the walked edges on the whole machine's diagram: an edge is found by its
 * `data-from`, `data-to` and `data-label`, which the flow carries exactly as mermaid.ts wrote them.
 */
export const VIEWER_SCRIPT = String.raw`
(() => {
  const svgCache = {};
  const query = new URLSearchParams(location.search);
  let selected = query.get('connection') || location.hash.slice(1) || null;
  let shown = { machine: null, flowSvg: null, marked: null };
  const text = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const $ = (id) => document.getElementById(id);
  const leaf = (state) => state.split('.').pop();

  function item(c) {
    const why = c.failure ? '<div class="failure">' + text(c.failure.reason + (c.failure.sqlstate ? ' ' + c.failure.sqlstate : '') + ': ' + c.failure.message) + '</div>' : '';
    return '<li data-id="' + text(c.id) + '"' + (c.id === selected ? ' class="selected"' : '') + '><span class="id">' + text(c.id) +
      '</span> <span class="state">' + text(c.machine) + ' · ' + text(c.state) + '</span>' + why + '</li>';
  }

  async function svgFor(machine) {
    if (!svgCache[machine]) svgCache[machine] = await (await fetch('/machines/diagram/' + machine + '.svg')).text();
    return svgCache[machine];
  }

  function verdict(c) {
    const r = c.flow.refusal;
    const box = $('verdict');
    if (r) {
      const f = r.failure;
      box.className = 'refused';
      box.innerHTML = '<h2>Refused at row ' + r.seq + ' on ' + text(r.event) + '</h2>' +
        (r.guard
          ? '<div>by guard <span class="refusing-guard" id="refusing-guard">' + text(r.guard) + '</span></div>'
          : '<div>by the event <span class="refusing-guard" id="refusing-event">' + text(r.event) + '</span> itself (its transition has no guard)</div>') +
        (f ? '<div><code id="refusal-sqlstate">' + text(f.sqlstate || 'no SQLSTATE') + '</code> <code>' + text(f.reason) + '</code>: ' + text(f.message) + '</div>' : '');
      return;
    }
    const walked = c.flow.steps.filter((s) => s.transition).length;
    box.className = 'ok';
    box.innerHTML = '<h2>' + (c.flow.status === 'active' ? 'Now in ' : 'Ended in ') + '<code>' + text(c.flow.state) + '</code></h2>' +
      '<div>' + walked + ' transition' + (walked === 1 ? '' : 's') + ' walked, from <code>' + text(c.flow.initial) + '</code></div>';
  }

  /** The whole machine fitted to its frame, walked edges numbered and the rest dimmed. */
  function markMachine(holder, c) {
    const svg = holder.querySelector('svg');
    if (!svg) return;
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    holder.classList.add('flow');
    holder.querySelectorAll('.walked, .visited, .refused, .dimmed').forEach((el) => el.classList.remove('walked', 'visited', 'refused', 'dimmed'));
    holder.querySelectorAll('.step-badge').forEach((el) => el.remove());
    holder.querySelectorAll('g.active').forEach((g) => g.classList.remove('active'));
    for (const id of c.activeStates) holder.querySelectorAll('g[data-id="' + CSS.escape(id) + '"]').forEach((g) => g.classList.add('active'));
    const edges = [...holder.querySelectorAll('polyline.edge, g.edge-label')];
    const steps = new Map();
    for (const step of c.flow.steps) {
      const t = step.transition;
      if (!t) continue;
      const refused = c.flow.refusal && c.flow.refusal.seq === step.seq;
      for (const id of [t.source, ...t.targets]) holder.querySelectorAll('g.node[data-id="' + CSS.escape(id) + '"]').forEach((g) => g.classList.add('visited'));
      for (const to of t.targets) {
        for (const el of edges) {
          if (el.getAttribute('data-from') !== t.source || el.getAttribute('data-to') !== to || el.getAttribute('data-label') !== t.label) continue;
          el.classList.add('walked');
          if (refused) el.classList.add('refused');
          if (!steps.has(el)) steps.set(el, []);
          steps.get(el).push(step.seq);
        }
      }
    }
    for (const el of holder.querySelectorAll('polyline.edge, g.edge-label, g.node')) el.classList.toggle('dimmed', !el.matches('.walked, .visited, .active'));
    const viewBox = svg.viewBox.baseVal;
    const scale = svg.getBoundingClientRect().width / (viewBox && viewBox.width ? viewBox.width : 1) || 1;
    const r = 9 / Math.min(scale, 1);
    for (const [el, seqs] of steps) {
      el.setAttribute('data-steps', seqs.join(','));
      const rect = el.tagName === 'g' ? el.querySelector('rect') : null;
      if (!rect) continue;
      const badge = document.createElementNS('http://www.w3.org/2000/svg', 'g');
      badge.setAttribute('class', 'step-badge' + (el.classList.contains('refused') ? ' refused' : ''));
      const cx = Number(rect.getAttribute('x')) - r;
      const cy = Number(rect.getAttribute('y')) + Number(rect.getAttribute('height')) / 2;
      badge.innerHTML = '<circle cx="' + cx + '" cy="' + cy + '" r="' + r * (seqs.length > 1 ? 1.6 : 1) + '"/>' +
        '<text x="' + cx + '" y="' + (cy + r * 0.45) + '" text-anchor="middle" font-size="' + r * 1.3 + '">' + seqs.join(',') + '</text>';
      svg.appendChild(badge);
    }
  }

  function journal(c) {
    const bySeq = new Map(c.flow.steps.map((s) => [s.seq, s]));
    const refusedSeq = c.flow.refusal ? c.flow.refusal.seq : null;
    $('journal').innerHTML = '<tr><th>#</th><th>event</th><th>transition</th></tr>' +
      c.entries.map((e) => {
        const { type, ...payload } = e.event;
        const s = bySeq.get(e.seq);
        const cls = !s || !s.transition ? 'ignored' : s.seq === refusedSeq ? 'walked refused' : 'walked';
        const move = !s ? 'after the final state' : !s.transition ? 'ignored' : '→ ' + leaf(s.to) + (s.transition.guard ? ' [' + s.transition.guard + ']' : '');
        const facts = Object.keys(payload).length ? '<div class="payload">' + text(JSON.stringify(payload)) + '</div>' : '';
        return '<tr class="' + cls + '" data-seq="' + e.seq + '" title="' + new Date(e.at).toISOString().slice(11, 23) + '"><td>' + e.seq + '</td><td>' + text(type) + facts +
          '</td><td class="transition">' + text(move) + '</td></tr>';
      }).join('');
  }

  async function showSelected() {
    if (!selected) return;
    const res = await fetch('/machines/api/connections/' + encodeURIComponent(selected));
    if (!res.ok) {
      $('title').textContent = 'No connection ' + selected + ' (it may have left the journal ring).';
      return;
    }
    const c = await res.json();
    $('title').className = '';
    $('title').innerHTML = '<h1>' + text(c.id) + ' — ' + text(c.machine) + ' — <span class="state" id="current-state">' +
      text(c.state) + '</span> (' + (c.live ? 'live' : 'ended') + ')</h1>';
    if (shown.flowSvg !== c.flowSvg) {
      const frame = $('flow');
      frame.innerHTML = c.flowSvg;
      shown.flowSvg = c.flowSvg;
      const natural = frame.querySelector('svg').viewBox.baseVal;
      frame.classList.toggle('tall', natural.height * Math.min(1, frame.clientWidth / natural.width) > 2 * frame.clientHeight);
    }
    verdict(c);
    const holder = $('machine');
    if (shown.machine !== c.machine) {
      holder.innerHTML = await svgFor(c.machine);
      shown.machine = c.machine;
      shown.marked = null;
    }
    const key = c.id + ' ' + c.flowSvg.length + ' ' + c.activeStates.join(' ');
    if (shown.marked !== key) {
      markMachine(holder, c);
      shown.marked = key;
    }
    journal(c);
  }

  async function refresh() {
    try {
      const data = await (await fetch('/machines/api/connections')).json();
      if (!selected && data.live.length > 0) selected = data.live[0].id;
      for (const key of ['live', 'ended']) {
        $(key).innerHTML = data[key].length ? data[key].map(item).join('') : '<li class="empty">none</li>';
      }
      await showSelected();
    } catch (err) {
      $('title').textContent = 'gatehouse is not answering: ' + err;
    }
  }

  document.querySelector('aside').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-id]');
    if (!li) return;
    selected = li.dataset.id;
    history.replaceState(null, '', '?connection=' + encodeURIComponent(selected));
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
})();
`;
