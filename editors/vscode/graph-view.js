// The graph preview's page and the pacing of its refreshes. Nothing here needs `vscode`, so
// `node --test` runs it (test/graph-view.test.js).
'use strict';

/** Text as HTML. */
function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/** What the page may load: nothing but its own inline styles (and data: images). No scripts. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/**
 * The webview page: the SVG `wflow.graph` answered, or `message` when there is none. The SVG
 * comes from the language server, which escapes every name in it.
 */
function graphPage(svg, message) {
  const body = typeof svg === 'string' && svg.trimStart().startsWith('<svg')
    ? svg
    : `<p class="message">${escapeHtml(message || 'wflow: no graph to show.')}</p>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<style>
body { margin: 0; padding: 12px; overflow: auto; }
svg { display: block; max-width: none; }
.message { font-family: var(--vscode-font-family, sans-serif); color: var(--vscode-foreground, #333); }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** `fn`, called once `ms` milliseconds after the last call of a burst; `.cancel()` drops a pending call. */
function debounce(fn, ms) {
  let timer;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}

module.exports = { CONTENT_SECURITY_POLICY, debounce, escapeHtml, graphPage };
