// The wflow extension: runs `wflow lsp` (the language server) for `.wflow` files and, with
// `wflow.checkJson`, for Port workflow JSON files under a `workflows/` folder.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

/** The server's client once its start has settled; it resolves to undefined when there is none. */
let server;
let output;

function activate(context) {
  output = vscode.window.createOutputChannel('wflow');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('wflow.restartServer', restart),
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

module.exports = { activate, deactivate };
