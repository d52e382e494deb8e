//! pest pairs to the AST. The only module that knows pest.

use pest::Parser;
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::ast::*;
use crate::fast;
use crate::span::Span;
use crate::strings::StrDecoder;
use crate::{Parsed, SyntaxError};

#[derive(Parser)]
#[grammar = "wflow.pest"]
struct WflowParser;

/// The message for a `{` without its `}`.
pub(crate) const UNCLOSED: &str = "this `{` is never closed";

struct Lowerer<'s> {
    /// The text being parsed: the whole file, or one piece of it.
    src: &'s str,
    /// Where `src` starts in the file: added to every span, so spans are the file's.
    base: usize,
    comments: Vec<Comment>,
    errors: Vec<SyntaxError>,
    /// Whether every block was closed and no text had to be skipped as junk: then nothing was
    /// read past the end of `src`, and the tree is what parsing the whole file would give.
    clean: bool,
}

/// Parses `src`, a whole file.
pub(crate) fn parse_file(src: &str) -> Parsed {
    parse_piece(src, 0).0
}

/// Parses `src`, the text of a file from byte `base` on (up to a line break, or the end), with
/// spans into the file; and whether the piece read cleanly (see [`Lowerer::clean`]). The fast
/// reader is tried first; pest reads what it leaves, with the same result (see [`crate::fast`]).
pub(crate) fn parse_piece(src: &str, base: usize) -> (Parsed, bool) {
    match fast::parse(src, base) {
        Some(file) => (
            Parsed {
                file,
                errors: Vec::new(),
            },
            true,
        ),
        None => parse_piece_pest(src, base),
    }
}

/// [`parse_piece`] by pest alone.
pub(crate) fn parse_piece_pest(src: &str, base: usize) -> (Parsed, bool) {
    let mut l = Lowerer {
        src,
        base,
        comments: Vec::new(),
        errors: Vec::new(),
        clean: true,
    };
    let statements = match WflowParser::parse(Rule::file, src) {
        Ok(mut pairs) => match pairs.next() {
            Some(file) => l.statements(file),
            None => Vec::new(),
        },
        // The grammar accepts every input; this is only reachable through a pest limit.
        Err(e) => {
            l.clean = false;
            let at = base + error_offset(&e);
            l.errors.push(SyntaxError::new(
                Span::new(at, at),
                "the parser gave up here",
                None,
            ));
            Vec::new()
        }
    };
    l.comments.sort_by_key(|c| c.span.start);
    l.errors.sort_by_key(|e| e.span.start);
    let clean = l.clean;
    let parsed = Parsed {
        file: File {
            statements,
            comments: l.comments,
        },
        errors: l.errors,
    };
    (parsed, clean)
}

/// Whether `c` is a `LETTER` or a `NUMBER` of the grammar, by pest's own tables.
pub(crate) fn letter_or_number(c: char) -> bool {
    pest::unicode::LETTER(c) || pest::unicode::NUMBER(c)
}

fn error_offset(e: &pest::error::Error<Rule>) -> usize {
    match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

impl Lowerer<'_> {
    /// The span of `p` in the file.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    /// The children of `p`, with comments collected on the side.
    fn children<'i>(&mut self, p: Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
        let mut out = Vec::new();
        for c in p.into_inner() {
            if c.as_rule() == Rule::COMMENT {
                let text = c.as_str().trim_start_matches("//").to_string();
                self.comments.push(Comment {
                    text,
                    span: self.span(&c),
                });
            } else {
                out.push(c);
            }
        }
        out
    }

    fn statements(&mut self, p: Pair<Rule>) -> Vec<Statement> {
        let mut out = Vec::new();
        for c in self.children(p) {
            match c.as_rule() {
                Rule::entry => out.push(Statement::Entry(self.entry(c))),
                Rule::input_decl => out.push(Statement::Input(self.input_decl(c))),
                Rule::edge_chain => out.push(Statement::Edges(self.edges(c))),
                Rule::junk => self.junk(&c),
                Rule::stray_close => self.errors.push(SyntaxError::new(
                    self.span(&c),
                    "unexpected `}`",
                    Some("remove it, or add the `{` it was meant to close".into()),
                )),
                _ => {}
            }
        }
        out
    }

    /// Explains a junk region by re-parsing it strictly.
    fn junk(&mut self, p: &Pair<Rule>) {
        self.clean = false;
        let sp = self.span(p);
        let text = p.as_str();
        let (at, message) = match WflowParser::parse(Rule::strict_statement, text) {
            Err(e) => {
                let at = error_offset(&e).min(text.len());
                (sp.start + at, describe_expected(&e, text, at))
            }
            Ok(_) => (sp.start, "this line cannot be read here".to_string()),
        };
        let end = (self.base + next_token_end(self.src, at - self.base)).min(sp.end.max(at));
        // A string left open is the real mistake, not what the parser expected at the end of
        // the line: point at its opening quote.
        if let Some(q) = unclosed_quote(text).filter(|q| sp.start + q <= at) {
            let line_end = text[q..].find('\n').map_or(text.len(), |i| q + i);
            self.errors.push(SyntaxError::new(
                Span::new(sp.start + q, sp.start + line_end),
                "this string is never closed",
                Some("close it with `\"` on the same line; use `\\n` for line breaks".into()),
            ));
            return;
        }
        // A backtick left open pairs with the next line's first backtick, and the error shows up
        // there: point at the backtick that was not closed on its own line instead.
        if let Some((b, line_end)) = multiline_jq(text).filter(|(_, e)| sp.start + e < at) {
            self.errors.push(SyntaxError::new(
                Span::new(sp.start + b, sp.start + line_end),
                "this jq expression is not closed on its line",
                Some("add the closing backtick; the next backtick is on a later line".into()),
            ));
            return;
        }
        self.errors.push(SyntaxError::new(
            Span::new(at, end),
            message,
            junk_help(text),
        ));
    }

    fn entry(&mut self, p: Pair<Rule>) -> Entry {
        let sp = self.span(&p);
        let mut name = None;
        let mut args = Vec::new();
        let mut block = None;
        for c in self.children(p) {
            match c.as_rule() {
                Rule::ident if name.is_none() => name = Some(self.ident(&c)),
                Rule::block => block = Some(self.block(c)),
                _ => args.push(self.value(c)),
            }
        }
        let name = name.unwrap_or_else(|| Ident {
            name: String::new(),
            span: sp,
        });
        Entry {
            name,
            args,
            block,
            span: sp,
        }
    }

    fn block(&mut self, p: Pair<Rule>) -> Block {
        let sp = self.span(&p);
        let closed = p
            .clone()
            .into_inner()
            .any(|c| c.as_rule() == Rule::block_close);
        if !closed {
            self.clean = false;
            self.errors.push(SyntaxError::new(
                Span::new(sp.start, sp.start + 1),
                UNCLOSED,
                Some("add the matching `}`".into()),
            ));
        }
        let statements = self.statements(p);
        Block {
            statements,
            closed,
            span: sp,
        }
    }

    fn input_decl(&mut self, p: Pair<Rule>) -> InputDecl {
        let sp = self.span(&p);
        let mut key = Key {
            name: String::new(),
            span: sp,
        };
        let mut optional = false;
        let mut ty = None;
        let mut args = Vec::new();
        let mut block = None;
        for c in self.children(p) {
            match c.as_rule() {
                Rule::kw_input => {}
                Rule::bare_key => {
                    key = Key {
                        name: c.as_str().to_string(),
                        span: self.span(&c),
                    }
                }
                Rule::string => {
                    if ty.is_none() {
                        let s = self.string(&c);
                        key = Key {
                            name: s.value,
                            span: s.span,
                        };
                    } else {
                        args.push(self.value(c));
                    }
                }
                Rule::optional_mark => optional = true,
                Rule::type_expr => ty = Some(self.type_expr(&c)),
                Rule::block => block = Some(self.block(c)),
                _ => args.push(self.value(c)),
            }
        }
        let ty = ty.unwrap_or_else(|| TypeExpr {
            name: Ident {
                name: String::new(),
                span: sp,
            },
            arg: None,
            array_depth: 0,
            span: sp,
        });
        InputDecl {
            key,
            optional,
            ty,
            args,
            block,
            span: sp,
        }
    }

    fn edges(&mut self, p: Pair<Rule>) -> EdgeChain {
        let sp = self.span(&p);
        let mut endpoints = Vec::new();
        let mut description = None;
        for c in self.children(p) {
            match c.as_rule() {
                Rule::endpoint => {
                    let esp = self.span(&c);
                    let mut parts = c.into_inner();
                    let node = parts.next().map(|n| self.endpoint_name(&n));
                    let outlet = parts.next().map(|n| self.endpoint_name(&n));
                    if let Some(node) = node {
                        endpoints.push(Endpoint {
                            node,
                            outlet,
                            span: esp,
                        });
                    }
                }
                Rule::string => description = Some(self.string(&c)),
                _ => {}
            }
        }
        EdgeChain {
            endpoints,
            description,
            span: sp,
        }
    }

    /// A node or outlet name in an edge, bare or quoted (then decoded; the span is the literal's).
    fn endpoint_name(&mut self, p: &Pair<Rule>) -> Ident {
        if p.as_rule() == Rule::string {
            let s = self.string(p);
            return Ident {
                name: s.value,
                span: s.span,
            };
        }
        self.ident(p)
    }

    fn value(&mut self, p: Pair<Rule>) -> Value {
        let sp = self.span(&p);
        let kind = match p.as_rule() {
            Rule::string => ValueKind::Str(self.string(&p)),
            Rule::jq => {
                let code = p.into_inner().next();
                let (code, code_start) = match code {
                    Some(c) => (c.as_str().to_string(), self.base + c.as_span().start()),
                    None => (String::new(), sp.start + 1),
                };
                ValueKind::Jq { code, code_start }
            }
            Rule::number => ValueKind::Number(p.as_str().to_string()),
            Rule::boolean => ValueKind::Bool(p.as_str() == "true"),
            Rule::null => ValueKind::Null,
            Rule::ident => ValueKind::Ident(self.ident(&p)),
            Rule::list => {
                let items = self
                    .children(p)
                    .into_iter()
                    .map(|c| self.value(c))
                    .collect();
                ValueKind::Array(items)
            }
            Rule::object => {
                let mut members = Vec::new();
                for m in self.children(p) {
                    let mut parts = self.children(m).into_iter();
                    let (Some(k), Some(v)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let key = if k.as_rule() == Rule::string {
                        let s = self.string(&k);
                        Key {
                            name: s.value,
                            span: s.span,
                        }
                    } else {
                        Key {
                            name: k.as_str().to_string(),
                            span: self.span(&k),
                        }
                    };
                    members.push((key, self.value(v)));
                }
                ValueKind::Object(members)
            }
            _ => ValueKind::Null,
        };
        Value { kind, span: sp }
    }

    /// Decodes a string literal, recording escapes in its offset map.
    fn string(&mut self, p: &Pair<Rule>) -> Str {
        let sp = self.span(p);
        let mut decoder = StrDecoder::new(sp.start + 1);
        for piece in p.clone().into_inner() {
            let escape = piece.as_rule() == Rule::escape;
            if let Some(e) = decoder.piece(piece.as_str(), self.span(&piece), escape) {
                self.errors.push(e);
            }
        }
        decoder.finish(sp)
    }

    /// A bare word.
    fn ident(&self, p: &Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    /// An input type.
    fn type_expr(&self, p: &Pair<Rule>) -> TypeExpr {
        let sp = self.span(p);
        let mut name = Ident {
            name: String::new(),
            span: sp,
        };
        let mut arg = None;
        let mut array_depth = 0;
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::ident => name = self.ident(&c),
                Rule::type_arg => arg = Some(self.ident(&c)),
                Rule::array_mark => array_depth += 1,
                _ => {}
            }
        }
        TypeExpr {
            name,
            arg,
            array_depth,
            span: sp,
        }
    }
}

/// The end of the token starting at `at`: a word, or one character.
fn next_token_end(src: &str, at: usize) -> usize {
    let rest = src.get(at..).unwrap_or("");
    let word = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || "_-@:$".contains(c)))
        .map_or(rest.len(), |(i, _)| i);
    if word > 0 {
        return at + word;
    }
    at + rest
        .chars()
        .next()
        .filter(|c| *c != '\n')
        .map_or(0, char::len_utf8)
}

/// Plain words for what pest expected at `at`.
fn describe_expected(e: &pest::error::Error<Rule>, text: &str, at: usize) -> String {
    let found = match text.get(at..).and_then(|r| r.chars().next()) {
        None | Some('\n') | Some('\r') => "the end of the line".to_string(),
        Some('`') => "a backtick".to_string(),
        Some(c) => format!("`{c}`"),
    };
    let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant else {
        return format!("unexpected {found}");
    };
    let mut wanted: Vec<&str> = positives.iter().filter_map(|r| rule_words(*r)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.contains(&"a value") {
        // A value may be a name, a string, a list or an object: say it once.
        wanted.retain(|w| !matches!(*w, "a name" | "a string" | "`[`" | "`{`"));
    }
    match wanted.as_slice() {
        [] => format!("unexpected {found}"),
        [one] => format!("expected {one}, found {found}"),
        [init @ .., last] => format!("expected {} or {last}, found {found}", init.join(", ")),
    }
}

fn rule_words(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::ident | Rule::endpoint | Rule::entry | Rule::statement => "a name",
        Rule::string | Rule::str_text | Rule::escape | Rule::template => "a string",
        Rule::value | Rule::number | Rule::boolean | Rule::null | Rule::jq => "a value",
        Rule::list => "`[`",
        Rule::object | Rule::member => "`{`",
        Rule::block | Rule::block_close => "`{` or `}`",
        Rule::bare_key => "a key",
        Rule::type_expr => "a type",
        Rule::optional_mark => "`?`",
        Rule::EOI => "the end of the statement",
        Rule::edge_chain => "`->`",
        _ => return None,
    })
}

/// The offset of a `"` that opens a string never closed on its line, outside backticks.
fn unclosed_quote(text: &str) -> Option<usize> {
    let mut open = None;
    let mut in_jq = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if open.is_some() => escaped = true,
            '`' if open.is_none() => in_jq = !in_jq,
            '"' if !in_jq => open = if open.is_some() { None } else { Some(i) },
            '\n' if open.is_some() => return open,
            _ => {}
        }
    }
    open
}

/// The first backtick of `text` whose jq runs past the end of its line, and that line's end.
fn multiline_jq(text: &str) -> Option<(usize, usize)> {
    let b = text.find('`')?;
    let close = text[b + 1..].find('`').map(|i| b + 1 + i)?;
    let line_end = text[b..].find('\n').map(|i| b + i)?;
    (line_end < close).then_some((b, line_end))
}

/// A hint for common mistakes in a line that could not be read.
fn junk_help(text: &str) -> Option<String> {
    let t = text.trim_start();
    if t.contains('=') && !t.contains("==") && !t.starts_with('"') {
        return Some("fields are written `name value`, without `=`".into());
    }
    if t.starts_with('#') {
        return Some("comments start with `//`".into());
    }
    if t.matches('"').count() % 2 == 1 {
        return Some("strings must end on the line they start; use `\\n` for line breaks".into());
    }
    if t.matches('`').count() % 2 == 1 {
        return Some("a jq expression in backticks needs a closing backtick".into());
    }
    None
}
