// The web UI's shell: who is signed in, the navigation, and the pages by path. Every page
// reads the API as the signed-in user: a 401 sends them to the sign-in page, a 403 or 404
// shows the refusal the API gave.
import { ApiError, call, get, post } from './api.js';
import { fill, h, inApp, link, navigate, setRouter } from './dom.js';
import { hubPage } from './hub.js';
import { formPage } from './form.js';
import { runsPage, runPage } from './runs.js';
import { approvalsPage } from './approvals.js';
import { catalogPage, blueprintPage, entityPage } from './catalog.js';

const main = document.getElementById('main');

const routes = [
  [/^\/ui\/?$/, hubPage, 'hub'],
  [/^\/ui\/workflows\/([^/]+)$/, formPage, 'hub'],
  [/^\/ui\/runs$/, runsPage, 'runs'],
  [/^\/ui\/runs\/([^/]+)$/, runPage, 'runs'],
  [/^\/ui\/approvals$/, approvalsPage, 'approvals'],
  [/^\/ui\/catalog$/, catalogPage, 'catalog'],
  [/^\/ui\/catalog\/([^/]+)$/, blueprintPage, 'catalog'],
  [/^\/ui\/catalog\/([^/]+)\/([^/]+)$/, entityPage, 'catalog'],
];

let generation = 0;
let cleanups = [];

/** Renders the page of the current path. */
async function route() {
  for (const f of cleanups) f();
  cleanups = [];
  const mine = ++generation;
  const ctx = {
    main,
    me: null,
    stale: () => mine !== generation,
    onLeave: (f) => cleanups.push(f),
  };
  const path = location.pathname;
  if (path === '/ui/signin') {
    markNav(null);
    return show(ctx, signInPage);
  }
  try {
    ctx.me = await get('/v1/me');
  } catch (e) {
    if (ctx.stale()) return;
    if (e instanceof ApiError && e.status === 401) return toSignIn();
    return refusal(e);
  }
  if (ctx.stale()) return;
  who(ctx.me);
  const found = routes.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  if (!found) {
    markNav(null);
    return refusal(new ApiError(404, { message: `there is no page ${path}` }));
  }
  const [m, page, nav] = found;
  markNav(nav);
  return show(ctx, page, ...m.slice(1).map(decodeURIComponent));
}

async function show(ctx, page, ...args) {
  try {
    await page(ctx, ...args);
    if (!ctx.stale()) focusTitle();
  } catch (e) {
    if (ctx.stale()) return;
    if (e instanceof ApiError && e.status === 401) return toSignIn();
    refusal(e);
  }
}

function toSignIn() {
  const next = location.pathname + location.search;
  navigate(`/ui/signin?next=${encodeURIComponent(next)}`, true);
}

/** Moves focus to the page's heading so a screen reader announces the new page. */
function focusTitle() {
  const h1 = main.querySelector('h1');
  if (h1 && !main.contains(document.activeElement)) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
  if (h1) document.title = `${h1.textContent} · wflow`;
}

/** The page for an answer that refuses: who may do it, in the API's words. */
export function refusal(e) {
  const status = e instanceof ApiError ? e.status : 0;
  const title = status === 403 ? 'Not allowed'
    : status === 404 ? 'Not found, or not yours to see'
      : 'Something went wrong';
  fill(main, h('section', { class: 'refusal', 'data-status': String(status) },
    h('h1', {}, title),
    h('p', { role: 'alert' }, e.message || String(e)),
    status === 403 || status === 404
      ? h('p', {}, 'What you may see and do here is what the server allows your account. ', link('/ui/', 'Back to self-service'), '.')
      : null));
  focusTitle();
}

function markNav(which) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === which) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function who(me) {
  const box = document.getElementById('who');
  const u = me.user;
  const banner = document.getElementById('banner');
  if (!me.auth) {
    fill(banner, h('p', { class: 'banner', role: 'note' },
      'This server checks no tokens (started without --auth): everyone who can reach it is an admin.'));
    fill(box, h('span', {}, 'local admin'));
    return;
  }
  fill(banner);
  fill(box,
    h('span', { class: 'email' }, u.email || 'signed in', u.admin ? ' (admin)' : ''),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
}

async function signOut() {
  try { await call('DELETE', '/v1/session'); } catch { /* the cookies are cleared anyway */ }
  fill(document.getElementById('who'));
  navigate('/ui/signin');
}

async function signInPage(ctx) {
  fill(document.getElementById('who'));
  const next = new URLSearchParams(location.search).get('next') || '/ui/';
  const safeNext = next.startsWith('/ui/') ? next : '/ui/';
  const err = h('p', { id: 'token-error', class: 'error', hidden: true });
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help' });
  const form = h('form', { class: 'signin', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post('/v1/session', { token: input.value });
      navigate(safeNext, true);
    } catch (x) {
      err.hidden = false;
      err.textContent = x.message;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'token-help token-error');
      input.focus();
    }
  } },
  h('div', { class: 'field' },
    h('label', { for: 'token' }, 'Token'),
    h('p', { id: 'token-help', class: 'help' }, 'A token of the server\'s --auth file. It is kept in an HttpOnly cookie, never by this page.'),
    input, err),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  fill(ctx.main, h('h1', {}, 'Sign in'), form);
}

setRouter(route);
window.addEventListener('popstate', route);
document.addEventListener('click', inApp);
route();
