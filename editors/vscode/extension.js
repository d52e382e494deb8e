// The wflow extension: runs `wflow lsp` (the language server) for `.wflow` files and, with
// `wflow.checkJson`, for Port workflow JSON files under a `workflows/` folder; shows a file's
// graph (the server's `wflow.graph` command) beside the editor.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { debounce, graphPage } = require('./graph-view');

/** How long the graph waits after the last edit before it is redrawn. */
const GRAPH_DELAY_MS = 300;

/** The server's client once its start has settled; it resolves to undefined when there is none. */
let server;
let output;

function activate(context) {
  output = vscode.window.createOutputChannel('wflow');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('wflow.restartServer', restart),
    vscode.commands.registerCommand('wflow.showGraph', showGraph),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('wflow.server') || e.affectsConfiguration('wflow.checkJson')) {
        void restart();
      }
    }),
    vscode.workspace.onDidOpenTextDocument(startIfNeeded),
  );
  startIfNeeded();
}

function deactivate() {
  return stop();
}

// The extension is also activated by any JSON file (for `wflow.checkJson`), so the server is
// started only once a document it serves is open.
function startIfNeeded() {
  if (server) return;
  const config = vscode.workspace.getConfiguration('wflow');
  const selector = documentSelector(config);
  if (vscode.workspace.textDocuments.some((d) => vscode.languages.match(selector, d) > 0)) {
    server = start(config, selector);
  }
}

function documentSelector(config) {
  const selector = [
    { scheme: 'file', language: 'wflow' },
    { scheme: 'untitled', language: 'wflow' },
  ];
  if (config.get('checkJson')) {
    selector.push({ scheme: 'file', language: 'json', pattern: '**/workflows/**/*.json' });
  }
  return selector;
}

async function start(config, selector) {
  const setting = config.get('server.path') || 'wflow';
  const command = findExecutable(setting);
  if (!command) {
    void showMissingBinary(setting);
    return undefined;
  }
  const client = new LanguageClient(
    'wflow',
    'wflow',
    { command, args: ['lsp', ...config.get('server.extraArgs', [])], transport: TransportKind.stdio },
    { documentSelector: selector, outputChannel: output },
  );
  try {
    await client.start();
  } catch {
    // The client has already shown the error and written it to the output channel.
  }
  return client;
}

async function stop() {
  const starting = server;
  server = undefined;
  const client = await starting;
  if (client?.isRunning()) await client.stop();
}

async function restart() {
  await stop();
  startIfNeeded();
}

/**
 * The binary named by `wflow.server.path`: a bare name is looked up on PATH; a path may start
 * with `~` and is otherwise relative to the first workspace folder. Undefined when not found.
 */
function findExecutable(setting) {
  if (setting.includes('/') || setting.includes('\\')) {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
    const file = path.resolve(root, setting.replace(/^~(?=$|[\\/])/, os.homedir()));
    return isExecutable(file) ? file : undefined;
  }
  // On Windows, `wflow` is found as `wflow.exe` and the like.
  const extensions =
    process.platform === 'win32' ? ['', ...(process.env.PATHEXT || '.EXE').split(';')] : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
    for (const ext of extensions) {
      const file = path.join(dir, setting + ext);
      if (isExecutable(file)) return file;
    }
  }
  return undefined;
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function showMissingBinary(setting) {
  const where = /[\\/]/.test(setting) ? 'there is no executable file at' : 'nothing on PATH is named';
  const choice = await vscode.window.showErrorMessage(
    `wflow: cannot start the language server: ${where} "${setting}". ` +
      'Install it with `cargo install --path cli` from the wflow repository, or set wflow.server.path.',
    'Open Settings',
  );
  if (choice === 'Open Settings') {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'wflow.server.path');
  }
}

/** The open graph previews, by document URI. */
const previews = new Map();

/**
 * **wflow: Show Graph**: the active document's graph in a panel beside the editor, redrawn
 * (debounced) as the document changes.
 */
async function showGraph() {
  const document = vscode.window.activeTextEditor?.document;
  const selector = documentSelector(vscode.workspace.getConfiguration('wflow'));
  if (!document || vscode.languages.match(selector, document) === 0) {
    void vscode.window.showInformationMessage(
      'wflow: Show Graph needs a .wflow file (or, with wflow.checkJson, a Port workflow JSON file under workflows/) in the active editor.',
    );
    return;
  }
  const key = document.uri.toString();
  const open = previews.get(key);
  if (open) {
    open.panel.reveal(vscode.ViewColumn.Beside, true);
    return;
  }
  const panel = vscode.window.createWebviewPanel(
    'wflow.graph',
    `Graph: ${path.basename(document.uri.path)}`,
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    { enableScripts: false },
  );
  const preview = { panel, disposed: false, drawn: 0 };
  const refresh = debounce(() => void draw(preview, document.uri), GRAPH_DELAY_MS);
  const changes = vscode.workspace.onDidChangeTextDocument((e) => {
    if (e.document.uri.toString() === key) refresh();
  });
  previews.set(key, preview);
  panel.onDidDispose(() => {
    preview.disposed = true;
    refresh.cancel();
    changes.dispose();
    previews.delete(key);
  });
  await draw(preview, document.uri);
}

/** Asks the server for the document's SVG and shows it; a late answer to an older request is dropped. */
async function draw(preview, uri) {
  const request = ++preview.drawn;
  startIfNeeded();
  const client = await server;
  let page;
  if (!client?.isRunning()) {
    page = graphPage(undefined, 'wflow: the language server is not running (see the wflow output channel).');
  } else {
    try {
      const svg = await client.sendRequest('workspace/executeCommand', {
        command: 'wflow.graph',
        arguments: [client.code2ProtocolConverter.asUri(uri)],
      });
      page = graphPage(svg);
    } catch (e) {
      page = graphPage(undefined, `wflow: cannot draw the graph: ${e?.message ?? e}`);
    }
  }
  if (!preview.disposed && request === preview.drawn) preview.panel.webview.html = page;
}

module.exports = { activate, deactivate };
