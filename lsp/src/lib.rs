//! The wflow language server (`wflow lsp`), on tower-lsp-server over stdio.
//!
//! A thin shell: the handlers below only forward to the analysis actor ([`actor`]), which owns
//! the documents and answers from the compiler's queries (`wflow_compiler::analysis`) on a
//! thread of its own with a large stack. Stdin goes through [`frames`] before tower-lsp-server
//! sees it. This is the only crate that knows LSP types. Logs go to stderr; stdout is the
//! JSON-RPC channel.

mod actor;
mod convert;
mod frames;

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};
use wflow_compiler::Syntax;

use actor::Msg;
use convert::Encoding;

/// The analysis thread's stack: deep recursion in the compiler on pathological input must not
/// overflow it (only the pages touched are committed).
const ANALYSIS_STACK: usize = 256 << 20;

struct Backend {
    tx: mpsc::UnboundedSender<Msg>,
    /// Whether `shutdown` arrived (the exit status depends on it).
    shut_down: Arc<AtomicBool>,
}

impl Backend {
    fn send(&self, msg: Msg) {
        // The actor lives as long as the service; a send can only fail during shutdown.
        let _ = self.tx.send(msg);
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(make(reply));
        answer.await.map_err(|_| Error::internal_error())
    }

    /// [`frames::LOST_EDIT`]: an edit that could not be read, in its place among the edits.
    async fn lost_edit(&self, lost: frames::LostEdit) {
        self.send(Msg::Lost {
            uri: lost.uri,
            why: lost.why,
        });
    }
}

/// The `workspace/executeCommand` command that answers a document's drawing: its argument is
/// the document's URI, its answer the SVG of `wflow graph`.
pub const GRAPH_COMMAND: &str = "wflow.graph";

/// `.json` (or a client's `json` language id) is Port JSON; everything else is `.wflow`.
fn syntax_of(uri: &Uri, language_id: &str) -> Syntax {
    if language_id == "json" || uri.as_str().to_ascii_lowercase().ends_with(".json") {
        Syntax::Json
    } else {
        Syntax::Wflow
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = params.capabilities;
        let offered = caps
            .general
            .and_then(|g| g.position_encodings)
            .unwrap_or_default();
        let encoding = if offered.contains(&PositionEncodingKind::UTF8) {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        // Optional fields go only to clients that declared them (Emacs' eglot declines related
        // information; Neovim before 0.8 has no `isPreferred`).
        let text = caps.text_document.as_ref();
        let related_information = text
            .and_then(|t| t.publish_diagnostics.as_ref())
            .and_then(|p| p.related_information)
            .unwrap_or(false);
        let is_preferred = text
            .and_then(|t| t.code_action.as_ref())
            .and_then(|c| c.is_preferred_support)
            .unwrap_or(false);
        self.send(Msg::Client(actor::ClientSupport {
            encoding,
            related_information,
            is_preferred,
        }));
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(match encoding {
                    Encoding::Utf8 => PositionEncodingKind::UTF8,
                    Encoding::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::INCREMENTAL,
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                semantic_tokens_provider: Some(
                    SemanticTokensServerCapabilities::SemanticTokensOptions(
                        SemanticTokensOptions {
                            legend: SemanticTokensLegend {
                                token_types: actor::TOKEN_TYPES.to_vec(),
                                token_modifiers: Vec::new(),
                            },
                            full: Some(SemanticTokensFullOptions::Bool(true)),
                            ..Default::default()
                        },
                    ),
                ),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                        ..Default::default()
                    },
                )),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), "\"".into()]),
                    ..Default::default()
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![GRAPH_COMMAND.into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "wflow".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, p: DidOpenTextDocumentParams) {
        let d = p.text_document;
        let syntax = syntax_of(&d.uri, &d.language_id);
        self.send(Msg::Open {
            uri: d.uri,
            text: d.text,
            version: d.version,
            syntax,
        });
    }

    async fn did_change(&self, p: DidChangeTextDocumentParams) {
        let d = p.text_document;
        self.send(Msg::Change {
            uri: d.uri,
            version: d.version,
            changes: p.content_changes,
        });
    }

    async fn did_close(&self, p: DidCloseTextDocumentParams) {
        self.send(Msg::Close {
            uri: p.text_document.uri,
        });
    }

    async fn hover(&self, p: HoverParams) -> Result<Option<Hover>> {
        let t = p.text_document_position_params;
        self.ask(|reply| Msg::Hover {
            uri: t.text_document.uri,
            pos: t.position,
            reply,
        })
        .await
    }

    async fn goto_definition(
        &self,
        p: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let t = p.text_document_position_params;
        let loc = self
            .ask(|reply| Msg::Definition {
                uri: t.text_document.uri,
                pos: t.position,
                reply,
            })
            .await?;
        Ok(loc.map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, p: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let t = p.text_document_position;
        let locs = self
            .ask(|reply| Msg::References {
                uri: t.text_document.uri,
                pos: t.position,
                reply,
            })
            .await?;
        Ok(Some(locs))
    }

    async fn document_symbol(
        &self,
        p: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let symbols = self
            .ask(|reply| Msg::Symbols {
                uri: p.text_document.uri,
                reply,
            })
            .await?;
        Ok(Some(DocumentSymbolResponse::Nested(symbols)))
    }

    async fn completion(&self, p: CompletionParams) -> Result<Option<CompletionResponse>> {
        let t = p.text_document_position;
        let items = self
            .ask(|reply| Msg::Completion {
                uri: t.text_document.uri,
                pos: t.position,
                reply,
            })
            .await?;
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn semantic_tokens_full(
        &self,
        p: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let data = self
            .ask(|reply| Msg::SemanticTokens {
                uri: p.text_document.uri,
                reply,
            })
            .await?;
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data,
        })))
    }

    async fn code_action(&self, p: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let (uri, range) = (p.text_document.uri, p.range);
        let actions = self
            .ask(|reply| Msg::CodeActions { uri, range, reply })
            .await?;
        Ok(Some(actions))
    }

    async fn formatting(&self, p: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.ask(|reply| Msg::Format {
            uri: p.text_document.uri,
            reply,
        })
        .await
    }

    async fn execute_command(&self, p: ExecuteCommandParams) -> Result<Option<Value>> {
        if p.command != GRAPH_COMMAND {
            return Err(Error::invalid_params(format!(
                "unknown command `{}`; the server has `{GRAPH_COMMAND}`",
                p.command
            )));
        }
        let uri = match p.arguments.as_slice() {
            [arg] => serde_json::from_value::<Uri>(arg.clone()).ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::invalid_params(format!(
                "`{GRAPH_COMMAND}` takes one argument: a document URI"
            ))
        })?;
        let svg = self.ask(|reply| Msg::Graph { uri, reply }).await?;
        svg.map(|s| Some(Value::String(s))).ok_or_else(|| {
            Error::invalid_params("the document is not open (or is out of sync with the editor)")
        })
    }

    async fn rename(&self, p: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let t = p.text_document_position;
        let (uri, pos, new_name) = (t.text_document.uri, t.position, p.new_name);
        match self
            .ask(|reply| Msg::Rename {
                uri,
                pos,
                new_name,
                reply,
            })
            .await?
        {
            Ok(edit) => Ok(Some(edit)),
            Err(why) => Err(Error::invalid_params(why)),
        }
    }
}

/// Serves LSP over stdin/stdout until the client exits or closes stdin. Returns whether
/// `shutdown` came first: the LSP spec's exit status is 0 then, else 1.
pub async fn serve_stdio() -> io::Result<bool> {
    let (tx, rx) = mpsc::unbounded_channel();
    let shut_down = Arc::new(AtomicBool::new(false));
    let runtime = Handle::current();
    let (input, forward) = tokio::io::duplex(1 << 16);
    let reader_runtime = runtime.clone();
    std::thread::Builder::new()
        .name("wflow-lsp-stdin".into())
        .spawn(move || read_stdin(&reader_runtime, forward))?;
    let mut spawned = Ok(());
    let (service, socket) = LspService::build(|client: Client| {
        spawned = std::thread::Builder::new()
            .name("wflow-lsp-analysis".into())
            .stack_size(ANALYSIS_STACK)
            .spawn(move || runtime.block_on(actor::run(client, rx)))
            .map(drop);
        Backend {
            tx,
            shut_down: shut_down.clone(),
        }
    })
    .custom_method(frames::LOST_EDIT, Backend::lost_edit)
    .finish();
    spawned?;
    Server::new(input, LockedStdout, socket)
        .serve(service)
        .await;
    Ok(shut_down.load(Ordering::SeqCst))
}

/// Reads framed messages from stdin, forwards the good ones to tower-lsp-server through
/// `forward` (a lost edit as a [`frames::LOST_EDIT`] notification) and answers the bad ones.
/// Ends at the end of stdin (dropping `forward` ends the server's input) or when the server is
/// gone.
fn read_stdin(runtime: &Handle, mut forward: DuplexStream) {
    let mut frames = frames::FrameReader::new(io::stdin().lock());
    while let Ok(Some(frame)) = frames.next_frame() {
        let mut to_server = Vec::new();
        let mut answer = None;
        match frame.map(|body| frames::vet(&body, frames.count())) {
            Ok(frames::Verdict::Forward(body)) => {
                to_server.push(frames::framed(&body));
            }
            Ok(frames::Verdict::Refuse(refusal)) => answer = Some(refusal),
            Ok(frames::Verdict::Lost(lost)) => to_server.push(lost.notification()),
            Err(bad) => {
                if bad.lost_edit {
                    let why = bad.why.clone();
                    to_server.push(frames::LostEdit { uri: None, why }.notification());
                }
                answer = Some(frames::error_response(Value::Null, -32700, bad.why));
            }
        }
        if let Some(answer) = answer {
            eprintln!(
                "wflow lsp: {}",
                answer["error"]["message"].as_str().unwrap_or_default()
            );
            if frames::write_message(&answer).is_err() {
                return;
            }
        }
        for framed in to_server {
            if runtime
                .block_on(forward.write_all(framed.as_bytes()))
                .is_err()
            {
                return;
            }
        }
    }
}

/// tower-lsp-server's output. Each write goes to stdout whole, under stdout's lock, and
/// tower-lsp-server's framed writer only hands over whole frames, so the errors [`read_stdin`]
/// writes never land inside a frame.
struct LockedStdout;

impl AsyncWrite for LockedStdout {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut out = io::stdout().lock();
        Poll::Ready(
            out.write_all(buf)
                .and_then(|()| out.flush())
                .map(|()| buf.len()),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
