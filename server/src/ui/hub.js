// Self-service: the workflows the user may run, by category, as cards with Port's icon,
// title, description and button text.
import { get, enc } from './api.js';
import { h, link, fill } from './dom.js';

/** The published self-service triggers of a workflow (Port JSON). */
export function triggers(wf) {
  return (wf.nodes || []).filter((n) => n.config && n.config.type === 'SELF_SERVE_TRIGGER' && n.config.published !== false);
}

/** A workflow's icon: its initial on a colour derived from the icon's name (no icon font). */
export function icon(name, title) {
  const label = (name || title || '?').replace(/[^A-Za-z0-9]/g, '');
  let hash = 0;
  for (const c of label) hash = (hash * 31 + c.charCodeAt(0)) % 360;
  return h('span', { class: 'icon', 'aria-hidden': 'true', style: `background:hsl(${hash} 55% 32%)`, title: name || '' }, (label[0] || '?').toUpperCase());
}

export async function hubPage(ctx) {
  const { workflows } = await get('/v1/workflows');
  if (ctx.stale()) return;
  const runnable = workflows.filter((w) => triggers(w).length > 0);
  const byCategory = new Map();
  for (const w of runnable) {
    const c = w.category || 'Other';
    if (!byCategory.has(c)) byCategory.set(c, []);
    byCategory.get(c).push(w);
  }
  const sections = [...byCategory.keys()].sort().map((cat) => h('section', { class: 'category', 'aria-labelledby': `cat-${enc(cat)}` },
    h('h2', { id: `cat-${enc(cat)}` }, cat),
    h('ul', { class: 'cards' }, byCategory.get(cat).map(card))));
  fill(ctx.main,
    h('h1', {}, 'Self-service'),
    runnable.length
      ? sections
      : h('p', { class: 'muted' }, 'There are no workflows that you may run.'));
}

function card(w) {
  const ts = triggers(w);
  return h('li', { class: 'card', 'data-workflow': w.identifier },
    h('div', { class: 'card-head' }, icon(w.icon, w.title), h('h3', {}, w.title || w.identifier)),
    w.description ? h('p', { class: 'desc' }, w.description) : null,
    h('div', { class: 'card-actions' },
      ts.map((t) => {
        const href = ts.length > 1 ? `/ui/workflows/${enc(w.identifier)}?trigger=${enc(t.identifier)}` : `/ui/workflows/${enc(w.identifier)}`;
        const text = t.config.actionCardButtonText || t.title || 'Run';
        return link(href, text, h('span', { class: 'sr-only' }, `: ${w.title || w.identifier}`));
      }),
      link(`/ui/runs?workflow=${enc(w.identifier)}`, 'Runs', h('span', { class: 'sr-only' }, ` of ${w.title || w.identifier}`))));
}
