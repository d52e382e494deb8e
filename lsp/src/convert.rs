//! Byte offsets ↔ LSP positions, and compiler diagnostics → LSP diagnostics.

use tower_lsp_server::ls_types::{
    self as lsp, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, Range, Uri,
};
use wflow_compiler::{Diagnostic, Severity};
use wflow_grammar::Span;

/// How the client counts columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// Line starts of a text, for position conversion.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    encoding: Encoding,
}

impl LineIndex {
    /// Indexes `text`'s lines.
    pub fn new(text: &str, encoding: Encoding) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts, encoding }
    }

    /// The LSP position of byte `offset` (clamped to the text and to a char boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = wflow_grammar::span::floor_char_boundary(text, offset);
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let prefix = text.get(start..offset).unwrap_or("");
        let character = match self.encoding {
            Encoding::Utf8 => prefix.len(),
            Encoding::Utf16 => prefix.encode_utf16().count(),
        };
        Position::new(to_u32(line), to_u32(character))
    }

    /// How many lines the text has (a final newline starts an empty last line).
    pub fn lines(&self) -> usize {
        self.starts.len()
    }

    /// The byte offset of an LSP position (clamped to the line's end, as the LSP spec says);
    /// None for a line past the end of the text.
    pub fn checked_offset(&self, text: &str, pos: Position) -> Option<usize> {
        ((pos.line as usize) < self.lines()).then(|| self.offset(text, pos))
    }

    /// The byte offset of an LSP position (clamped to the line's end and to the text).
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(text.len(), |e| e - 1);
        let line = text.get(start..end).unwrap_or("");
        let want = pos.character as usize;
        let mut units = 0;
        for (i, c) in line.char_indices() {
            if units >= want {
                return start + i;
            }
            units += match self.encoding {
                Encoding::Utf8 => c.len_utf8(),
                Encoding::Utf16 => c.len_utf16(),
            };
        }
        end
    }

    /// The LSP range of a span.
    pub fn range(&self, text: &str, span: Span) -> Range {
        Range::new(
            self.position(text, span.start),
            self.position(text, span.end),
        )
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A compiler diagnostic as an LSP diagnostic: the help joins the message, secondary labels
/// become related information when the client accepts it (`with_related`).
pub fn diagnostic(
    uri: &Uri,
    text: &str,
    index: &LineIndex,
    d: &Diagnostic,
    with_related: bool,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter(|_| with_related)
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), index.range(text, l.span)),
            message: l.message.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: index.range(text, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("wflow".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// An error from the server itself (not the compiler), on the file's first character.
pub fn server_diagnostic(code: &str, message: String) -> lsp::Diagnostic {
    lsp::Diagnostic {
        range: Range::default(),
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String(code.into())),
        source: Some("wflow".into()),
        message,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        let text = "ab\né😀x\n";
        let idx = LineIndex::new(text, Encoding::Utf16);
        let x = text.find('x').unwrap_or(0);
        assert_eq!(
            idx.position(text, x),
            Position::new(1, 3),
            "é is 1 unit, 😀 is 2"
        );
        assert_eq!(idx.offset(text, Position::new(1, 3)), x);
        let idx8 = LineIndex::new(text, Encoding::Utf8);
        assert_eq!(idx8.position(text, x), Position::new(1, 6));
        assert_eq!(idx8.offset(text, Position::new(1, 6)), x);
        assert_eq!(
            idx.offset(text, Position::new(9, 0)),
            text.len(),
            "past the end clamps"
        );
    }
}
