//! wflow compiler: `.wflow` and Port JSON to one typed IR, checked.
//!
//! The pipeline, for either syntax:
//! 1. parse: [`wflow_grammar::parse`] (`.wflow`) or [`wflow_grammar::json::parse`] (Port JSON),
//!    always yielding a tree and the syntax errors;
//! 2. desugar (`.wflow` only): the tree becomes a Port-shaped value tree whose spans still
//!    point into the `.wflow` text;
//! 3. lower: the value tree becomes the [`ir`], with every field's shape checked;
//! 4. check: graph, identifiers, Port's limits, cron, input schemas and every jq expression.
//!
//! [`check_source`] runs all of it and returns the IR with every [`Diagnostic`]. No IO here.

pub mod check;
pub mod cron;
pub mod diag;
pub mod ir;
pub mod jq;
mod port;
pub mod suggest;
mod wflow;

pub use diag::{CODES, Diagnostic, Label, Severity};
pub use port::Syntax;

use wflow_grammar::SyntaxError;

/// The result of checking one source file.
#[derive(Debug, Clone)]
pub struct Checked {
    pub module: ir::Module,
    /// Every diagnostic, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Which syntax a file holds, by its extension: `.json` is Port JSON, anything else `.wflow`.
pub fn syntax_of(path: &std::path::Path) -> Syntax {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => Syntax::Json,
        _ => Syntax::Wflow,
    }
}

/// Parses, lowers and checks one file's text.
pub fn check_source(src: &str, syntax: Syntax) -> Checked {
    let mut diagnostics = Vec::new();
    let syntax_errors;
    let workflows = match syntax {
        Syntax::Wflow => {
            let parsed = wflow_grammar::parse(src);
            syntax_errors = !parsed.errors.is_empty();
            diagnostics.extend(
                parsed
                    .errors
                    .into_iter()
                    .map(|e| syntax_diagnostic("syntax", e)),
            );
            let docs = wflow::desugar(&parsed.file, &mut diagnostics);
            let mut lower = port::Lower {
                src,
                syntax,
                diags: &mut diagnostics,
            };
            docs.iter()
                .filter_map(|d| lower.workflow(d))
                .collect::<Vec<_>>()
        }
        Syntax::Json => {
            let (value, errors) = wflow_grammar::json::parse(src);
            syntax_errors = !errors.is_empty();
            diagnostics.extend(
                errors
                    .into_iter()
                    .map(|e| syntax_diagnostic("json-syntax", e)),
            );
            let mut lower = port::Lower {
                src,
                syntax,
                diags: &mut diagnostics,
            };
            value.map(|v| lower.document(&v)).unwrap_or_default()
        }
    };
    let opts = check::Options {
        syntax,
        graph: !syntax_errors,
    };
    for wf in &workflows {
        check::workflow(wf, &opts, &mut diagnostics);
    }
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    diagnostics.dedup();
    Checked {
        module: ir::Module {
            ir_version: ir::IR_VERSION,
            workflows,
        },
        diagnostics,
    }
}

fn syntax_diagnostic(code: &'static str, e: SyntaxError) -> Diagnostic {
    Diagnostic::error(code, e.span, e.message).help_opt(e.help)
}
