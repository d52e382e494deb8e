// The graph preview's page and refresh pacing (node --test).
'use strict';

const assert = require('node:assert/strict');
const test = require('node:test');
const { CONTENT_SECURITY_POLICY, debounce, graphPage } = require('../graph-view');

test('the page holds the SVG under a policy that allows no scripts', () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" class="wflow-graph"><g data-node="a"/></svg>';
  const page = graphPage(svg);
  assert.ok(page.includes(svg));
  assert.ok(page.includes(`content="${CONTENT_SECURITY_POLICY}"`));
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /script-src/);
});

test('without an SVG the page shows the message, escaped', () => {
  const page = graphPage(null, 'cannot draw <b>x</b> & "y"');
  assert.ok(page.includes('cannot draw &lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;'));
  assert.ok(!page.includes('<b>'));
  // Something that is not an SVG is not put in the page.
  assert.ok(!graphPage('<script>alert(1)</script>').includes('<script>'));
});

test('a burst of edits refreshes once, after the last', async () => {
  const calls = [];
  const refresh = debounce((v) => calls.push(v), 20);
  refresh(1);
  refresh(2);
  refresh(3);
  assert.deepEqual(calls, []);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(calls, [3]);
  refresh(4);
  refresh.cancel();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(calls, [3]);
});
