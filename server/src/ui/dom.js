// Small helpers to build the DOM without a framework. Text is always set as text, never HTML.

/** `h('a', {href}, 'text', child...)`: an element with attributes and children. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** A link inside the app: navigates without reloading (see `inApp`). */
export function link(href, ...children) {
  return h('a', { href }, ...children);
}

/** Follows a click on a link to a page of the UI without reloading. */
export function inApp(e) {
  const a = e.target.closest && e.target.closest('a[href^="/ui/"]');
  if (!a || e.defaultPrevented || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
}

let router = () => {};
export function setRouter(fn) { router = fn; }

/** Goes to `href` (a path under /ui/) and renders it. */
export function navigate(href, replace) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  router();
}

const DATES = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A time as the reader's locale shows it (one formatter: a long list formats fast). */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : DATES.format(d);
}

/** How long from `a` to `b` (or now). */
export function took(a, b) {
  if (!a) return '';
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** A run's or node run's state in words, and the CSS class that colours it. */
export function badge(status, result) {
  const word = status === 'COMPLETED' ? (result || 'COMPLETED') : (status || 'UNKNOWN');
  return h('span', { class: `badge b-${word.toLowerCase()}` }, word.replace('_', ' ').toLowerCase());
}

/** JSON shown as preformatted text. */
export function pre(value) {
  return h('pre', { class: 'json', tabindex: '0' }, JSON.stringify(value, null, 2));
}

/** Replaces the children of `el` (arrays flattened; null, undefined and false left out). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}
