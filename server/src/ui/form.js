// A self-service form, rendered from the trigger's `userInputs` with Port's semantics. What jq
// decides (shown, disabled, required, choices, defaults, entity choices, step and title
// visibility) is asked of the server (POST /v1/workflows/{id}/form) as the user types, and a
// submit is checked by the server alone: its 422 problems are shown at the fields they name.
import { ApiError, enc, get, post } from './api.js';
import { h, navigate, fill } from './dom.js';
import { icon, triggers } from './hub.js';
import { refusal } from './app.js';

/** Port's colour names for `enumColors`, as CSS colours with enough contrast for a swatch. */
const COLORS = {
  blue: '#1d4ed8', turquoise: '#0d9488', orange: '#c2410c', purple: '#7e22ce', pink: '#be185d',
  yellow: '#a16207', green: '#15803d', red: '#b91c1c', gold: '#a16207', silver: '#6b7280',
  paleBlue: '#3b82f6', darkGray: '#374151', lightGray: '#9ca3af', bronze: '#92400e', lime: '#4d7c0f',
  olive: '#556b2f', brown: '#78350f',
};

export async function formPage(ctx, id) {
  const wanted = new URLSearchParams(location.search).get('trigger');
  const { workflow } = await get(`/v1/workflows/${enc(id)}`);
  if (ctx.stale()) return;
  const ts = triggers(workflow);
  const trigger = wanted ? ts.find((t) => t.identifier === wanted) : ts[0];
  if (!trigger) {
    throw new ApiError(404, { message: `workflow \`${id}\` has no published self-service trigger${wanted ? ` \`${wanted}\`` : ''}` });
  }
  const formats = Object.values((trigger.config.userInputs || {}).properties || {}).map((p) => p.format || (p.items && p.items.format));
  const people = formats.some((f) => f === 'user' || f === 'team') ? await directory(ctx.me) : { users: [], teams: [] };
  if (ctx.stale()) return;
  const view = new FormView(ctx, workflow, trigger, ts.length > 1, people);
  await view.refresh(true);
  if (ctx.stale()) return;
  const from = new URLSearchParams(location.search).get('entity');
  if (from) await view.startFrom(from);
  if (ctx.stale()) return;
  view.mount();
}

/** Suggestions for user and team pickers: the signed-in user, and the catalog's `_user` and
 * `_team` entities when there are such blueprints. */
async function directory(me) {
  const { blueprints } = await get('/v1/blueprints');
  const known = new Set(blueprints.map((b) => b.identifier));
  const ids = async (bp) => {
    if (!known.has(bp)) return [];
    try {
      const { entities } = await get(`/v1/blueprints/${bp}/entities`);
      return (entities || []).map((e) => e.identifier);
    } catch { return []; }
  };
  const [users, teams] = await Promise.all([ids('_user'), ids('_team')]);
  const u = me.user || {};
  return {
    users: [...new Set([u.email, ...users].filter(Boolean))],
    teams: [...new Set([...(u.teams || []), ...teams])],
  };
}

class FormView {
  constructor(ctx, workflow, trigger, named, people) {
    this.ctx = ctx;
    this.workflow = workflow;
    this.trigger = trigger;
    this.named = named;
    this.people = people;
    this.ui = trigger.config.userInputs || { properties: {} };
    this.props = this.ui.properties || {};
    this.touched = new Set();
    this.state = null;
    this.seq = 0;
    this.timer = null;
    this.fields = {};
    this.step = 0;
    this.steps = this.layout();
    for (const s of this.steps) for (const k of s.keys) if (this.props[k]) this.fields[k] = this.field(k, this.props[k]);
  }

  /** The steps (one untitled step for a form without them), each with its keys in order. */
  layout() {
    const all = Object.keys(this.props);
    const titles = Object.keys(this.ui.titles || {});
    let steps;
    if (Array.isArray(this.ui.steps) && this.ui.steps.length) {
      steps = this.ui.steps.map((s) => ({ title: s.title, keys: [...(s.order || [])], checks: (s.validations || []).map((v) => v.message) }));
    } else {
      steps = [{ title: null, keys: [...(this.ui.order || [])] }];
    }
    const placed = new Set(steps.flatMap((s) => s.keys));
    for (const k of [...all, ...titles]) if (!placed.has(k)) steps[steps.length - 1].keys.push(k);
    return steps;
  }

  path() { return `/v1/workflows/${enc(this.workflow.identifier)}`; }

  /** A run started from a catalog entity: it fills the input of the trigger's ENTITY context. */
  async startFrom(entity) {
    const context = (this.trigger.config.contexts || []).find((c) => c.on === 'ENTITY' && c.userInput);
    const f = context && this.fields[context.userInput];
    if (!f) return;
    f.write(f.schema.type === 'array' ? [entity] : entity);
    this.touched.add(f.key);
    await this.refresh(false);
  }

  body() {
    const b = { inputs: this.values() };
    if (this.named) b.nodeIdentifier = this.trigger.identifier;
    return b;
  }

  /** The values as the form shows them, disabled inputs and empty ones left out. */
  values() {
    const out = {};
    for (const [k, f] of Object.entries(this.fields)) {
      const st = this.state && this.state.inputs[k];
      if (st && st.disabled) continue;
      const v = f.read();
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  /** Asks the server for the form's state for the values typed so far and applies it. */
  async refresh(first) {
    const mine = ++this.seq;
    let answer;
    try {
      answer = await post(`${this.path()}/form`, this.body());
    } catch (e) {
      if (first) throw e;
      if (mine === this.seq) this.status(`The form could not be updated: ${e.message}`);
      return;
    }
    if (mine !== this.seq || this.ctx.stale()) return;
    this.state = answer.form;
    this.apply();
  }

  later() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(false), 150);
  }

  status(text) { if (this.live) this.live.textContent = text; }

  field(key, schema) {
    const id = `in-${key}`;
    const help = schema.description ? h('p', { id: `help-${key}`, class: 'help' }, schema.description) : null;
    const err = h('p', { id: `err-${key}`, class: 'error', hidden: true });
    const note = h('p', { class: 'note', hidden: true });
    const mark = h('span', { class: 'req', hidden: true }, ' (required)');
    const control = makeControl(key, schema, this.people);
    const input = control.el;
    input.id = id;
    input.dataset.key = key;
    if (help) input.setAttribute('aria-describedby', help.id);
    const onChange = () => { this.touched.add(key); this.clearError(key); control.changed(); this.later(); };
    input.addEventListener('input', onChange);
    input.addEventListener('change', onChange);
    const label = h('label', { for: id }, schema.title || key, mark);
    const wrap = schema.type === 'boolean'
      ? h('div', { class: 'field check', id: `f-${key}` }, h('div', { class: 'row' }, input, label), help, note, err)
      : h('div', { class: 'field', id: `f-${key}` }, label, help, h('div', { class: 'row' }, input, control.extra), note, err);
    return { key, schema, wrap, input, err, help, note, mark, ...control };
  }

  /** Applies the server's state: visibility, disabled, required, choices, defaults. */
  apply() {
    const st = this.state;
    for (const [k, f] of Object.entries(this.fields)) {
      const s = st.inputs[k];
      if (!s) continue;
      f.wrap.hidden = !s.visible;
      // Port's `dependsOn`: the input waits until the inputs it names have a value.
      const waits = (f.schema.dependsOn || []).filter((d) => this.fields[d] && this.fields[d].read() === undefined);
      f.input.disabled = !!s.disabled || waits.length > 0;
      f.input.title = waits.length ? `Fill in ${waits.map((d) => this.props[d].title || d).join(', ')} first` : '';
      if (s.readOnly) f.input.setAttribute('readonly', '');
      else f.input.removeAttribute('readonly');
      f.mark.hidden = !s.required;
      f.input.setAttribute('aria-required', s.required ? 'true' : 'false');
      if (s.entities) f.options(s.entities.map((e) => ({ value: e.identifier, text: e.title ? `${e.title} (${e.identifier})` : e.identifier })));
      else if (s.enum) f.options(s.enum.map((v) => ({ value: v, text: typeof v === 'string' ? v : JSON.stringify(v) })));
      if (!this.touched.has(k) && s.default !== undefined) f.write(s.default);
      f.note.hidden = !(s.errors && s.errors.length);
      f.note.textContent = s.errors && s.errors.length ? `This input could not be computed: ${s.errors.join('; ')}` : '';
    }
    const titles = st.titles || {};
    for (const el of this.ctx.main.querySelectorAll('[data-title]')) el.hidden = titles[el.dataset.title] === false;
    if (this.sections) this.showStep(this.visibleStep(this.step), false);
  }

  stepShown(i) { return !this.state || this.state.steps[i] !== false; }

  visibleStep(i) {
    if (this.stepShown(i)) return i;
    for (let j = i + 1; j < this.steps.length; j++) if (this.stepShown(j)) return j;
    for (let j = i - 1; j >= 0; j--) if (this.stepShown(j)) return j;
    return 0;
  }

  neighbour(dir) {
    for (let j = this.step + dir; j >= 0 && j < this.steps.length; j += dir) if (this.stepShown(j)) return j;
    return -1;
  }

  mount() {
    const wf = this.workflow;
    const cfg = this.trigger.config;
    this.live = h('p', { class: 'sr-only', 'aria-live': 'polite' });
    this.summary = h('div', { id: 'problems', class: 'problems', role: 'alert', tabindex: '-1', hidden: true });
    this.stepErrors = this.steps.map((_, i) => h('p', { class: 'error step-error', id: `step-err-${i}`, hidden: true }));
    this.sections = this.steps.map((s, i) => h('fieldset', { class: 'step', 'data-step': String(i) },
      s.title ? h('legend', {}, s.title) : h('legend', { class: 'sr-only' }, wf.title || wf.identifier),
      this.stepErrors[i],
      s.keys.map((k) => this.fields[k] ? this.fields[k].wrap : this.title(k))));
    this.progress = this.steps.length > 1
      ? h('ol', { class: 'progress', 'aria-label': 'Steps' }, this.steps.map((s, i) => h('li', { 'data-step': String(i) }, s.title || `Step ${i + 1}`)))
      : null;
    this.back = h('button', { type: 'button', class: 'secondary', onclick: () => this.go(-1) }, 'Back');
    this.next = h('button', { type: 'button', class: 'primary', onclick: () => this.go(1) }, 'Next');
    this.submit = h('button', { type: 'submit', class: 'primary' }, cfg.executeActionButtonText || 'Execute');
    this.formEl = h('form', { class: 'wf-form', novalidate: true, onsubmit: (e) => this.onSubmit(e) },
      this.summary, this.progress, this.sections, h('div', { class: 'actions' }, this.back, this.next, this.submit));
    fill(this.ctx.main,
      h('div', { class: 'page-head' }, icon(wf.icon, wf.title), h('h1', {}, wf.title || wf.identifier)),
      wf.description ? h('p', { class: 'desc' }, wf.description) : null,
      this.named ? h('p', { class: 'muted' }, `Trigger: ${this.trigger.title || this.trigger.identifier}`) : null,
      this.formEl, this.live);
    this.apply();
  }

  title(key) {
    const t = (this.ui.titles || {})[key];
    if (!t) return null;
    return h('div', { class: 'form-title', 'data-title': key }, h('h2', {}, t.title || key), t.description ? h('p', { class: 'help' }, t.description) : null);
  }

  showStep(i, focus) {
    this.step = i;
    this.sections.forEach((s, j) => { s.hidden = j !== i; });
    if (this.progress) {
      for (const li of this.progress.children) {
        const j = Number(li.dataset.step);
        li.hidden = !this.stepShown(j);
        if (j === i) li.setAttribute('aria-current', 'step');
        else li.removeAttribute('aria-current');
      }
    }
    this.back.hidden = this.neighbour(-1) < 0;
    const last = this.neighbour(1) < 0;
    this.next.hidden = last;
    this.submit.hidden = !last;
    if (focus) {
      const first = [...this.sections[i].querySelectorAll('input, select, textarea')].find((el) => !el.disabled && !el.closest('[hidden]'));
      if (first) first.focus();
      this.status(`Step ${i + 1}: ${this.steps[i].title || ''}`);
    }
  }

  go(dir) {
    const j = this.neighbour(dir);
    if (j >= 0) this.showStep(j, true);
  }

  clearError(key) {
    const f = this.fields[key];
    if (!f || f.err.hidden) return;
    f.err.hidden = true;
    f.err.textContent = '';
    f.input.removeAttribute('aria-invalid');
    f.input.setAttribute('aria-describedby', f.help ? f.help.id : '');
    if (!f.help) f.input.removeAttribute('aria-describedby');
  }

  async onSubmit(e) {
    e.preventDefault();
    if (this.neighbour(1) >= 0) return this.go(1); // Enter on an earlier step moves on
    clearTimeout(this.timer);
    for (const k of Object.keys(this.fields)) this.clearError(k);
    this.summary.hidden = true;
    this.submit.disabled = true;
    this.status('Submitting…');
    try {
      const { run } = await post(`${this.path()}/runs`, this.body());
      navigate(`/ui/runs/${enc(run.identifier)}`);
    } catch (x) {
      this.submit.disabled = false;
      if (!(x instanceof ApiError) || x.status !== 422) return refusal(x);
      this.problems(x.problems);
    }
  }

  /** Shows each problem at the input its pointer names, and all of them in the summary. */
  problems(list) {
    let first = null;
    let firstStep = -1;
    for (const e of this.stepErrors) { e.hidden = true; e.textContent = ''; }
    const items = list.map((p) => {
      const m = /^\/inputs\/([^/]+)/.exec(p.pointer || '');
      const key = m ? m[1].replace(/~1/g, '/').replace(/~0/g, '~') : null;
      const f = key && this.fields[key];
      const text = p.message.replace(/^input `[^`]+`: /, '');
      if (!f) {
        // A step's validation is shown in its step too.
        const i = this.steps.findIndex((s) => (s.checks || []).includes(p.message));
        if (i < 0) return h('li', {}, p.message);
        const e = this.stepErrors[i];
        e.hidden = false;
        e.textContent = e.textContent ? `${e.textContent}; ${p.message}` : p.message;
        if (firstStep < 0) firstStep = i;
        return h('li', {}, h('a', { href: `#${e.id}`, onclick: (ev) => { ev.preventDefault(); this.showStep(i, true); } }, `${this.steps[i].title || 'Form'}: ${p.message}`));
      }
      f.err.hidden = false;
      f.err.textContent = f.err.textContent ? `${f.err.textContent}; ${text}` : text;
      f.input.setAttribute('aria-invalid', 'true');
      f.input.setAttribute('aria-describedby', [f.help && f.help.id, f.err.id].filter(Boolean).join(' '));
      if (!first) first = f;
      return h('li', {}, h('a', { href: `#${f.input.id}`, onclick: (ev) => { ev.preventDefault(); this.reveal(f); } }, `${f.schema.title || key}: ${text}`));
    });
    fill(this.summary,
      h('h2', {}, list.length === 1 ? 'The server found 1 problem' : `The server found ${list.length} problems`),
      h('ul', {}, items));
    this.summary.hidden = false;
    if (first) this.reveal(first);
    else if (firstStep >= 0) this.showStep(firstStep, true);
    else this.summary.focus();
  }

  /** Goes to the step of field `f` and focuses it. */
  reveal(f) {
    const i = this.steps.findIndex((s) => s.keys.includes(f.key));
    if (i >= 0 && i !== this.step) this.showStep(i, false);
    f.input.focus();
  }
}

/** The control of an input: its element, how to read and write it, and its choices. */
export function makeControl(key, schema, people) {
  const type = schema.type || 'string';
  const format = schema.format;
  const items = schema.items || {};
  const isEntity = format === 'entity' || (type === 'array' && items.format === 'entity');
  const hasEnum = schema.enum !== undefined || (type === 'array' && items.enum !== undefined);
  if (isEntity || hasEnum) return choice(schema, type === 'array');
  if (type === 'boolean') {
    const el = h('input', { type: 'checkbox' });
    return {
      el, extra: null, changed() {}, options() {},
      read: () => el.checked,
      write: (v) => { el.checked = v === true; },
    };
  }
  if (type === 'number' || type === 'integer') {
    const el = h('input', { type: 'number', step: type === 'integer' ? '1' : 'any', inputmode: 'decimal' });
    if (schema.minimum !== undefined) el.min = schema.minimum;
    if (schema.maximum !== undefined) el.max = schema.maximum;
    return {
      el, extra: null, changed() {}, options() {},
      read: () => (el.value === '' ? undefined : Number(el.value)),
      write: (v) => { el.value = v === null || v === undefined ? '' : String(v); },
    };
  }
  if (type === 'array' || type === 'object') {
    const el = h('textarea', { rows: '4', spellcheck: 'false' });
    const lines = type === 'array' && ['string', 'number', 'integer', undefined].includes(items.type) && !items.properties;
    const hint = h('span', { class: 'hint' }, lines ? 'One item a line' : 'JSON');
    return {
      el, extra: hint, changed() {}, options() {},
      read: () => {
        const t = el.value.trim();
        if (!t) return undefined;
        if (lines) {
          const each = t.split('\n').map((s) => s.trim()).filter(Boolean);
          return items.type === 'number' || items.type === 'integer' ? each.map(Number) : each;
        }
        try { return JSON.parse(t); } catch { return t; }
      },
      write: (v) => {
        if (v === null || v === undefined) el.value = '';
        else el.value = lines && Array.isArray(v) ? v.join('\n') : JSON.stringify(v, null, 2);
      },
    };
  }
  // Strings, by format.
  let el;
  let toValue = (s) => s;
  let fromValue = (v) => (v === null || v === undefined ? '' : String(v));
  if (format === 'multi-line' || format === 'markdown' || format === 'yaml') {
    el = h('textarea', { rows: '4' });
  } else if (format === 'date-time') {
    el = h('input', { type: 'datetime-local' });
    toValue = (s) => { const d = new Date(s); return isNaN(d) ? s : d.toISOString(); };
    fromValue = (v) => {
      const d = new Date(v);
      if (!v || isNaN(d)) return '';
      return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    };
  } else if (format === 'date') {
    el = h('input', { type: 'date' });
  } else if (format === 'email' || format === 'user') {
    el = h('input', { type: 'email', autocomplete: 'off', list: `list-${key}` });
  } else if (format === 'url') {
    el = h('input', { type: 'url' });
  } else {
    el = h('input', { type: 'text', list: format === 'team' ? `list-${key}` : null });
  }
  if (schema.minLength !== undefined) el.minLength = schema.minLength;
  if (schema.maxLength !== undefined) el.maxLength = schema.maxLength;
  const suggestions = format === 'user' ? people.users : format === 'team' ? people.teams : null;
  const extra = suggestions ? h('datalist', { id: `list-${key}` }, suggestions.map((s) => h('option', { value: s }))) : null;
  return {
    el, extra, changed() {}, options() {},
    read: () => (el.value === '' ? undefined : toValue(el.value)),
    write: (v) => { el.value = fromValue(v); },
  };
}

/** A select (multiple for arrays) whose choices the server gives: an enum or entities. */
function choice(schema, many) {
  const el = h('select', { multiple: many || null });
  const colors = schema.enumColors || (schema.items && schema.items.enumColors) || null;
  const swatch = colors ? h('span', { class: 'swatch', 'aria-hidden': 'true' }) : null;
  let list = [];
  const key = (v) => JSON.stringify(v);
  const selected = () => [...el.selectedOptions].filter((o) => o.value !== '').map((o) => list[Number(o.value)].value);
  const paint = () => {
    if (!swatch) return;
    const [v] = selected();
    const c = typeof v === 'string' ? colors[v] : undefined;
    swatch.style.background = COLORS[c] || c || 'transparent';
    swatch.hidden = !c;
  };
  const control = {
    el, extra: swatch,
    changed: paint,
    options(next) {
      const keep = selected().map(key);
      list = next;
      fill(el,
        many ? null : h('option', { value: '' }, '— choose —'),
        next.map((o, i) => h('option', { value: String(i), selected: keep.includes(key(o.value)) || null }, o.text)));
      paint();
    },
    read: () => {
      const v = selected();
      if (many) return v.length ? v : undefined;
      return v.length ? v[0] : undefined;
    },
    write(v) {
      const want = (Array.isArray(v) && many ? v : [v]).map(key);
      for (const o of el.options) o.selected = o.value !== '' && want.includes(key(list[Number(o.value)].value));
      paint();
    },
  };
  const initial = Array.isArray(schema.enum) ? schema.enum : (schema.items && Array.isArray(schema.items.enum) ? schema.items.enum : []);
  control.options(initial.map((v) => ({ value: v, text: typeof v === 'string' ? v : JSON.stringify(v) })));
  return control;
}
