//! Text to syntax: the `.wflow` grammar and a spanned JSON reader.
//!
//! [`parse`] never fails: it returns a tree for any input, with every syntax error beside it.
//! [`json::parse`] reads JSON into the same [`ast::Value`] tree, keeping the span of every value,
//! so diagnostics on Port workflow JSON can point at the offending value. pest types never leave
//! this crate.

pub mod ast;
pub mod json;
mod lower;
mod repair;
pub mod span;
mod strings;

pub use span::{OffsetMap, Span};

/// A syntax error: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

impl SyntaxError {
    /// Whether this is a `{` without its `}`: the structure around it is a guess.
    pub fn is_unclosed(&self) -> bool {
        self.message == lower::UNCLOSED
    }

    fn new(span: Span, message: impl Into<String>, help: Option<String>) -> SyntaxError {
        SyntaxError {
            span,
            message: message.into(),
            help,
        }
    }
}

/// The result of parsing: always a tree, and the syntax errors found, in source order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub file: ast::File,
    pub errors: Vec<SyntaxError>,
}

/// Deepest bracket nesting the parser accepts; deeper input is refused with an error rather than
/// risking the stack.
pub const MAX_NESTING: usize = 128;

/// Parses `.wflow` source text. Never fails and never panics.
pub fn parse(src: &str) -> Parsed {
    if let Some(at) = strings::too_deep(src, MAX_NESTING) {
        return Parsed {
            file: ast::File::default(),
            errors: vec![SyntaxError::new(
                Span::new(at, at + 1),
                format!("brackets nested more than {MAX_NESTING} deep"),
                Some("flatten the structure".into()),
            )],
        };
    }
    let repairs = repair::find(src);
    if repairs.is_empty() {
        return lower::parse_file(src);
    }
    // Parse a copy with the missing braces written in, and blame the right `{`.
    let mut parsed = lower::parse_file(&repair::apply(src, &repairs));
    parsed.errors.retain(|e| e.message != lower::UNCLOSED);
    for r in &repairs {
        parsed.errors.push(SyntaxError::new(
            Span::new(r.open, r.open + 1),
            lower::UNCLOSED,
            Some(format!(
                "add the matching `}}`; the block seems to end before line {}",
                r.line
            )),
        ));
    }
    parsed.errors.sort_by_key(|e| e.span.start);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_cleanly() {
        let src = include_str!("../../examples/deploy-service.wflow");
        let p = parse(src);
        assert_eq!(p.errors, vec![]);
        eprintln!("{:#?}", p.file.statements.len());
        let ast::Statement::Entry(w) = &p.file.statements[0] else {
            panic!()
        };
        assert_eq!(w.name.name, "workflow");
        assert_eq!(w.block.as_ref().map(|b| b.statements.len()), Some(8));
        assert_eq!(p.file.comments.len(), 2);
    }

    #[test]
    fn recovers_and_reports_each_error() {
        let src = "workflow w {\n  webhook a {\n    url = \"x\"\n    method POST\n  }\n  webhook b \"B\" {\n    body { a: }\n  }\n}\n";
        let p = parse(src);
        for e in &p.errors {
            eprintln!("{} {:?} {:?}", &src[e.span.range()], e.message, e.help);
        }
        assert_eq!(p.errors.len(), 2);
    }
}
