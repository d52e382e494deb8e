// The one door to the server: JSON over fetch, the CSRF header on every write, and errors in
// the API's shape ({ok: false, error, message, problems: [{message, pointer}]}).

/** An answer that is not 2xx: its status and the API's error body. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get problems() {
    return Array.isArray(this.body.problems) ? this.body.problems : [{ message: this.message }];
  }
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return '';
}

/** `method` `path` with `body` (JSON); resolves to the parsed answer, rejects with ApiError. */
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    const csrf = cookie('wflow_csrf');
    if (csrf) headers['X-CSRF-Token'] = csrf;
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { message: `the server did not answer (${e.message})` });
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

/** A text resource (the SVG drawings). */
export async function getText(path) {
  const resp = await fetch(path, { credentials: 'same-origin' });
  const text = await resp.text();
  if (!resp.ok) {
    let body;
    try { body = JSON.parse(text); } catch { body = { message: text }; }
    throw new ApiError(resp.status, body);
  }
  return text;
}

/** `path` with the query `params` (empty values left out). */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const enc = encodeURIComponent;
