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

pub mod analysis;
mod blueprint_decl;
pub mod catalog;
pub mod check;
mod concurrency;
pub mod cron;
pub mod dataflow;
pub mod diag;
pub mod export;
pub mod flow;
mod hash;
pub mod ir;
pub mod jq;
pub mod jq_types;
mod parallel;
mod port;
pub mod preflight;
pub mod print;
mod retry;
pub mod rules;
pub mod suggest;
pub mod testfile;
pub mod types;
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

/// A file's bytes as text. Bytes that are not UTF-8 give the text with each bad sequence
/// replaced by U+FFFD (so that positions can be shown) and an `unreadable-file` error at the
/// first of them.
pub fn decode(bytes: Vec<u8>) -> (String, Option<Diagnostic>) {
    let bad = match String::from_utf8(bytes) {
        Ok(text) => return (text, None),
        Err(e) => e,
    };
    let at = bad.utf8_error().valid_up_to();
    let byte = bad.as_bytes().get(at).copied().unwrap_or(0);
    let text = String::from_utf8_lossy(bad.as_bytes()).into_owned();
    let (line, column) = wflow_grammar::span::line_col(&text, at);
    let span = wflow_grammar::Span::new(at, at + char::REPLACEMENT_CHARACTER.len_utf8());
    let diagnostic = Diagnostic::error(
        "unreadable-file",
        span,
        format!(
            "the file is not UTF-8 (invalid byte 0x{byte:02x} at line {line}, column {column})"
        ),
    )
    .label("not UTF-8")
    .help("save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)");
    (text, Some(diagnostic))
}

/// The `too-large` error of a file of `len` bytes, if that is over the readers' limit
/// ([`wflow_grammar::MAX_SOURCE_BYTES`]): what checking its text would report, for callers that
/// would rather not read such a file at all.
pub fn too_large(len: usize) -> Option<Diagnostic> {
    wflow_grammar::SyntaxError::too_large(len).map(|e| syntax_diagnostic("syntax", e))
}

/// [`check_source_with`] on a file's bytes, returning the text too (to show positions in).
/// Bytes that are not UTF-8 give only the `unreadable-file` error of [`decode`].
pub fn check_bytes_with(
    bytes: Vec<u8>,
    syntax: Syntax,
    catalog: &catalog::Catalog,
) -> (String, Checked) {
    check_bytes_named(bytes, syntax, catalog, None)
}

/// [`check_bytes_with`] of the file at `path` (see [`check_file`]).
pub fn check_file_bytes(
    path: &std::path::Path,
    bytes: Vec<u8>,
    catalog: &catalog::Catalog,
) -> (String, Checked) {
    let stem = path.file_stem().and_then(|s| s.to_str());
    check_bytes_named(bytes, syntax_of(path), catalog, stem)
}

fn check_bytes_named(
    bytes: Vec<u8>,
    syntax: Syntax,
    catalog: &catalog::Catalog,
    stem: Option<&str>,
) -> (String, Checked) {
    match decode(bytes) {
        (text, None) => {
            let checked = check_source_named(&text, syntax, catalog, stem);
            (text, checked)
        }
        (text, Some(d)) => (
            text,
            Checked {
                module: ir::Module {
                    ir_version: ir::IR_VERSION,
                    workflows: Vec::new(),
                },
                diagnostics: vec![d],
            },
        ),
    }
}

/// A `.wflow` text's syntax tree and its syntax errors as diagnostics.
fn parse_wflow(src: &str) -> (wflow_grammar::ast::File, Vec<Diagnostic>) {
    let parsed = wflow_grammar::parse(src);
    let diagnostics = parsed
        .errors
        .into_iter()
        .map(|e| syntax_diagnostic("syntax", e))
        .collect();
    (parsed.file, diagnostics)
}

/// The `blueprint` declarations of a `.wflow` file's text, with the problems found in them
/// and in the file's syntax (the file's workflows are not checked).
pub fn declared_blueprints(src: &str) -> (Vec<catalog::Blueprint>, Vec<Diagnostic>) {
    let (file, mut diagnostics) = parse_wflow(src);
    let declared = blueprint_decl::blueprints(&file, &mut diagnostics);
    (declared, diagnostics)
}

/// Parses, lowers and checks one file's text, with Port's system blueprints only.
pub fn check_source(src: &str, syntax: Syntax) -> Checked {
    check_source_with(src, syntax, &catalog::Catalog::new(Vec::new()))
}

/// Parses and checks the test file `src` against `workflows` (every workflow of the project)
/// and `catalog`:
/// its cases and every diagnostic, syntax errors included, sorted by position.
pub fn check_test_source(
    src: &str,
    workflows: &[&ir::Workflow],
    catalog: &catalog::Catalog,
) -> (testfile::TestFile, Vec<Diagnostic>) {
    let (file, mut diagnostics) = parse_wflow(src);
    let tests = testfile::read(&file, workflows, catalog, &mut diagnostics);
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    (tests, diagnostics)
}

/// Parses, lowers and checks one file's text against `catalog` (the blueprints the workflows
/// read and write; see [`catalog::Blueprint::from_port_json`]).
pub fn check_source_with(src: &str, syntax: Syntax, catalog: &catalog::Catalog) -> Checked {
    check_source_named(src, syntax, catalog, None)
}

/// [`check_source_with`] for the text of the file at `path`: its syntax follows the extension
/// and a Port JSON workflow with neither an identifier nor a title is named after the file.
pub fn check_file(path: &std::path::Path, src: &str, catalog: &catalog::Catalog) -> Checked {
    let stem = path.file_stem().and_then(|s| s.to_str());
    check_source_named(src, syntax_of(path), catalog, stem)
}

/// [`check_source_with`], with the name of the file the text is from (without its extension):
/// a Port JSON workflow with neither an identifier nor a title is named after it.
pub fn check_source_named(
    src: &str,
    syntax: Syntax,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
) -> Checked {
    check(src, syntax, catalog, file_stem, Keep::Ir)
}

/// [`check_file`]'s diagnostics alone: the same checks, but each workflow's IR is dropped once
/// checked, so that memory follows the largest workflow rather than the whole file (what
/// `wflow check` needs).
pub fn check_file_diagnostics(
    path: &std::path::Path,
    src: &str,
    catalog: &catalog::Catalog,
) -> Vec<Diagnostic> {
    let stem = path.file_stem().and_then(|s| s.to_str());
    check(src, syntax_of(path), catalog, stem, Keep::Diagnostics).diagnostics
}

/// What a check returns besides the diagnostics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// The IR of every workflow.
    Ir,
    /// Nothing: each workflow is dropped once checked.
    Diagnostics,
}

/// The one check of a text, behind every public entry point: see [`check_pieces`].
fn check(
    src: &str,
    syntax: Syntax,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
    keep: Keep,
) -> Checked {
    let mut workflows = Vec::new();
    let diagnostics = if syntax == Syntax::Wflow && src.len() >= PARALLEL_FROM {
        check_at_once(src, catalog, file_stem, keep, &mut workflows)
    } else {
        check_pieces(src, syntax, catalog, file_stem, &mut |piece| {
            if keep == Keep::Ir {
                workflows.extend(piece.workflows);
            }
        })
    };
    Checked {
        module: ir::Module {
            ir_version: ir::IR_VERSION,
            workflows,
        },
        diagnostics,
    }
}

/// The size from which a `.wflow` text is read and checked in stretches at once, one per core
/// ([`wflow_grammar::Items::split`]); smaller ones (nearly all) are read in one stretch.
const PARALLEL_FROM: usize = 4 << 20;

/// The size below which a `.wflow` text that may declare blueprints is parsed once and its trees
/// held while it is checked, instead of parsed twice (once for its blueprints) one item at a time.
const HOLD_BELOW: usize = 1 << 20;

/// [`check`] of a large `.wflow` text, its stretches on all cores at once: the diagnostics, and
/// with [`Keep::Ir`] the workflows (into `workflows`), exactly as from reading it in one
/// stretch, in the same order.
fn check_at_once(
    src: &str,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
    keep: Keep,
    workflows: &mut Vec<ir::Workflow>,
) -> Vec<Diagnostic> {
    let catalog = with_declared(catalog, declared_in(src));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stretches = wflow_grammar::parse_items(src).split(cores);
    // Set by a stretch that read on to the end of the text: the later ones may stop.
    let ran_on = std::sync::atomic::AtomicUsize::new(usize::MAX);
    let results: Vec<(Vec<Diagnostic>, Vec<ir::Workflow>, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = stretches
            .into_iter()
            .enumerate()
            .map(|(i, mut items)| {
                let (catalog, ran_on) = (&catalog, &ran_on);
                s.spawn(move || {
                    let mut diagnostics = Vec::new();
                    let mut kept = Vec::new();
                    let stop = || ran_on.load(std::sync::atomic::Ordering::Relaxed) < i;
                    check_items(
                        src,
                        &mut items,
                        catalog,
                        file_stem,
                        &mut diagnostics,
                        &stop,
                        &mut |piece| {
                            if keep == Keep::Ir {
                                kept.extend(piece.workflows);
                            }
                        },
                    );
                    if items.ran_on() {
                        ran_on.fetch_min(i, std::sync::atomic::Ordering::Relaxed);
                    }
                    (diagnostics, kept, items.ran_on())
                })
            })
            .collect();
        handles
            .into_iter()
            // A check that panicked panics here, as it would have in one stretch.
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut diagnostics = Vec::new();
    for (found, kept, ran_on) in results {
        diagnostics.extend(found);
        workflows.extend(kept);
        if ran_on {
            break;
        }
    }
    finish(src, Syntax::Wflow, &mut diagnostics);
    diagnostics
}

/// Checks the pieces of `items` in order, each handed to `on_piece` once checked, until they
/// run out or `stop` says so.
fn check_items(
    src: &str,
    items: &mut dyn Iterator<Item = wflow_grammar::Parsed>,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
    stop: &dyn Fn() -> bool,
    on_piece: &mut dyn FnMut(Piece<'_>),
) {
    while !stop() {
        let Some(mut piece) = items.next() else {
            break;
        };
        let statements = piece
            .file
            .statements
            .iter()
            .map(|st| (st.span(), wflow::is_workflow(st)))
            .collect();
        let comments = std::mem::take(&mut piece.file.comments);
        let workflows = check_piece(src, piece, catalog, file_stem, diagnostics);
        on_piece(Piece {
            statements,
            comments,
            workflows,
            diagnostics,
        });
    }
}

/// One piece of a text as checked by [`check_pieces`], handed over before the next is read.
pub(crate) struct Piece<'d> {
    /// Each top-level statement's span, and whether it is a `workflow` or `fragment` (the
    /// ones lowered into `workflows`, in order); none for Port JSON.
    pub statements: Vec<(wflow_grammar::Span, bool)>,
    /// The piece's comments.
    pub comments: Vec<wflow_grammar::ast::Comment>,
    /// The workflows lowered from the piece, checked.
    pub workflows: Vec<ir::Workflow>,
    /// Every diagnostic found so far, the piece's last; not yet sorted.
    pub diagnostics: &'d [Diagnostic],
}

/// Parses, lowers and checks `src`, handing each piece to `on_piece` once checked, and returns
/// every diagnostic, sorted. A `.wflow` text is read one top-level item at a time
/// ([`wflow_grammar::parse_items`]), so that what is held at once is one item's tree and IR
/// besides what `on_piece` keeps; a Port JSON text is one piece.
pub(crate) fn check_pieces(
    src: &str,
    syntax: Syntax,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
    on_piece: &mut dyn FnMut(Piece<'_>),
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    match syntax {
        Syntax::Wflow => {
            // The blueprints a file declares apply to all of it, so they are read first. A
            // small text is parsed once for both; a large one twice, to hold one item at once.
            let held: Vec<wflow_grammar::Parsed> =
                if src.len() < HOLD_BELOW && src.contains("blueprint") {
                    wflow_grammar::parse_items(src).collect()
                } else {
                    Vec::new()
                };
            let declared = if held.is_empty() {
                declared_in(src)
            } else {
                held.iter().flat_map(declared_by).collect()
            };
            let catalog = with_declared(catalog, declared);
            let mut items: Box<dyn Iterator<Item = wflow_grammar::Parsed>> = if held.is_empty() {
                Box::new(wflow_grammar::parse_items(src))
            } else {
                Box::new(held.into_iter())
            };
            check_items(
                src,
                &mut items,
                &catalog,
                file_stem,
                &mut diagnostics,
                &|| false,
                on_piece,
            );
        }
        Syntax::Json => {
            let (value, errors) = wflow_grammar::json::parse(src);
            let structural = starts(errors.iter().map(|e| e.span).collect());
            let mut broken: Vec<wflow_grammar::Span> = errors.iter().map(|e| e.span).collect();
            broken.sort_unstable();
            diagnostics.extend(
                errors
                    .into_iter()
                    .map(|e| syntax_diagnostic("json-syntax", e)),
            );
            let mut lower = port::Lower {
                src,
                syntax,
                diags: &mut diagnostics,
                syntax_errors: &broken,
                file_stem,
            };
            let workflows = value.map(|v| lower.document(&v)).unwrap_or_default();
            for wf in &workflows {
                // Any error in a JSON text may have hidden part of any workflow.
                check_workflow(
                    wf,
                    syntax,
                    catalog,
                    !structural.is_empty(),
                    !broken.is_empty(),
                    &mut diagnostics,
                );
            }
            on_piece(Piece {
                statements: Vec::new(),
                comments: Vec::new(),
                workflows,
                diagnostics: &diagnostics,
            });
        }
    }
    finish(src, syntax, &mut diagnostics);
    diagnostics
}

/// The `blueprint` declarations of a `.wflow` text: they serve every workflow of the file,
/// wherever they stand, so they are read before any workflow is checked (their problems are
/// reported with their item's). A text that never says `blueprint` declares none.
fn declared_in(src: &str) -> Vec<catalog::Blueprint> {
    if !src.contains("blueprint") {
        return Vec::new();
    }
    wflow_grammar::parse_items(src)
        .flat_map(|piece| declared_by(&piece))
        .collect()
}

/// The `blueprint` declarations of one piece of a `.wflow` text.
fn declared_by(piece: &wflow_grammar::Parsed) -> Vec<catalog::Blueprint> {
    blueprint_decl::blueprints(&piece.file, &mut Vec::new())
}

/// `catalog` with the blueprints `declared` in the file joined in (they override given ones).
fn with_declared(
    catalog: &catalog::Catalog,
    declared: Vec<catalog::Blueprint>,
) -> std::borrow::Cow<'_, catalog::Catalog> {
    if declared.is_empty() {
        return std::borrow::Cow::Borrowed(catalog);
    }
    let mut all = declared;
    let given: Vec<catalog::Blueprint> = catalog
        .blueprints
        .iter()
        .filter(|b| !all.iter().any(|d| d.identifier == b.identifier))
        .cloned()
        .collect();
    all.extend(given);
    std::borrow::Cow::Owned(catalog::Catalog::new(all))
}

/// Lowers and checks the items of one parsed piece of a `.wflow` text, pushing its diagnostics
/// in the order a whole-file check finds them (syntax, blueprints, lowering, checks); returns
/// its workflows. A syntax error lies within its piece, and so does every workflow it can hide
/// part of.
fn check_piece(
    src: &str,
    piece: wflow_grammar::Parsed,
    catalog: &catalog::Catalog,
    file_stem: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<ir::Workflow> {
    let syntax = Syntax::Wflow;
    // Syntax errors that may have hidden a node or a connection (a broken line at workflow or
    // flow level, a missing `}`); an error inside a node's body hides nothing of the graph.
    let mut structural: Vec<wflow_grammar::Span> = Vec::new();
    // Every syntax error: a node's body may have lost a field (a form input) to one.
    let mut broken: Vec<wflow_grammar::Span> = piece.errors.iter().map(|e| e.span).collect();
    broken.sort_unstable();
    for e in &piece.errors {
        if e.is_unclosed() || !inside_node_body(&piece.file, e.span) {
            structural.push(e.span);
        }
    }
    diagnostics.extend(
        piece
            .errors
            .into_iter()
            .map(|e| syntax_diagnostic("syntax", e)),
    );
    // Read again only for their diagnostics: the catalog already holds them.
    blueprint_decl::blueprints(&piece.file, diagnostics);
    let mut workflows = Vec::new();
    for st in piece.file.statements {
        let Some(doc) = wflow::desugar(&st, diagnostics) else {
            continue;
        };
        drop(st);
        let mut lower = port::Lower {
            src,
            syntax,
            diags: diagnostics,
            syntax_errors: &broken,
            file_stem,
        };
        workflows.extend(lower.workflow(&doc));
    }
    let structural = starts(structural);
    let broken = starts(broken);
    for wf in &workflows {
        // Whether an error starts within the workflow.
        let hit = |starts: &[usize]| {
            let first = starts.partition_point(|s| *s < wf.span.start);
            starts.get(first).is_some_and(|s| *s <= wf.span.end)
        };
        check_workflow(
            wf,
            syntax,
            catalog,
            hit(&structural),
            hit(&broken),
            diagnostics,
        );
    }
    workflows
}

/// The checks of one lowered workflow: its graph only when no syntax error may have hidden part
/// of it (`structural`), the data flow through it only when none hides anything (`broken`).
fn check_workflow(
    wf: &ir::Workflow,
    syntax: Syntax,
    catalog: &catalog::Catalog,
    structural: bool,
    broken: bool,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let graph = !structural;
    check::workflow(wf, &check::Options { syntax, graph }, diagnostics);
    dataflow::workflow(wf, catalog, graph && !broken, diagnostics);
}

/// What is done once every diagnostic is in: duplicates of a hyphen diagnostic dropped, fixes
/// written, the rest sorted by position.
fn finish(src: &str, syntax: Syntax, diagnostics: &mut Vec<Diagnostic>) {
    // `.outputs.check-env` is reported once, as such, not also as jq's reading of `- env`;
    // so is an unknown hyphenated name (`.outputs.lst-tokens`).
    let mut hyphens: Vec<wflow_grammar::Span> = diagnostics
        .iter()
        .filter(|d| d.code == jq_types::HYPHEN || d.code == "unknown-reference")
        .map(|d| d.primary.span)
        .collect();
    hyphens.sort_unstable();
    // The longest end among the hyphen spans starting at or before each one.
    let reach: Vec<usize> = hyphens
        .iter()
        .scan(0, |end, h| {
            *end = h.end.max(*end);
            Some(*end)
        })
        .collect();
    diagnostics.retain(|d| {
        let covered = || {
            let before = hyphens.partition_point(|h| h.start <= d.primary.span.start);
            before > 0 && reach[before - 1] >= d.primary.span.end
        };
        !(d.code.starts_with("jq-") && covered())
    });
    for d in diagnostics
        .iter_mut()
        .filter(|d| d.code == jq_types::HYPHEN)
    {
        hyphen_fix(d, src, syntax);
    }
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end));
    diagnostics.dedup();
    cap_syntax_errors(diagnostics);
}

/// Most syntax errors reported for one file: past the first ones, most are echoes of an earlier
/// mistake, and a text of stray brackets would otherwise give one per character.
pub const MAX_SYNTAX_ERRORS: usize = 100;

/// Keeps the first [`MAX_SYNTAX_ERRORS`] syntax errors of sorted `diagnostics` and replaces the
/// others with one error, where the first of them stands, that says how many were left out.
fn cap_syntax_errors(diagnostics: &mut Vec<Diagnostic>) {
    let is_syntax = |d: &Diagnostic| d.code == "syntax" || d.code == "json-syntax";
    let mut seen = 0;
    let mut left_out: Option<(Diagnostic, usize)> = None;
    diagnostics.retain(|d| {
        if !is_syntax(d) {
            return true;
        }
        seen += 1;
        if seen <= MAX_SYNTAX_ERRORS {
            return true;
        }
        match &mut left_out {
            Some((_, n)) => *n += 1,
            None => left_out = Some((d.clone(), 1)),
        }
        false
    });
    if let Some((first, n)) = left_out {
        let summary = Diagnostic::error(
            first.code,
            first.primary.span,
            format!(
                "{n} more syntax {} from here on not shown (at most {MAX_SYNTAX_ERRORS} per file)",
                if n == 1 { "error" } else { "errors" }
            ),
        )
        .help("fix the errors above first: later ones often follow from them");
        let at = diagnostics.partition_point(|d| {
            (d.primary.span.start, d.primary.span.end)
                <= (summary.primary.span.start, summary.primary.span.end)
        });
        diagnostics.insert(at, summary);
    }
}

/// `.outputs.check-env` → `.outputs["check-env"]` (quotes escaped inside a JSON string).
fn hyphen_fix(d: &mut Diagnostic, src: &str, syntax: Syntax) {
    let span = d.primary.span;
    let (Some(name), Some(".")) = (
        src.get(span.range()),
        src.get(span.start.saturating_sub(1)..span.start),
    ) else {
        return;
    };
    let quote = match syntax {
        Syntax::Wflow => "\"",
        Syntax::Json => "\\\"",
    };
    let fixed = format!("[{quote}{name}{quote}]");
    *d = d
        .clone()
        .fix(wflow_grammar::Span::new(span.start - 1, span.end), fixed);
}

/// The start offsets of `spans`, sorted, for finding the errors within a range.
fn starts(spans: Vec<wflow_grammar::Span>) -> Vec<usize> {
    let mut starts: Vec<usize> = spans.into_iter().map(|s| s.start).collect();
    starts.sort_unstable();
    starts
}

/// Whether `span` lies inside the block of a node (a keyword entry within a workflow) whose
/// body holds nothing the graph needs: not a `condition` or an `approval`, whose outlets and
/// buttons a broken line may have hidden.
fn inside_node_body(file: &wflow_grammar::ast::File, span: wflow_grammar::Span) -> bool {
    use wflow_grammar::ast::Statement;
    let lib = wflow_stdlib::get();
    let is_node = |name: &str| {
        (lib.kind_by_keyword(name).is_some() || name == "github")
            && !matches!(name, "condition" | "approval")
    };
    let Some(Statement::Entry(w)) = last_before(&file.statements, span) else {
        return false;
    };
    match w
        .block
        .as_ref()
        .and_then(|b| last_before(&b.statements, span))
    {
        Some(Statement::Entry(n)) if is_node(&n.name.name) => n
            .block
            .as_ref()
            .is_some_and(|b| b.span.start < span.start && span.end <= b.span.end),
        _ => false,
    }
}

/// The last of `statements` (in source order) starting before `span`: the only one that can
/// hold it.
fn last_before(
    statements: &[wflow_grammar::ast::Statement],
    span: wflow_grammar::Span,
) -> Option<&wflow_grammar::ast::Statement> {
    let n = statements.partition_point(|st| st.span().start < span.start);
    n.checked_sub(1).and_then(|i| statements.get(i))
}

fn syntax_diagnostic(code: &'static str, e: SyntaxError) -> Diagnostic {
    let code = match e.limit {
        Some(wflow_grammar::Limit::Nesting) => jq::TOO_DEEP,
        Some(wflow_grammar::Limit::Size) => "too-large",
        None => code,
    };
    Diagnostic::error(code, e.span, e.message).help_opt(e.help)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` small workflows, the `broken`th (if any) with `line` in its first node.
    fn workflows(n: usize, broken: Option<usize>, line: &str) -> String {
        (0..n)
            .map(|i| {
                let extra = if Some(i) == broken { line } else { "" };
                format!(
                    "// {i}\nworkflow w{i} \"W{i}\" {{\n  form trigger \"T\" {{\n    input v: string \"V\"\n{extra}  }}\n  webhook d \"D\" {{\n    url \"https://x.example.com/{i}\"\n    body {{ v: \"{{{{ .outputs.trigger.v }}}}\", w: \"{{{{ .outputs.nope }}}}\" }}\n  }}\n  flow {{\n    trigger -> d\n  }}\n}}\n"
                )
            })
            .collect()
    }

    #[test]
    fn checking_at_once_is_checking_in_one_stretch() {
        let catalog = catalog::Catalog::default();
        let n = 300;
        for (broken, line) in [
            (None, ""),
            (Some(20), "    x = 1\n"),
            (Some(250), "    x = 1\n"),
            (Some(150), "    bogus \"unclosed\n"),
            (Some(100), "    y { \n"),
            (Some(n - 1), "    `jq\n"),
        ] {
            let src = workflows(n, broken, line);
            let mut at_once = Vec::new();
            let found = check_at_once(&src, &catalog, None, Keep::Ir, &mut at_once);
            let mut one = Vec::new();
            let expected = check_pieces(&src, Syntax::Wflow, &catalog, None, &mut |p| {
                one.extend(p.workflows)
            });
            assert!(!expected.is_empty());
            assert_eq!(found, expected, "{broken:?} {line:?}");
            assert_eq!(at_once, one, "{broken:?} {line:?}");
        }
    }
}
