// Runs: the list (filtered by workflow, status and who started it) and a run's page with its
// graph, each node's live status (polled every 500 ms while the run goes on), a node's
// details, and cancel / retry / re-run as the API allows them.
import { ApiError, enc, get, getText, post, withQuery } from './api.js';
import { badge, h, link, navigate, pre, took, when, fill } from './dom.js';

const STATUSES = ['QUEUED', 'IN_PROGRESS', 'COMPLETED', 'SUCCESS', 'FAILED', 'CANCELLED'];

// Where a queued run stands: "Waiting for its turn: 2 runs ahead of it, 1 in progress
// (at most 1 at once)."
const queuePlace = (q) => {
  const runs = (n) => `${n} ${n === 1 ? 'run' : 'runs'}`;
  const ahead = q.ahead === 0 ? 'next in line' : `${runs(q.ahead)} ahead of it`;
  const limit = q.limit == null ? '' : ` (at most ${q.limit} at once)`;
  return `Waiting for its turn: ${ahead}, ${q.inProgress} in progress${limit}.`;
};
const POLL_MS = 500;
const CHUNK = 50;

export async function runsPage(ctx) {
  for (const m of ['runs:start', 'runs:fetched', 'runs:rendered']) performance.clearMarks(m);
  for (const m of ['runs-list', 'runs-render']) performance.clearMeasures(m);
  performance.mark('runs:start');
  const q = new URLSearchParams(location.search);
  const filters = { workflow: q.get('workflow') || '', status: q.get('status') || '', createdBy: q.get('createdBy') || '' };
  const limit = q.get('limit') || '1000';
  const [{ runs }, { workflows }] = await Promise.all([
    get(withQuery('/v1/workflows/runs', { ...filters, limit })),
    get('/v1/workflows'),
  ]);
  if (ctx.stale()) return;
  performance.mark('runs:fetched');
  const titles = new Map(workflows.map((w) => [w.identifier, w.title || w.identifier]));
  const apply = (e) => {
    e.preventDefault();
    const data = new FormData(e.target);
    navigate(withQuery('/ui/runs', Object.fromEntries(data.entries())));
  };
  const pick = (name, label, options) => h('div', { class: 'field inline' },
    h('label', { for: `filter-${name}` }, label),
    h('select', { id: `filter-${name}`, name },
      h('option', { value: '' }, 'any'),
      options.map(([v, t]) => h('option', { value: v, selected: filters[name] === v || null }, t))));
  const filterForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs', onsubmit: apply },
    pick('workflow', 'Workflow', workflows.map((w) => [w.identifier, w.title || w.identifier])),
    pick('status', 'Status', STATUSES.map((s) => [s, s.replace('_', ' ').toLowerCase()])),
    h('div', { class: 'field inline' },
      h('label', { for: 'filter-createdBy' }, 'Started by'),
      h('input', { id: 'filter-createdBy', name: 'createdBy', type: 'email', value: filters.createdBy, placeholder: 'email' })),
    h('button', { type: 'submit', class: 'secondary' }, 'Filter'));
  // A table in ARIA terms, its rows in groups of CHUNK that the browser lays out only when
  // they scroll into view (content-visibility), so a long list shows at once.
  const cell = (...c) => h('div', { role: 'cell' }, ...c);
  const groups = [];
  for (let at = 0; at < runs.length; at += CHUNK) {
    const group = h('div', { role: 'rowgroup', class: 'chunk' });
    const frag = document.createDocumentFragment();
    for (const r of runs.slice(at, at + CHUNK)) {
      frag.append(h('div', { role: 'row', class: 'run-row' },
        cell(link(`/ui/runs/${enc(r.identifier)}`, r.identifier)),
        cell(titles.get(r.workflow.identifier) || r.workflow.identifier),
        cell(badge(r.status, r.result)),
        cell(r.createdBy || '—'),
        cell(h('time', { datetime: r.createdAt }, when(r.createdAt))),
        cell(r.completedAt ? took(r.createdAt, r.completedAt) : '')));
    }
    group.append(frag);
    groups.push(group);
  }
  const table = runs.length
    ? h('div', { role: 'table', class: 'runs', 'aria-label': `${runs.length} runs, newest first`, 'aria-rowcount': String(runs.length + 1) },
      h('div', { role: 'rowgroup', class: 'head' }, h('div', { role: 'row', class: 'run-row' },
        ['Run', 'Workflow', 'Status', 'Started by', 'Started', 'Took'].map((t) => h('div', { role: 'columnheader' }, t)))),
      groups)
    : h('p', { class: 'muted' }, 'No runs match.');
  fill(ctx.main, h('h1', {}, 'Runs'), filterForm, h('p', { class: 'muted', id: 'run-count' }, `${runs.length} run${runs.length === 1 ? '' : 's'}`), table);
  requestAnimationFrame(() => {
    void ctx.main.offsetHeight; // style and layout done
    performance.mark('runs:rendered');
    performance.measure('runs-list', 'runs:start', 'runs:rendered');
    performance.measure('runs-render', 'runs:fetched', 'runs:rendered');
  });
}

/** The graph's class for a node run's state (as `wflow graph` draws a run). */
function nodeClass(n, finished, kind) {
  if (!n) return 'none';
  if (n.status === 'COMPLETED') return n.result === 'SUCCESS' ? 'succeeded' : 'failed';
  if (finished) return 'failed';
  return kind === 'approval' ? 'waiting' : 'running';
}

export async function runPage(ctx, id) {
  const path = `/v1/workflows/runs/${enc(id)}`;
  let { run } = await get(path);
  if (ctx.stale()) return;
  let workflow = null;
  try { ({ workflow } = await get(`/v1/workflows/${enc(run.workflow.identifier)}`)); } catch { /* a run the user may see of a workflow they may not run */ }
  if (ctx.stale()) return;
  const nodesOf = new Map(((workflow && workflow.nodes) || []).map((n) => [n.identifier, n]));
  const graphBox = h('div', { class: 'graph', role: 'group', 'aria-label': 'Graph of the run; each node is a button that shows its details' });
  const head = h('div', { class: 'run-head' });
  const actions = h('div', { class: 'actions' });
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const table = h('tbody');
  const panel = h('section', { class: 'panel', id: 'node-panel', 'aria-labelledby': 'node-title', hidden: true });
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  let selected = null;
  let timer = null;

  const loadGraph = async () => {
    const svg = await getText(`${path}/graph.svg`);
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    const el = doc.documentElement;
    if (el.nodeName !== 'svg') return;
    // The nodes are buttons: the drawing is a group of them, not an image.
    el.setAttribute('role', 'group');
    el.setAttribute('aria-label', `Graph of ${run.workflow.identifier}`);
    fill(graphBox, document.importNode(el, true));
    for (const g of graphBox.querySelectorAll('g.node')) {
      const node = g.dataset.node;
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      g.addEventListener('click', () => select(node));
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(node); }
      });
    }
  };

  const paint = () => {
    const finished = run.status === 'COMPLETED';
    const byNode = new Map(run.nodeRuns.map((n) => [n.node.identifier, n]));
    for (const g of graphBox.querySelectorAll('g.node')) {
      const n = byNode.get(g.dataset.node);
      const cls = nodeClass(n, finished, g.dataset.kind);
      for (const c of [...g.classList]) if (c.startsWith('status-')) g.classList.remove(c);
      g.classList.add(`status-${cls}`);
      g.dataset.status = cls;
      // The node's <title> names it (its title, identifier and kind, then its status).
      const label = g.querySelector(':scope > title');
      if (label) {
        if (!g.dataset.name) g.dataset.name = label.textContent.split('\n')[0].replace(/, (succeeded|failed|running|waiting|skipped)$/, '');
        label.textContent = `${g.dataset.name}, ${cls === 'none' ? 'not run' : cls}`;
      }
    }
    fill(head,
      h('p', {}, badge(run.status, run.result), ' ',
        run.createdBy ? `started by ${run.createdBy}` : 'started', ' ',
        h('time', { datetime: run.createdAt }, when(run.createdAt)),
        run.completedAt ? ` · took ${took(run.createdAt, run.completedAt)}` : ''),
      run.queue ? h('p', { class: 'queue' }, queuePlace(run.queue)) : null,
      run.error ? h('p', { class: 'error' }, typeof run.error === 'string' ? run.error : JSON.stringify(run.error)) : null);
    fill(table, ...run.nodeRuns.map((n) => h('tr', {},
      h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => select(n.node.identifier) }, (nodesOf.get(n.node.identifier) || {}).title || n.node.identifier)),
      h('td', {}, badge(n.status, n.result)),
      h('td', {}, h('time', { datetime: n.createdAt }, when(n.createdAt))),
      h('td', {}, took(n.createdAt, n.completedAt || (finished ? n.updatedAt : null))))));
    renderActions();
    if (selected) details(selected, false);
  };

  const select = (node) => { selected = node; details(node, true); };

  const details = (node, focus) => {
    const runs = run.nodeRuns.filter((n) => n.node.identifier === node);
    const n = runs[runs.length - 1];
    const def = nodesOf.get(node);
    const out = n && n.output;
    const upserted = out && out.blueprint && out.identifier && def && def.config && def.config.type === 'UPSERT_ENTITY';
    panel.hidden = false;
    fill(panel,
      h('h2', { id: 'node-title', tabindex: '-1' }, (def && def.title) || node, ' ', h('span', { class: 'muted' }, `(${node})`)),
      n ? h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', {}, badge(n.status, n.result)),
        h('dt', {}, 'Started'), h('dd', {}, when(n.createdAt)),
        h('dt', {}, 'Updated'), h('dd', {}, when(n.updatedAt)),
        h('dt', {}, 'Completed'), h('dd', {}, n.completedAt ? `${when(n.completedAt)} (took ${took(n.createdAt, n.completedAt)})` : '—'))
        : h('p', { class: 'muted' }, 'This node has not run.'),
      out && Array.isArray(out.responses) && out.responses.length ? [h('h3', {}, 'Answers'), h('ul', { class: 'answers' }, out.responses.map((r) => h('li', {},
        h('strong', {}, r.button), ' by ', (r.submitterInfo && r.submitterInfo.submittedBy) || 'someone', ' ',
        when(r.submitterInfo && r.submitterInfo.submittedAt))))] : null,
      upserted ? h('p', {}, 'Upserted ', link(`/ui/catalog/${enc(out.blueprint)}/${enc(out.identifier)}`, `${out.blueprint}/${out.identifier}`)) : null,
      // What the node sent, rendered and redacted; node runs recorded before wflow kept it,
      // and nodes without a side effect, show the node as written.
      n && n.request ? [h('h3', {}, 'Request (rendered)'), pre(n.request)]
        : def && def.config ? [h('h3', {}, 'Request (as written)'), pre(def.config)] : null,
      n ? [h('h3', {}, 'Output'), pre(n.output === undefined ? null : n.output)] : null,
      n ? [h('h3', {}, 'Logs'), n.logs && n.logs.length
        ? h('ol', { class: 'logs' }, n.logs.map((l) => h('li', { class: `log-${(l.logLevel || 'INFO').toLowerCase()}` },
          h('time', { datetime: l.createdAt }, when(l.createdAt)), ' ', h('strong', {}, l.logLevel || 'INFO'), ' ', l.log)))
        : h('p', { class: 'muted' }, 'No logs.')] : null);
    if (focus) panel.querySelector('#node-title').focus();
  };

  const act = async (what, fn) => {
    message.hidden = true;
    try {
      await fn();
    } catch (e) {
      message.hidden = false;
      message.textContent = `${what}: ${e instanceof ApiError ? e.message : String(e)}`;
    }
  };

  // Who the API lets cancel and retry: admins and the run's creator (the buttons of others
  // would only be refused).
  const me = ctx.me.user || {};
  const mayAct = () => !ctx.me.auth || me.admin
    || (!!run.createdBy && !!me.email && run.createdBy.toLowerCase() === me.email.toLowerCase());
  const renderActions = () => {
    const inProgress = run.status === 'IN_PROGRESS';
    const open = run.status !== 'COMPLETED';  // in progress, or queued behind a concurrency limit
    const failed = run.result === 'FAILED';
    const trigger = run.trigger && run.trigger.identifier;
    const selfServe = trigger && nodesOf.get(trigger) && nodesOf.get(trigger).config.type === 'SELF_SERVE_TRIGGER';
    fill(actions,
      open && mayAct() ? h('button', { type: 'button', class: 'danger', onclick: () => act('Cancel', async () => { ({ run } = await post(`${path}/cancel`)); paint(); }) }, 'Cancel run') : null,
      failed && mayAct() ? h('button', { type: 'button', class: 'secondary', onclick: () => act('Retry', async () => { ({ run } = await post(`${path}/retry`)); paint(); poll(); }) }, 'Retry from the failed node') : null,
      !open && selfServe ? h('button', { type: 'button', class: 'secondary', onclick: () => act('Re-run', async () => {
        const inputs = (run.variables && run.variables.outputs && run.variables.outputs[trigger]) || {};
        const { run: again } = await post(`/v1/workflows/${enc(run.workflow.identifier)}/runs`, { inputs, nodeIdentifier: trigger });
        navigate(`/ui/runs/${enc(again.identifier)}`);
      }) }, 'Re-run with the same inputs') : null,
      inProgress ? link('/ui/approvals', 'Approvals waiting for me') : null);
  };

  const poll = () => {
    clearTimeout(timer);
    if (run.status === 'COMPLETED') return;
    timer = setTimeout(async () => {
      if (ctx.stale()) return;
      try {
        const before = run.status;
        ({ run } = await get(path));
        if (ctx.stale()) return;
        paint();
        if (run.status === 'COMPLETED' && before !== 'COMPLETED') {
          live.textContent = `The run finished: ${(run.result || '').toLowerCase()}`;
          await loadGraph();
          paint();
        }
      } catch (e) {
        message.hidden = false;
        message.textContent = `Could not follow the run: ${e.message}`;
      }
      poll();
    }, POLL_MS);
  };
  ctx.onLeave(() => clearTimeout(timer));

  await loadGraph();
  if (ctx.stale()) return;
  fill(ctx.main,
    h('h1', {}, (workflow && workflow.title) || run.workflow.identifier, ' ', h('span', { class: 'muted run-id' }, run.identifier)),
    head, actions, message, graphBox,
    h('div', { class: 'split' },
      h('section', { 'aria-labelledby': 'nodes-title' },
        h('h2', { id: 'nodes-title' }, 'Nodes'),
        h('table', { class: 'nodes' },
          h('thead', {}, h('tr', {}, ['Node', 'Status', 'Started', 'Took'].map((t) => h('th', { scope: 'col' }, t)))),
          table)),
      panel),
    live);
  paint();
  poll();
}
