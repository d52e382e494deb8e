// The catalog, read-only: blueprints, their entities, and one entity.
import { enc, get } from './api.js';
import { h, link, pre, when, fill } from './dom.js';
import { triggers } from './hub.js';

export async function catalogPage(ctx) {
  const { blueprints } = await get('/v1/blueprints');
  if (ctx.stale()) return;
  fill(ctx.main, h('h1', {}, 'Catalog'),
    blueprints.length
      ? h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Blueprint'), h('th', { scope: 'col' }, 'Identifier'), h('th', { scope: 'col' }, 'Properties'))),
        h('tbody', {}, blueprints.map((b) => h('tr', {},
          h('td', {}, link(`/ui/catalog/${enc(b.identifier)}`, b.title || b.identifier)),
          h('td', {}, h('code', {}, b.identifier)),
          h('td', {}, Object.keys((b.schema && b.schema.properties) || {}).join(', '))))))
      : h('p', { class: 'muted' }, 'The catalog has no blueprints.'));
}

export async function blueprintPage(ctx, bp) {
  const [{ blueprint }, { entities }] = await Promise.all([
    get(`/v1/blueprints/${enc(bp)}`), get(`/v1/blueprints/${enc(bp)}/entities`)]);
  if (ctx.stale()) return;
  const props = Object.keys((blueprint.schema && blueprint.schema.properties) || {});
  fill(ctx.main,
    h('p', { class: 'crumbs' }, link('/ui/catalog', 'Catalog')),
    h('h1', {}, blueprint.title || blueprint.identifier),
    entities.length
      ? h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Entity'), props.map((p) => h('th', { scope: 'col' }, p)), h('th', { scope: 'col' }, 'Updated'))),
        h('tbody', {}, entities.map((e) => h('tr', {},
          h('td', {}, link(`/ui/catalog/${enc(bp)}/${enc(e.identifier)}`, e.title || e.identifier)),
          props.map((p) => h('td', {}, show((e.properties || {})[p]))),
          h('td', {}, when(e.updatedAt))))))
      : h('p', { class: 'muted' }, 'No entities.'));
}

/** The self-service triggers of `workflows` that start from an entity of blueprint `bp` (a
 * form with an ENTITY context whose input is of that blueprint). */
function dayTwo(workflows, bp) {
  const out = [];
  for (const wf of workflows) {
    for (const t of triggers(wf)) {
      const props = (t.config.userInputs && t.config.userInputs.properties) || {};
      for (const c of t.config.contexts || []) {
        const input = c.on === 'ENTITY' && props[c.userInput];
        const of = input && (input.blueprint || (input.items && input.items.blueprint));
        if (of === bp) out.push({ wf, t });
      }
    }
  }
  return out;
}

export async function entityPage(ctx, bp, id) {
  const [{ entity }, { workflows }] = await Promise.all([
    get(`/v1/blueprints/${enc(bp)}/entities/${enc(id)}`), get('/v1/workflows')]);
  if (ctx.stale()) return;
  const actions = dayTwo(workflows || [], bp);
  fill(ctx.main,
    h('p', { class: 'crumbs' }, link('/ui/catalog', 'Catalog'), ' / ', link(`/ui/catalog/${enc(bp)}`, bp)),
    h('h1', {}, entity.title || entity.identifier),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Identifier'), h('dd', {}, h('code', {}, entity.identifier)),
      h('dt', {}, 'Created'), h('dd', {}, when(entity.createdAt)),
      h('dt', {}, 'Updated'), h('dd', {}, when(entity.updatedAt)),
      Object.entries(entity.properties || {}).map(([k, v]) => [h('dt', {}, k), h('dd', {}, show(v))])),
    actions.length
      ? [h('h2', {}, 'Run on this entity'),
        h('ul', { class: 'actions' }, actions.map(({ wf, t }) => h('li', {},
          link(`/ui/workflows/${enc(wf.identifier)}?trigger=${enc(t.identifier)}&entity=${enc(entity.identifier)}`,
            t.config.actionCardButtonText || t.title || wf.title || wf.identifier))))]
      : null,
    h('h2', {}, 'As JSON'), pre(entity));
}

function show(v) {
  if (v === undefined || v === null) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
