//! Renders diagnostics: miette for people, JSON for tools, annotations for GitHub Actions.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use wflow_compiler::{Diagnostic, Severity};

use crate::FileResult;
use crate::excerpt::{Excerpt, LineIndex};

/// Output formats of `wflow check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// A compiler diagnostic with the excerpt of its source that miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    excerpt: Excerpt<'a>,
    /// The primary span, then the secondary ones, as offsets into the excerpt.
    spans: Vec<SourceSpan>,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&visible(&self.diag.message))
    }
}

/// `text` with control characters other than line breaks shown as their Unicode pictures, so
/// that text quoted from a file cannot drive the terminal.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' {
                c
            } else {
                crate::excerpt::picture(c)
            }
        })
        .collect()
}

impl std::error::Error for Report<'_> {}

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
            .map(|h| Box::new(visible(h)) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = &self.diag.primary;
        let texts = std::iter::once(&primary.message)
            .chain(self.diag.secondary.iter().map(|l| &l.message))
            .map(|m| (!m.is_empty()).then(|| visible(m)));
        let labels = texts.zip(&self.spans).enumerate().map(|(i, (text, span))| {
            if i == 0 {
                LabeledSpan::new_primary_with_span(text, *span)
            } else {
                LabeledSpan::new_with_span(text, *span)
            }
        });
        Some(Box::new(labels))
    }
}

/// Renders diagnostics for people, sorted by position, with `file:line:column` headers. Never
/// panics, and takes time linear in the file and the diagnostics (see [`crate::excerpt`]).
pub fn render_human(path: &str, src: &str, diags: &[Diagnostic], color: bool) -> String {
    if diags.is_empty() {
        return String::new();
    }
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let index = LineIndex::new(src);
    let mut out = String::new();
    for d in diags {
        let spans: Vec<std::ops::Range<usize>> = std::iter::once(&d.primary)
            .chain(&d.secondary)
            .map(|l| l.span.start..l.span.end)
            .collect();
        // miette appends `:line:column` to the source name.
        let (excerpt, spans) = Excerpt::new(path, &index, &spans);
        let report = Report {
            diag: d,
            excerpt,
            spans,
        };
        let mut rendered = String::new();
        if handler.render_report(&mut rendered, &report).is_ok() {
            out.push_str(&rendered);
        } else {
            let (line, col) = index.line_col(d.primary.span.start);
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
    if diags.is_empty() {
        return Vec::new();
    }
    let index = LineIndex::new(src);
    diags
        .iter()
        .map(|d| {
            let (line, column) = index.line_col(d.primary.span.start);
            let (end_line, end_column) = index.line_col(d.primary.span.end);
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
    if diags.is_empty() {
        return String::new();
    }
    let index = LineIndex::new(src);
    let mut out = String::new();
    for d in diags {
        let (line, col) = index.line_col(d.primary.span.start);
        let (end_line, end_col) = index.line_col(d.primary.span.end);
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

/// Text for a GitHub workflow command's message.
pub(crate) fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Text for a GitHub workflow command's property (`file=`, `title=`).
pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
