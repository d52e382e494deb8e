// Approvals waiting for the signed-in user across runs: each INPUT node's form and buttons.
// Answering is the API's call: a refusal or a problem is shown where the answer was given.
import { ApiError, enc, get, post } from './api.js';
import { h, link, when, fill } from './dom.js';
import { makeControl } from './form.js';

export async function approvalsPage(ctx) {
  const { approvals } = await get('/v1/approvals');
  // What each approval asks, as its node rendered it (`description`), read from the run.
  const asked = await Promise.all(approvals.map(async (a) => {
    try {
      const { run } = await get(`/v1/workflows/runs/${enc(a.run.identifier)}`);
      const n = run.nodeRuns.find((x) => x.identifier === a.nodeRun.identifier);
      return n && n.output && typeof n.output.description === 'string' ? n.output.description : null;
    } catch { return null; }
  }));
  if (ctx.stale()) return;
  approvals.forEach((a, i) => { a.description = asked[i]; });
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite' });
  const list = h('ul', { class: 'approvals' }, approvals.map((a) => item(a, live)));
  fill(ctx.main,
    h('h1', {}, 'Approvals waiting for me'),
    approvals.length ? list : h('p', { class: 'muted' }, 'Nothing is waiting for you.'),
    live);
}

function item(a, live) {
  const props = (a.userInputs && a.userInputs.properties) || {};
  const required = Array.isArray(a.userInputs && a.userInputs.required) ? a.userInputs.required : [];
  const base = `ap-${a.nodeRun.identifier}`;
  const controls = Object.entries(props).map(([key, schema]) => {
    const c = makeControl(`${base}-${key}`, schema, { users: [], teams: [] });
    c.el.id = `${base}-${key}`;
    const err = h('p', { class: 'error', id: `${base}-${key}-err`, hidden: true });
    return {
      key, c, err,
      wrap: h('div', { class: 'field' },
        h('label', { for: c.el.id }, schema.title || key, required.includes(key) ? h('span', { class: 'req' }, ' (required)') : null),
        h('div', { class: 'row' }, c.el, c.extra), err),
    };
  });
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const li = h('li', { class: 'card approval', 'data-run': a.run.identifier, 'data-node': a.node.identifier });
  const answer = async (button) => {
    message.hidden = true;
    const inputs = {};
    for (const { key, c, err } of controls) {
      err.hidden = true;
      c.el.removeAttribute('aria-invalid');
      const v = c.read();
      if (v !== undefined) inputs[key] = v;
    }
    try {
      await post(`/v1/workflows/runs/${enc(a.run.identifier)}/nodes/${enc(a.node.identifier)}/responses`, { button: button.identifier, inputs });
      fill(li, h('p', {}, `You answered “${button.title || button.identifier}” on `, link(`/ui/runs/${enc(a.run.identifier)}`, a.run.identifier), '.'));
      li.classList.add('answered');
      live.textContent = `Answered ${button.title || button.identifier}`;
    } catch (e) {
      message.hidden = false;
      message.textContent = e.message;
      if (e instanceof ApiError) {
        for (const p of e.problems) {
          const m = /^\/inputs\/([^/]+)/.exec(p.pointer || '');
          const f = m && controls.find((c) => c.key === m[1]);
          if (!f) continue;
          f.err.hidden = false;
          f.err.textContent = p.message;
          f.c.el.setAttribute('aria-invalid', 'true');
          f.c.el.setAttribute('aria-describedby', f.err.id);
        }
      }
    }
  };
  li.append(
    h('h2', {}, a.node.title || a.node.identifier, ' ', h('span', { class: 'muted' }, `in ${a.run.workflow.identifier}`)),
    a.description ? h('p', { class: 'asked' }, a.description) : null,
    h('p', {}, 'Run ', link(`/ui/runs/${enc(a.run.identifier)}`, a.run.identifier),
      a.run.createdBy ? `, started by ${a.run.createdBy}` : '', ', waiting since ', when(a.nodeRun.createdAt),
      a.responses ? ` · ${a.responses} answer${a.responses === 1 ? '' : 's'} so far` : ''),
    controls.map((c) => c.wrap),
    message,
    h('div', { class: 'actions' }, a.buttons.map((b, i) => h('button', {
      type: 'button', class: i === 0 ? 'primary' : 'secondary', onclick: () => answer(b),
    }, b.title || b.identifier))));
  return li;
}
