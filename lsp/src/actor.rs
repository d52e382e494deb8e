//! The analysis actor: the one owner of the open documents.
//!
//! LSP handlers run concurrently; they only send messages here. The actor applies edits in
//! arrival order, re-checks changed documents once per burst of messages, publishes diagnostics
//! tagged with the document version (for every version that is the latest at the end of a burst,
//! whatever queries came with it), and answers queries on the latest text. An edit it cannot
//! apply marks the document out of sync until the editor sends its full text again.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{
    self as lsp, CodeAction, CodeActionKind, CodeActionOrCommand, CompletionItem,
    CompletionItemKind, DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind,
    MessageType, Position, Range, SemanticToken, SemanticTokenType, SymbolKind,
    TextDocumentContentChangeEvent, TextEdit, Uri, WorkspaceEdit,
};
use wflow_compiler::analysis::{self, CompletionKind};
use wflow_compiler::catalog::Catalog;
use wflow_compiler::{Checked, Syntax, check_source_named};

use crate::convert::{Encoding, LineIndex, diagnostic, server_diagnostic};

/// What the client declared in `initialize` that the answers depend on.
#[derive(Debug, Clone, Copy)]
pub struct ClientSupport {
    pub encoding: Encoding,
    /// `textDocument.publishDiagnostics.relatedInformation`.
    pub related_information: bool,
    /// `textDocument.codeAction.isPreferredSupport`.
    pub is_preferred: bool,
}

impl Default for ClientSupport {
    fn default() -> ClientSupport {
        ClientSupport {
            encoding: Encoding::Utf16,
            related_information: false,
            is_preferred: false,
        }
    }
}

/// A message to the actor. Queries carry the channel their answer goes back on.
pub enum Msg {
    Client(ClientSupport),
    Open {
        uri: Uri,
        text: String,
        version: i32,
        syntax: Syntax,
    },
    Change {
        uri: Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    Close {
        uri: Uri,
    },
    /// A text-sync notification that could not be read (`uri` None: the document is unknown).
    Lost {
        uri: Option<Uri>,
        why: String,
    },
    Hover {
        uri: Uri,
        pos: Position,
        reply: oneshot::Sender<Option<Hover>>,
    },
    Definition {
        uri: Uri,
        pos: Position,
        reply: oneshot::Sender<Option<Location>>,
    },
    References {
        uri: Uri,
        pos: Position,
        reply: oneshot::Sender<Vec<Location>>,
    },
    Symbols {
        uri: Uri,
        reply: oneshot::Sender<Vec<DocumentSymbol>>,
    },
    Completion {
        uri: Uri,
        pos: Position,
        reply: oneshot::Sender<Vec<CompletionItem>>,
    },
    Rename {
        uri: Uri,
        pos: Position,
        new_name: String,
        reply: oneshot::Sender<Result<WorkspaceEdit, String>>,
    },
    CodeActions {
        uri: Uri,
        range: Range,
        reply: oneshot::Sender<Vec<CodeActionOrCommand>>,
    },
    Format {
        uri: Uri,
        reply: oneshot::Sender<Option<Vec<TextEdit>>>,
    },
    SemanticTokens {
        uri: Uri,
        reply: oneshot::Sender<Vec<SemanticToken>>,
    },
    /// The document's workflows drawn as SVG (what could be read of them, errors or not).
    Graph {
        uri: Uri,
        reply: oneshot::Sender<Option<String>>,
    },
}

/// The token types of [`semantic_tokens`], in the order of `TokenKind`'s legend.
pub const TOKEN_TYPES: [SemanticTokenType; 7] = [
    SemanticTokenType::KEYWORD,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::OPERATOR,
];

struct Doc {
    text: String,
    version: i32,
    syntax: Syntax,
    /// The blueprints of the document's workspace (as `wflow check` finds them).
    catalog: Arc<Catalog>,
    /// For a test file (`*.test.wflow`): the directory whose workflows it tests.
    test_dir: Option<std::path::PathBuf>,
    /// The file's name without its extension (names a Port JSON workflow without identifier
    /// or title, as `wflow check` does).
    stem: Option<String>,
    index: LineIndex,
    /// The last check of `text`; None while edits are waiting to be checked.
    checked: Option<Checked>,
    /// Whether the last check panicked (a bug in the compiler).
    check_crashed: bool,
    /// Whether the diagnostics of `version` are still to be published.
    unpublished: bool,
    /// Why `text` may differ from the editor's (an edit that could not be applied); queries
    /// answer nothing until a full-text change or a reopen.
    out_of_sync: Option<String>,
}

impl Doc {
    /// Marks the document out of sync; returns the message for the user.
    fn lose_sync(&mut self, uri: &Uri, why: &str) -> String {
        self.unpublished = true;
        let message = format!(
            "{}: {why}. wflow's copy of this file may now differ from the editor's; close and \
             reopen the file to resync.",
            uri.as_str()
        );
        self.out_of_sync = Some(message.clone());
        message
    }
}

struct Actor {
    client: Client,
    docs: HashMap<Uri, Doc>,
    support: ClientSupport,
    /// Messages to show the user at the end of the burst.
    notices: Vec<String>,
}

/// Runs the actor until every sender is dropped.
pub async fn run(client: Client, mut rx: mpsc::UnboundedReceiver<Msg>) {
    let mut actor = Actor {
        client,
        docs: HashMap::new(),
        support: ClientSupport::default(),
        notices: Vec::new(),
    };
    while let Some(msg) = rx.recv().await {
        actor.handle_guarded(msg);
        // Coalesce a burst of edits into one check per document.
        while let Ok(msg) = rx.try_recv() {
            actor.handle_guarded(msg);
        }
        actor.publish().await;
    }
}

impl Actor {
    /// Handles a message; a panic (a bug in a query) drops its answer, never the actor.
    fn handle_guarded(&mut self, msg: Msg) {
        if std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(msg))).is_err() {
            eprintln!("wflow lsp: a request panicked; please report this with the file");
        }
    }
}

impl Actor {
    /// The blueprints a document is checked against: its workspace's, found as `wflow check`
    /// finds them (`wflow.toml`, `blueprints/` beside the file and the configuration), read
    /// when it is opened. A document that is not a file, or a workspace that cannot be read,
    /// gets Port's system blueprints only (the problem is logged).
    fn catalog(&self, uri: &Uri) -> Arc<Catalog> {
        let Some(path) = uri.to_file_path() else {
            return Arc::new(Catalog::new(Vec::new()));
        };
        let env = |k: &str| std::env::var(k).ok();
        let options = wflow_project::Options {
            config: None,
            blueprints: None,
            env: &env,
        };
        match wflow_project::Workspace::discover(&[path.into_owned()], &options) {
            Ok(w) => {
                for p in &w.problems {
                    eprintln!("wflow lsp: {p}");
                }
                Arc::new(w.catalog)
            }
            Err(e) => {
                eprintln!("wflow lsp: {e}");
                Arc::new(Catalog::new(Vec::new()))
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Client(support) => self.support = support,
            Msg::Open {
                uri,
                text,
                version,
                syntax,
            } => {
                let index = LineIndex::new(&text, self.support.encoding);
                let catalog = self.catalog(&uri);
                let path = uri.to_file_path();
                let stem = path
                    .as_ref()
                    .and_then(|p| p.file_stem()?.to_str().map(str::to_string));
                let test_dir = path
                    .filter(|p| wflow_compiler::testfile::is_test_file(p))
                    .map(|p| wflow_project::test_dir(&p));
                self.docs.insert(
                    uri,
                    Doc {
                        text,
                        version,
                        syntax,
                        catalog,
                        test_dir,
                        stem,
                        index,
                        checked: None,
                        check_crashed: false,
                        unpublished: true,
                        out_of_sync: None,
                    },
                );
            }
            Msg::Change {
                uri,
                version,
                changes,
            } => {
                let encoding = self.support.encoding;
                if let Some(doc) = self.docs.get_mut(&uri) {
                    for change in changes {
                        if let Err(why) = apply_change(doc, change, encoding) {
                            let why = format!("the edit to version {version} {why}");
                            self.notices.push(doc.lose_sync(&uri, &why));
                        }
                    }
                    doc.version = version;
                    doc.checked = None;
                    doc.unpublished = true;
                }
            }
            Msg::Lost { uri, why } => {
                let why = format!("an edit could not be read ({why})");
                let before = self.notices.len();
                for (doc_uri, doc) in &mut self.docs {
                    if uri.as_ref().is_none_or(|u| u == doc_uri) {
                        self.notices.push(doc.lose_sync(doc_uri, &why));
                    }
                }
                if self.notices.len() == before {
                    self.notices.push(why);
                }
            }
            Msg::Close { uri } => {
                self.docs.remove(&uri);
                let client = self.client.clone();
                tokio::spawn(
                    async move { client.publish_diagnostics(uri, Vec::new(), None).await },
                );
            }
            Msg::Hover { uri, pos, reply } => {
                let answer = self.with_doc(&uri, pos, |doc, offset| {
                    let h = analysis::hover(
                        &doc.checked.as_ref()?.module,
                        &doc.catalog,
                        offset,
                        chrono::Utc::now(),
                    )?;
                    Some(Hover {
                        contents: HoverContents::Markup(MarkupContent {
                            kind: MarkupKind::Markdown,
                            value: h.markdown,
                        }),
                        range: Some(doc.index.range(&doc.text, h.span)),
                    })
                });
                let _ = reply.send(answer.flatten());
            }
            Msg::Definition { uri, pos, reply } => {
                let answer = self.with_doc(&uri, pos, |doc, offset| {
                    let span = analysis::definition(&doc.checked.as_ref()?.module, offset)?;
                    Some(Location::new(uri.clone(), doc.index.range(&doc.text, span)))
                });
                let _ = reply.send(answer.flatten());
            }
            Msg::References { uri, pos, reply } => {
                let answer = self.with_doc(&uri, pos, |doc, offset| {
                    let Some(checked) = &doc.checked else {
                        return Vec::new();
                    };
                    analysis::references(&checked.module, offset)
                        .into_iter()
                        .map(|s| Location::new(uri.clone(), doc.index.range(&doc.text, s)))
                        .collect()
                });
                let _ = reply.send(answer.unwrap_or_default());
            }
            Msg::Symbols { uri, reply } => {
                let answer = self.with_doc(&uri, Position::new(0, 0), |doc, _| {
                    let Some(checked) = &doc.checked else {
                        return Vec::new();
                    };
                    analysis::symbols(&checked.module)
                        .iter()
                        .map(|s| symbol(doc, s))
                        .collect()
                });
                let _ = reply.send(answer.unwrap_or_default());
            }
            Msg::Completion { uri, pos, reply } => {
                let answer = self.with_doc(&uri, pos, |doc, offset| {
                    let Some(checked) = &doc.checked else {
                        return Vec::new();
                    };
                    analysis::completions(&checked.module, &doc.catalog, &doc.text, offset)
                        .into_iter()
                        .map(|c| CompletionItem {
                            label: c.label,
                            detail: Some(c.detail),
                            kind: Some(match c.kind {
                                CompletionKind::Node => CompletionItemKind::REFERENCE,
                                CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                                CompletionKind::Field => CompletionItemKind::FIELD,
                            }),
                            ..Default::default()
                        })
                        .collect()
                });
                let _ = reply.send(answer.unwrap_or_default());
            }
            Msg::SemanticTokens { uri, reply } => {
                let answer =
                    self.with_doc(&uri, Position::new(0, 0), |doc, _| semantic_tokens(doc));
                let _ = reply.send(answer.unwrap_or_default());
            }
            Msg::Graph { uri, reply } => {
                let answer = self.with_doc(&uri, Position::new(0, 0), |doc, _| {
                    let checked = doc.checked.as_ref()?;
                    Some(wflow_graph::render(
                        &checked.module.workflows,
                        None,
                        wflow_graph::Format::Svg,
                    ))
                });
                let _ = reply.send(answer.flatten());
            }
            Msg::CodeActions { uri, range, reply } => {
                let support = self.support;
                let answer = self.with_doc(&uri, range.start, |doc, _| {
                    Self::code_actions(doc, &uri, range, support)
                });
                let _ = reply.send(answer.unwrap_or_default());
            }
            Msg::Format { uri, reply } => {
                // `.wflow` only; a file with syntax errors is left alone (None: no edits).
                let answer = self.with_doc(&uri, Position::new(0, 0), |doc, _| {
                    if doc.syntax != Syntax::Wflow {
                        return None;
                    }
                    let formatted = wflow_compiler::print::format(&doc.text).ok()?;
                    let whole = Range::new(
                        Position::new(0, 0),
                        doc.index.position(&doc.text, doc.text.len()),
                    );
                    Some(if formatted == doc.text {
                        Vec::new()
                    } else {
                        vec![TextEdit::new(whole, formatted)]
                    })
                });
                let _ = reply.send(answer.flatten());
            }
            Msg::Rename {
                uri,
                pos,
                new_name,
                reply,
            } => {
                let answer = self.with_doc(&uri, pos, |doc, offset| {
                    let checked = doc
                        .checked
                        .as_ref()
                        .ok_or("the document has not been checked")?;
                    let edits = analysis::rename(&checked.module, offset, &new_name)?;
                    let edits: Vec<TextEdit> = edits
                        .into_iter()
                        .map(|(span, text)| TextEdit::new(doc.index.range(&doc.text, span), text))
                        .collect();
                    Ok(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), edits)])),
                        ..Default::default()
                    })
                });
                let _ =
                    reply.send(answer.unwrap_or_else(|| Err("the document is not open".into())));
            }
        }
    }

    /// Quick fixes: the mechanical fix of every diagnostic that touches `range`.
    fn code_actions(
        doc: &Doc,
        uri: &Uri,
        range: Range,
        support: ClientSupport,
    ) -> Vec<CodeActionOrCommand> {
        let Some(checked) = &doc.checked else {
            return Vec::new();
        };
        let (start, end) = (
            doc.index.offset(&doc.text, range.start),
            doc.index.offset(&doc.text, range.end),
        );
        checked
            .diagnostics
            .iter()
            .filter(|d| d.primary.span.start <= end && start <= d.primary.span.end)
            .filter_map(|d| {
                let fix = d.fix.as_ref()?;
                let old = doc.text.get(fix.span.range()).unwrap_or("");
                let edit = TextEdit::new(
                    doc.index.range(&doc.text, fix.span),
                    fix.replacement.clone(),
                );
                Some(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("Replace `{old}` with `{}`", fix.replacement),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic(
                        uri,
                        &doc.text,
                        &doc.index,
                        d,
                        support.related_information,
                    )]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                        ..Default::default()
                    }),
                    is_preferred: support.is_preferred.then_some(true),
                    ..Default::default()
                }))
            })
            .collect()
    }

    /// The diagnostics of every document whose latest version is not published yet.
    fn unpublished_diagnostics(&mut self) -> Vec<(Uri, Vec<lsp::Diagnostic>, i32)> {
        let related = self.support.related_information;
        let mut out = Vec::new();
        for (uri, doc) in &mut self.docs {
            if !std::mem::take(&mut doc.unpublished) {
                continue;
            }
            let diags = match &doc.out_of_sync {
                Some(why) => vec![server_diagnostic("out-of-sync", why.clone())],
                None => {
                    ensure_checked(doc);
                    let mut diags: Vec<lsp::Diagnostic> = doc
                        .checked
                        .iter()
                        .flat_map(|c| &c.diagnostics)
                        .map(|d| diagnostic(uri, &doc.text, &doc.index, d, related))
                        .collect();
                    if doc.check_crashed {
                        diags.push(server_diagnostic("internal-error", CHECK_CRASHED.into()));
                    }
                    diags
                }
            };
            out.push((uri.clone(), diags, doc.version));
        }
        out
    }

    /// Runs a query on an up-to-date document, with the byte offset of `pos`; None when the
    /// document is not open or out of sync.
    fn with_doc<T>(
        &mut self,
        uri: &Uri,
        pos: Position,
        f: impl FnOnce(&Doc, usize) -> T,
    ) -> Option<T> {
        let doc = self.docs.get_mut(uri).filter(|d| d.out_of_sync.is_none())?;
        ensure_checked(doc);
        let offset = doc.index.offset(&doc.text, pos);
        Some(f(doc, offset))
    }

    /// Checks every changed document and publishes the diagnostics of its latest version (a
    /// document out of sync gets one diagnostic saying so), then shows the burst's notices.
    async fn publish(&mut self) {
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| self.unpublished_diagnostics()))
            .unwrap_or_else(|_| {
                eprintln!("wflow lsp: publishing diagnostics panicked; please report this");
                Vec::new()
            });
        for (uri, diags, version) in out {
            self.client
                .publish_diagnostics(uri, diags, Some(version))
                .await;
        }
        for notice in std::mem::take(&mut self.notices) {
            eprintln!("wflow lsp: {notice}");
            self.client.show_message(MessageType::ERROR, notice).await;
        }
    }
}

/// The diagnostic published when the checker panicked on a document.
const CHECK_CRASHED: &str = "wflow's checker crashed on this text (a bug in wflow), so no other \
                             problems are shown for this version; please report it with the file";

/// Checks a document if its text changed since the last check. A panic in the compiler (a bug)
/// costs this document's diagnostics, never the server; `check_crashed` says so.
fn ensure_checked(doc: &mut Doc) {
    if doc.checked.is_some() {
        return;
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| match &doc.test_dir {
        // A test file: checked against the workflows beside it, as `wflow check` does.
        Some(dir) => {
            let beside = wflow_project::checked_workflows_in(dir, &doc.catalog);
            let (_, diagnostics) = wflow_project::check_test_file(&doc.text, &beside, &doc.catalog);
            Checked {
                module: wflow_compiler::ir::Module {
                    ir_version: wflow_compiler::ir::IR_VERSION,
                    workflows: Vec::new(),
                },
                diagnostics,
            }
        }
        None => check_source_named(&doc.text, doc.syntax, &doc.catalog, doc.stem.as_deref()),
    }));
    doc.check_crashed = result.is_err();
    doc.checked = Some(result.unwrap_or_else(|_| {
        eprintln!(
            "wflow lsp: the checker panicked on a document; please report this with the file"
        );
        Checked {
            module: wflow_compiler::ir::Module {
                ir_version: wflow_compiler::ir::IR_VERSION,
                workflows: Vec::new(),
            },
            diagnostics: Vec::new(),
        }
    }));
}

/// The jq tokens of a document, delta-encoded as LSP wants them (single-line tokens only).
fn semantic_tokens(doc: &Doc) -> Vec<SemanticToken> {
    use analysis::TokenKind as K;
    let Some(checked) = &doc.checked else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let (mut line, mut col) = (0, 0);
    for (span, kind) in analysis::jq_tokens(&checked.module) {
        let (start, end) = (
            doc.index.position(&doc.text, span.start),
            doc.index.position(&doc.text, span.end),
        );
        if start.line != end.line || end.character <= start.character {
            continue;
        }
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 {
            start.character - col
        } else {
            start.character
        };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: match kind {
                K::Keyword => 0,
                K::Property => 1,
                K::Variable => 2,
                K::String => 3,
                K::Number => 4,
                K::Function => 5,
                K::Operator => 6,
            },
            token_modifiers_bitset: 0,
        });
        (line, col) = (start.line, start.character);
    }
    out
}

/// Applies one full or incremental change; says what is wrong with an edit it cannot apply.
/// A document out of sync takes only full-text changes.
fn apply_change(
    doc: &mut Doc,
    change: TextDocumentContentChangeEvent,
    encoding: Encoding,
) -> Result<(), String> {
    match change.range {
        None => {
            doc.text = change.text;
            doc.out_of_sync = None;
        }
        Some(_) if doc.out_of_sync.is_some() => return Ok(()),
        Some(Range { start, end }) => {
            let lines = doc.index.lines();
            let offset = |pos: Position| {
                doc.index.checked_offset(&doc.text, pos).ok_or_else(|| {
                    format!(
                        "has a range at line {}, column {}, past the end of the document \
                         ({lines} lines)",
                        pos.line + 1,
                        pos.character + 1
                    )
                })
            };
            let (a, b) = (offset(start)?, offset(end)?);
            if b < a {
                return Err(format!(
                    "has a range that ends (line {}, column {}) before it starts (line {}, \
                     column {})",
                    end.line + 1,
                    end.character + 1,
                    start.line + 1,
                    start.character + 1
                ));
            }
            doc.text.replace_range(a..b, &change.text);
        }
    }
    doc.index = LineIndex::new(&doc.text, encoding);
    Ok(())
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be named to build the struct.
fn symbol(doc: &Doc, s: &analysis::Symbol) -> DocumentSymbol {
    DocumentSymbol {
        name: s.name.clone(),
        detail: (!s.detail.is_empty()).then(|| s.detail.clone()),
        kind: match s.kind {
            analysis::SymbolKind::Workflow => SymbolKind::MODULE,
            analysis::SymbolKind::Trigger => SymbolKind::EVENT,
            analysis::SymbolKind::Action => SymbolKind::FUNCTION,
            analysis::SymbolKind::Flow => SymbolKind::OPERATOR,
        },
        tags: None,
        deprecated: None,
        range: doc.index.range(&doc.text, s.span),
        selection_range: doc.index.range(&doc.text, s.selection),
        children: Some(s.children.iter().map(|c| symbol(doc, c)).collect()),
    }
}
