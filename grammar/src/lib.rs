//! Text to syntax: the `.wflow` grammar and a spanned JSON reader.
//!
//! [`parse`] never fails: it returns a tree for any input, with every syntax error beside it.
//! [`json::parse`] reads JSON into the same [`ast::Value`] tree, keeping the span of every value,
//! so diagnostics on Port workflow JSON can point at the offending value. pest types never leave
//! this crate.

// pest's generated parser names `alloc` (pest is built without `std`, whose stack probe on every
// rule cost a tenth of the parse; nesting is bounded before parsing instead).
extern crate alloc;

pub mod ast;
mod fast;
mod items;
pub mod json;
mod lower;
mod repair;
mod scan;
pub mod span;
mod strings;

pub use fast::template_end;
pub use items::Items;
pub use span::{OffsetMap, Span};

/// A syntax error: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
    /// Set when the text was refused for a reader limit rather than for a mistake in it.
    pub limit: Option<Limit>,
}

/// A limit the readers put on their input, so that no text can exhaust the stack or the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Brackets nested deeper than [`MAX_NESTING`].
    Nesting,
    /// A file longer than [`MAX_SOURCE_BYTES`].
    Size,
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
            limit: None,
        }
    }

    /// The error for text nested deeper than [`MAX_NESTING`], at the bracket that goes too deep.
    /// The error for nesting deeper than [`MAX_NESTING`] at byte `at` of `src` (the character
    /// there, or nothing at the end of the text).
    fn too_deep(src: &str, at: usize, what: &str) -> SyntaxError {
        let width = src
            .get(at..)
            .and_then(|r| r.chars().next())
            .map_or(0, char::len_utf8);
        SyntaxError {
            limit: Some(Limit::Nesting),
            ..SyntaxError::new(
                Span::new(at, at + width),
                format!("{what} nested more than {MAX_NESTING} deep"),
                Some(format!(
                    "no workflow needs this much nesting: flatten the structure to at most {MAX_NESTING} levels"
                )),
            )
        }
    }

    /// The error for a text of `len` bytes, if that is longer than [`MAX_SOURCE_BYTES`]: such a
    /// text is not read at all.
    pub fn too_large(len: usize) -> Option<SyntaxError> {
        (len > MAX_SOURCE_BYTES).then(|| SyntaxError {
            limit: Some(Limit::Size),
            ..SyntaxError::new(
                Span::new(0, 0),
                format!(
                    "the file is {} MiB, more than the {} MiB limit; it was not read",
                    len.div_ceil(1 << 20),
                    MAX_SOURCE_BYTES >> 20
                ),
                Some("split it into several files".into()),
            )
        })
    }
}

/// The result of parsing: always a tree, and the syntax errors found, in source order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub file: ast::File,
    pub errors: Vec<SyntaxError>,
}

/// Deepest bracket nesting the readers accept; deeper input is refused with an error rather than
/// risking the stack. Every later pass over the tree recurses at most this deep.
pub const MAX_NESTING: usize = 128;

/// Longest text the readers accept (64 MiB); a longer file is refused without being read, so that
/// memory stays proportional to what is checked.
pub const MAX_SOURCE_BYTES: usize = 64 << 20;

/// Parses `.wflow` source text. Never fails and never panics.
pub fn parse(src: &str) -> Parsed {
    let mut all = Parsed::default();
    for piece in parse_items(src) {
        all.file.statements.extend(piece.file.statements);
        all.file.comments.extend(piece.file.comments);
        all.errors.extend(piece.errors);
    }
    all
}

/// Parses `.wflow` source text one top-level item at a time: each piece holds one or more whole
/// items, their comments and their syntax errors, with spans into `src`, in source order. Put
/// together they are exactly [`parse`]'s result, but only one piece need be held at once.
/// Never fails and never panics.
pub fn parse_items(src: &str) -> items::Items<'_> {
    let refused = SyntaxError::too_large(src.len()).or_else(|| {
        strings::too_deep(src, MAX_NESTING).map(|at| SyntaxError::too_deep(src, at, "brackets"))
    });
    if let Some(error) = refused {
        return items::Items::whole(src, items::refused(error));
    }
    let repairs = repair::find(src);
    if repairs.is_empty() {
        return items::Items::new(src);
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
    items::Items::whole(src, parsed)
}

/// Parses `src` as one piece, as [`parse`] did before it read items one at a time; for tests
/// that compare the two.
#[doc(hidden)]
pub fn parse_whole(src: &str) -> Parsed {
    let mut items = parse_items(src);
    match items.whole.take() {
        Some(parsed) => parsed,
        None => lower::parse_file(src),
    }
}

/// Compares the fast reader with pest on `src`, read as one piece: whether the fast reader read
/// it, or how the two disagree. Text the nesting pre-check refuses is not read. For tests.
#[doc(hidden)]
pub fn fast_vs_pest(src: &str) -> Result<bool, String> {
    if strings::too_deep(src, MAX_NESTING).is_some() {
        return Ok(false);
    }
    let Some(file) = fast::parse(src, 0) else {
        return Ok(false);
    };
    let (pest, clean) = lower::parse_piece_pest(src, 0);
    if clean && pest.errors.is_empty() && pest.file == file {
        return Ok(true);
    }
    Err(format!(
        "the fast reader read {src:?} as\n{file:#?}\npest (clean: {clean}) as\n{pest:#?}"
    ))
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
