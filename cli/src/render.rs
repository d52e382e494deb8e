//! Renders diagnostics: miette for people, JSON for tools, annotations for GitHub Actions.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use wflow_compiler::{Diagnostic, Severity};
use wflow_grammar::span::line_col;

use crate::FileResult;

/// Output formats of `wflow check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// A compiler diagnostic with its source, as miette wants it.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

fn source_span(src: &str, s: wflow_grammar::Span) -> SourceSpan {
    let start = s.start.min(src.len());
    SourceSpan::new(start.into(), s.end.min(src.len()).saturating_sub(start))
}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let src = self.source.inner();
        let primary = &self.diag.primary;
        let text = (!primary.message.is_empty()).then(|| primary.message.clone());
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            text,
            source_span(src, primary.span),
        )];
        for l in &self.diag.secondary {
            labels.push(LabeledSpan::new_with_span(
                Some(l.message.clone()),
                source_span(src, l.span),
            ));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// Renders diagnostics for people, sorted by position, with `file:line:column` headers.
pub fn render_human(path: &str, src: &str, diags: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        // miette appends `:line:column` to the source name.
        let report = Report {
            diag: d,
            source: NamedSource::new(path, src.to_string()),
        };
        if handler.render_report(&mut out, &report).is_err() {
            let (line, col) = line_col(src, d.primary.span.start);
            out.push_str(&format!(
                "{path}:{line}:{col}: {}: {}\n",
                d.severity.as_str(),
                d.message
            ));
        }
        out.push('\n');
    }
    out
}

/// One object per diagnostic for `--format json`.
pub fn render_json_entries(path: &str, src: &str, diags: &[Diagnostic]) -> Vec<serde_json::Value> {
    diags
        .iter()
        .map(|d| {
            let (line, column) = line_col(src, d.primary.span.start);
            let (end_line, end_column) = line_col(src, d.primary.span.end);
            serde_json::json!({
                "file": path,
                "severity": d.severity.as_str(),
                "code": d.code,
                "message": d.message,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "help": d.help,
            })
        })
        .collect()
}

pub(crate) fn render_json(results: &[FileResult]) -> String {
    let diagnostics: Vec<serde_json::Value> = results
        .iter()
        .flat_map(|r| render_json_entries(&r.path.display().to_string(), &r.src, &r.diagnostics))
        .collect();
    let doc = serde_json::json!({ "files": results.len(), "diagnostics": diagnostics });
    format!("{doc}\n")
}

/// GitHub Actions workflow commands (`::error file=...::message`).
pub fn render_github(path: &str, src: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let (line, col) = line_col(src, d.primary.span.start);
        let (end_line, end_col) = line_col(src, d.primary.span.end);
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(h) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        out.push_str(&format!(
            "::{level} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}\n",
            escape_property(path),
            escape_property(d.code),
            escape_data(&message)
        ));
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
