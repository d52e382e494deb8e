//! Check-time validation of jq expressions (the text between `{{` and `}}`, or a bare
//! condition).
//!
//! The checker runs only jaq's lexer and parser on each expression and then walks the
//! parsed term with a table of all built-in filters (built once from `jaq-core`,
//! `jaq-std` and `jaq-json`, the same libraries the runtime loads). No jaq compilation
//! happens per call, so a check costs microseconds.
//!
//! Besides plain jq errors it recognises Go-template helpers (`date "2006-01-02"`,
//! `lower`, `printf "%s" .x`, ...) that Port's beta documentation used, and reports
//! each one once with the jq equivalent.

use crate::hash::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use jaq_core::load::lex::{self, Lexer, StrPart, Tok, Token};
use jaq_core::load::parse::{self, BinaryOp, Def, Parser, Pattern, Term};
use jaq_core::path::Part;

/// A problem found in one jq expression. `range` is a byte range into the `code` passed to `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JqIssue {
    /// Byte range into the checked expression.
    pub range: std::ops::Range<usize>,
    /// Diagnostic code: `jq-syntax`, `jq-unknown-function`, `jq-arity`,
    /// `jq-unknown-variable` or `go-template`.
    pub code: &'static str,
    /// One-line description of the problem.
    pub message: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
}

/// Code for lexer and parser errors.
pub const SYNTAX: &str = "jq-syntax";
/// Code for calls to filters that are not defined under that name at all.
pub const UNKNOWN_FUNCTION: &str = "jq-unknown-function";
/// Code for calls to filters that exist, but with another number of arguments.
pub const ARITY: &str = "jq-arity";
/// Code for `$variables` (and `break` labels) that are not bound.
pub const UNKNOWN_VARIABLE: &str = "jq-unknown-variable";
/// Code for Go-template helpers used where jq is expected.
pub const GO_TEMPLATE: &str = "go-template";
/// Code for a `def` whose body calls itself (directly or through a nested `def`).
pub const RECURSION: &str = "jq-recursion";

/// Code for nesting deeper than the readers allow (jq here; brackets and JSON in the grammar).
pub const TOO_DEEP: &str = "too-deep";

/// Global variables that every expression may use.
const GLOBAL_VARS: [&str; 2] = ["$ENV", "$__loc__"];

/// Budget for the nesting pre-scan (see [`too_deep`]). jaq's lexer and parser, the term
/// they build and the walk over it are all recursive; with this budget the worst accepted
/// input needs well under 1 MiB of stack even in an unoptimised build (64 nested `(`,
/// 32 nested `{`, or 512 chained operators).
const NESTING_BUDGET: usize = 512;

/// jq keywords: words that are never filter names.
const KEYWORDS: [&str; 18] = [
    "def", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try", "catch", "label",
    "break", "import", "include", "module", "and", "or",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.contains(&w) || w == "__loc__"
}

// ---------------------------------------------------------------------------------------
// Built-in table
// ---------------------------------------------------------------------------------------

struct Builtin {
    arity: usize,
    /// Display signature, e.g. `test(re; flags)`.
    sig: String,
}

struct Table {
    /// `name/arity`, sorted and deduplicated.
    list: Vec<(String, usize)>,
    by_name: HashMap<&'static str, Vec<Builtin>>,
}

impl Table {
    fn has(&self, name: &str, arity: usize) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|sigs| sigs.iter().any(|b| b.arity == arity))
    }

    fn has_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn build_table() -> Table {
    type D = jaq_core::data::JustLut<jaq_json::Val>;
    let mut by_name: HashMap<&'static str, Vec<Builtin>> = HashMap::default();
    let mut add = |name: &'static str, params: Vec<String>| {
        // `!empty` and friends are compiler internals that cannot be written in jq.
        if name.is_empty() || name.starts_with('!') {
            return;
        }
        let arity = params.len();
        let sigs = by_name.entry(name).or_default();
        if sigs.iter().any(|b| b.arity == arity) {
            return;
        }
        let sig = if params.is_empty() {
            name.to_string()
        } else {
            format!("{name}({})", params.join("; "))
        };
        sigs.push(Builtin { arity, sig });
    };

    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    for def in defs {
        add(def.name, def.args.iter().map(|a| a.to_string()).collect());
    }
    let funs = jaq_core::funs::<D>()
        .chain(jaq_std::funs::<D>())
        .chain(jaq_json::funs::<D>());
    for (name, binds, _) in funs {
        let params = binds
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let i = u8::try_from(i % 20).unwrap_or(0);
                match b {
                    jaq_core::Bind::Var(()) => format!("${}", char::from(b'a' + i)),
                    jaq_core::Bind::Fun(()) => char::from(b'f' + i).to_string(),
                }
            })
            .collect();
        add(name, params);
    }

    let mut list: Vec<(String, usize)> = by_name
        .iter()
        .flat_map(|(name, sigs)| sigs.iter().map(|b| (name.to_string(), b.arity)))
        .collect();
    list.sort();
    list.dedup();
    for sigs in by_name.values_mut() {
        sigs.sort_by_key(|b| b.arity);
    }
    Table { list, by_name }
}

/// Names of all built-in filters as `name/arity`, sorted (for completion and did-you-mean).
///
/// This is every filter defined by `jaq-core`, `jaq-std` and `jaq-json` (natives and jq
/// definitions), including formats such as `@base64` and a few helpers jaq uses
/// internally (`split_`, `debug_empty`, ...), which are callable at run time too.
pub fn builtins() -> &'static [(String, usize)] {
    &table().list
}

/// Helpers that jaq defines for its own standard library; callable, but never suggested.
fn is_internal(name: &str) -> bool {
    name.ends_with('_')
        || name.ends_with("_empty")
        || matches!(name, "capture_of_match" | "totype" | "error_empty")
}

// ---------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------

/// Checks one jq expression (the text between `{{` and `}}`, or a bare condition). Returns every problem found (empty = valid).
pub fn check(code: &str) -> Vec<JqIssue> {
    if code.trim().is_empty() {
        return vec![issue(
            code.len()..code.len(),
            SYNTAX,
            "empty jq expression".into(),
            Some("write a jq filter, e.g. `.` or `.outputs.x`".into()),
        )];
    }
    if let Some(at) = too_deep(code) {
        return vec![issue(
            at..at,
            TOO_DEEP,
            "expression nested too deeply".into(),
            Some("split it into smaller expressions (e.g. with `def`s or several steps)".into()),
        )];
    }

    let tokens = match Lexer::new(code).lex() {
        Ok(tokens) => tokens,
        Err(errs) => {
            let issues = errs.iter().map(|e| lex_issue(code, e)).collect();
            return finish(issues);
        }
    };

    let table = table();
    let mut locals = Vec::new();
    collect_def_names(&tokens, &mut locals);
    let mut issues = Vec::new();
    scan_juxtaposition(code, &tokens, false, table, &locals, &mut issues);
    if !issues.is_empty() {
        return finish(issues);
    }

    let term = match Parser::new(&tokens).parse(Parser::term) {
        Ok(term) => term,
        Err(errs) => {
            let leaves = leaves(code, &tokens);
            let issues = errs
                .iter()
                .map(|(expect, found)| parse_issue(code, &leaves, expect, *found))
                .collect();
            return finish(issues);
        }
    };

    let mut walker = Walker {
        code,
        table,
        funs: Vec::new(),
        vars: Vec::new(),
        labels: Vec::new(),
        defining: Vec::new(),
        issues,
    };
    walker.term(&term);
    finish(walker.issues)
}

fn issue(
    range: Range<usize>,
    code: &'static str,
    message: String,
    help: Option<String>,
) -> JqIssue {
    JqIssue {
        range,
        code,
        message,
        help,
    }
}

/// Sorts issues by position and drops repeats at the same range.
fn finish(mut issues: Vec<JqIssue>) -> Vec<JqIssue> {
    issues.sort_by_key(|i| (i.range.start, i.range.end));
    issues.dedup_by(|a, b| a.range == b.range);
    issues
}

/// Byte range of `part` inside `whole`, or the end of `whole` if `part` is not a slice of it.
pub(crate) fn span(whole: &str, part: &str) -> Range<usize> {
    let base = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= base && p.saturating_add(part.len()) <= base.saturating_add(whole.len()) {
        let start = p - base;
        start..start + part.len()
    } else {
        whole.len()..whole.len()
    }
}

/// Shortens a token for display in a message.
fn shown(s: &str) -> String {
    const MAX: usize = 24;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Nesting pre-scan
// ---------------------------------------------------------------------------------------

/// Returns the byte offset where the nesting cost first exceeds [`NESTING_BUDGET`].
///
/// The cost of a position is the sum, over all brackets that are open there, of the
/// bracket's own cost plus the cost of the operators and prefix keywords seen inside it so
/// far: these are exactly the constructs that make jaq's parser (and the nested term it
/// builds) recurse. Strings are skipped, except for `\(...)` interpolations.
pub(crate) fn too_deep(code: &str) -> Option<usize> {
    const BRACKET: usize = 8;
    const BRACE: usize = 16;
    const PREFIX: usize = 8;
    const AS: usize = 4;
    const OP: usize = 1;
    #[derive(Clone, Copy, PartialEq)]
    enum Frame {
        Code,
        /// object braces: `,` separates entries there and costs nothing
        Brace,
        Str,
    }
    // No byte costs more than a `{`: a short expression is never too deep.
    if code.len() * BRACE <= NESTING_BUDGET {
        return None;
    }
    let bytes = code.as_bytes();
    let is_op = |b: u8| b"|,+-*/%=<>!".contains(&b);
    // (frame, cost to restore when it closes)
    let mut stack: Vec<(Frame, usize)> = Vec::new();
    let mut cost = 0usize;
    // last byte that was not whitespace, to tell unary from binary `-` and op runs apart
    let mut prev: u8 = b'(';
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        i += 1;
        if matches!(stack.last(), Some((Frame::Str, _))) {
            match b {
                b'"' => {
                    if let Some((_, c)) = stack.pop() {
                        cost = c;
                    }
                    prev = b'"';
                }
                b'\\' if bytes.get(i) == Some(&b'(') => {
                    stack.push((Frame::Code, cost));
                    cost += BRACKET;
                    prev = b'(';
                    i += 1;
                }
                b'\\' => i += 1,
                _ => {}
            }
        } else {
            match b {
                b'"' => stack.push((Frame::Str, cost)),
                b'(' | b'[' => {
                    stack.push((Frame::Code, cost));
                    cost += BRACKET;
                }
                b'{' => {
                    stack.push((Frame::Brace, cost));
                    cost += BRACE;
                }
                b')' | b']' | b'}' => {
                    if let Some((_, c)) = stack.pop() {
                        cost = c;
                    }
                }
                b'#' => {
                    while bytes.get(i).is_some_and(|&b| b != b'\n') {
                        i += 1;
                    }
                    continue;
                }
                b'-' if is_op(prev) || b"([{:;".contains(&prev) => cost += PREFIX,
                b',' if matches!(stack.last(), Some((Frame::Brace, _))) => {}
                _ if is_op(b) && !is_op(prev) => cost += OP,
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    while bytes
                        .get(i)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    {
                        i += 1;
                    }
                    match code.get(start..i).unwrap_or("") {
                        "def" | "if" | "try" | "reduce" | "foreach" | "label" => cost += PREFIX,
                        "as" => cost += AS,
                        "and" | "or" | "elif" => cost += OP,
                        // a keyword behaves like an operator before a unary `-`
                        "then" | "else" | "catch" => {
                            if cost > NESTING_BUDGET {
                                return Some(start);
                            }
                            prev = b'|';
                            continue;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if cost > NESTING_BUDGET {
            return Some(start);
        }
        if !b.is_ascii_whitespace() {
            prev = b;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Lex errors
// ---------------------------------------------------------------------------------------

fn closing(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
        "{" => "}",
        _ => "\"",
    }
}

/// Where a bracket or quote was opened, for a help text: "after `.a`" (the text before it,
/// shortened), or "at the start of the expression".
fn opening_context(code: &str, at: usize) -> String {
    let before = code.get(..at).unwrap_or("").trim_end();
    if before.is_empty() {
        return "at the start of the expression".into();
    }
    let n = before.chars().count();
    let tail: String = before.chars().skip(n.saturating_sub(16)).collect();
    let ellipsis = if n > 16 { "…" } else { "" };
    format!("after `{ellipsis}{tail}`")
}

fn lex_issue(code: &str, (expect, found): &lex::Error<&str>) -> JqIssue {
    let at = span(code, found).start;
    let end = code.len();
    let next_char = found.chars().next();
    let char_range = |c: char| at..at + c.len_utf8();
    match expect {
        lex::Expect::Delim(open) => {
            let opened = opening_context(code, span(code, open).start);
            match next_char {
                None if *open == "\"" => issue(
                    end..end,
                    SYNTAX,
                    "unterminated string".into(),
                    Some(format!(
                        "add a closing `\"` to the string that starts {opened}"
                    )),
                ),
                None => issue(
                    end..end,
                    SYNTAX,
                    format!("unclosed `{open}`"),
                    Some(format!(
                        "add `{}` to close the `{open}` {opened}",
                        closing(open)
                    )),
                ),
                Some(c @ (')' | ']' | '}')) => issue(
                    char_range(c),
                    SYNTAX,
                    format!(
                        "expected `{}` to close `{open}`, found `{c}`",
                        closing(open)
                    ),
                    Some(format!("the `{open}` {opened} is not closed")),
                ),
                Some(c) => bad_char(at, c),
            }
        }
        lex::Expect::Token => match next_char {
            Some(c @ (')' | ']' | '}')) => issue(
                char_range(c),
                SYNTAX,
                format!("unmatched `{c}`"),
                Some("remove it or add the matching opening bracket".into()),
            ),
            Some(c) => bad_char(at, c),
            None => issue(
                end..end,
                SYNTAX,
                "unexpected end of expression".into(),
                None,
            ),
        },
        lex::Expect::Escape => {
            let start = at.saturating_sub(1);
            let stop = next_char.map_or(at, |c| at + c.len_utf8());
            let text = code.get(start..stop).unwrap_or("\\");
            issue(
                start..stop,
                SYNTAX,
                format!("invalid escape `{text}` in string"),
                Some(
                    "jq strings accept `\\\\`, `\\\"`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t`, \
                     `\\uXXXX` and interpolation `\\(...)`"
                        .into(),
                ),
            )
        }
        lex::Expect::Unicode => {
            let stop = found
                .char_indices()
                .nth(4)
                .map_or(at + found.len(), |(i, _)| at + i);
            issue(
                at..stop,
                SYNTAX,
                "invalid unicode escape: expected 4 hexadecimal digits after `\\u`".into(),
                None,
            )
        }
        lex::Expect::Digit => {
            let range = next_char.map_or(end..end, char_range);
            issue(range, SYNTAX, "expected a digit in number".into(), None)
        }
        lex::Expect::Ident => {
            let before = code.get(..at).and_then(|s| s.chars().next_back());
            let (start, message) = match before {
                Some('$') => (at - 1, "expected a variable name after `$`"),
                Some('@') => (at - 1, "expected a format name after `@`"),
                _ => (at, "expected a name after `::`"),
            };
            let stop = next_char.map_or(at, |c| at + c.len_utf8());
            issue(
                start..stop.max(start + 1).min(end),
                SYNTAX,
                message.into(),
                None,
            )
        }
        _ => {
            let range = next_char.map_or(end..end, char_range);
            issue(range, SYNTAX, "invalid jq syntax".into(), None)
        }
    }
}

fn bad_char(at: usize, c: char) -> JqIssue {
    let help = match c {
        '&' => Some("jq writes logical and as `and`".into()),
        '\'' | '`' => Some("jq strings use double quotes: `\"text\"`".into()),
        '^' => Some("jq has no `^`; use `pow(a; b)`".into()),
        '~' => Some("jq has no `~`; use `test(\"regex\")`".into()),
        _ => None,
    };
    issue(
        at..at + c.len_utf8(),
        SYNTAX,
        format!("unexpected character `{c}`"),
        help,
    )
}

// ---------------------------------------------------------------------------------------
// Parse errors
// ---------------------------------------------------------------------------------------

/// Byte ranges of all leaf tokens (block openers count as a leaf), for "after `x`" messages.
fn leaves(code: &str, tokens: &[Token<&str>]) -> Vec<Range<usize>> {
    fn go(code: &str, tokens: &[Token<&str>], out: &mut Vec<Range<usize>>) {
        for Token(s, tok) in tokens {
            let r = span(code, s);
            match tok {
                Tok::Block(inner) => {
                    out.push(r.start..(r.start + 1).min(r.end));
                    go(code, inner, out);
                }
                Tok::Str(parts) => {
                    out.push(r);
                    for part in parts {
                        if let StrPart::Term(Token(_, Tok::Block(inner))) = part {
                            go(code, inner, out);
                        }
                    }
                }
                _ => out.push(r),
            }
        }
    }
    let mut out = Vec::new();
    go(code, tokens, &mut out);
    out
}

fn parse_issue(
    code: &str,
    leaves: &[Range<usize>],
    expect: &parse::Expect<&str>,
    found: Option<&Token<&str>>,
) -> JqIssue {
    let end = code.len();
    let (range, found_text) = match found {
        Some(Token(s, _)) => (span(code, s), Some(*s)),
        None => (end..end, None),
    };
    let prev = leaves
        .iter()
        .filter(|r| r.end <= range.start && r.start < range.start)
        .max_by_key(|r| r.end)
        .and_then(|r| code.get(r.clone()));
    let found_words = match found_text {
        Some(s) => format!("found `{}`", shown(s)),
        None => "found the end of the expression".into(),
    };
    let juxtaposition_help = || {
        found_text.filter(|s| starts_term_text(s)).map(|_| {
            "jq does not put terms side by side; join them with `|`, `,` or an operator".to_string()
        })
    };
    let dialect_help = || {
        let before = code.get(..range.start).unwrap_or("");
        let after = code.get(range.end..).unwrap_or("");
        match found {
            Some(Token(_, Tok::Num)) if before.ends_with('.') => Some(
                "jaq needs a digit before the decimal point: write `0.5`, not `.5`".to_string(),
            ),
            Some(Token("?", _)) if after.starts_with("//") => {
                Some("jaq does not support `?//` alternative destructuring".to_string())
            }
            _ => None,
        }
    };
    let symbol_help = || match found_text {
        Some("!") => Some("jq writes negation as `not`, e.g. `.a | not`".to_string()),
        Some("||") => Some("jq writes logical or as `or`".to_string()),
        Some("&&") => Some("jq writes logical and as `and`".to_string()),
        _ => None,
    };
    let (message, help) = match expect {
        parse::Expect::Term => {
            let message = match (prev, found_text) {
                (Some(p), None) => format!("expected a term after `{}`", shown(p)),
                (Some(p), Some(_)) => {
                    format!("expected a term after `{}`, {found_words}", shown(p))
                }
                (None, _) => format!("expected a term, {found_words}"),
            };
            (message, symbol_help())
        }
        parse::Expect::Just(s) => (
            format!("expected `{s}`, {found_words}"),
            dialect_help()
                .or_else(juxtaposition_help)
                .or_else(symbol_help),
        ),
        parse::Expect::Nothing => (
            match found_text {
                Some(s) => format!("unexpected `{}` after a complete expression", shown(s)),
                None => "unexpected end of expression".into(),
            },
            dialect_help()
                .or_else(juxtaposition_help)
                .or_else(symbol_help),
        ),
        parse::Expect::Var => (
            format!("expected a variable like `$x`, {found_words}"),
            None,
        ),
        parse::Expect::Pattern => (
            format!("expected a variable or destructuring pattern after `as`, {found_words}"),
            Some("write e.g. `. as $x | ...` or `. as {a: $a} | ...`".into()),
        ),
        parse::Expect::ElseOrEnd => (
            format!("expected `elif`, `else` or `end`, {found_words}"),
            Some("close the `if` with `end`: `if c then a else b end`".into()),
        ),
        parse::Expect::CommaOrRBrack => (format!("expected `,` or `]`, {found_words}"), None),
        parse::Expect::CommaOrRBrace => (
            format!("expected `,` or `}}` in object, {found_words}"),
            juxtaposition_help(),
        ),
        parse::Expect::SemicolonOrRParen => (
            format!("expected `;` or `)` between arguments, {found_words}"),
            None,
        ),
        parse::Expect::Key => (
            format!("expected a field name or `[` after `.`, {found_words}"),
            None,
        ),
        parse::Expect::Ident => (format!("expected a name, {found_words}"), None),
        parse::Expect::Arg => (format!("expected a parameter name, {found_words}"), None),
        parse::Expect::Str => (format!("expected a string, {found_words}"), None),
        _ => (format!("invalid jq syntax, {found_words}"), None),
    };
    issue(range, SYNTAX, message, help)
}

/// Does a token text begin something that could be a term (used for juxtaposition hints)?
fn starts_term_text(s: &str) -> bool {
    match s.chars().next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => !is_keyword(s),
        Some('"' | '$' | '@' | '.' | '{' | '[' | '(') => true,
        Some(c) => c.is_ascii_digit(),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------
// Token scan: juxtaposition and Go-template helpers
// ---------------------------------------------------------------------------------------

/// Names introduced by `def name` and the filter parameters of such definitions.
fn collect_def_names<'s>(tokens: &[Token<&'s str>], out: &mut Vec<&'s str>) {
    let mut iter = tokens.iter().peekable();
    while let Some(Token(s, tok)) = iter.next() {
        match tok {
            Tok::Word if *s == "def" => {
                if let Some(Token(name, Tok::Word | Tok::Fmt)) = iter.peek() {
                    out.push(name);
                    iter.next();
                    if let Some(Token(full, Tok::Block(params))) = iter.peek()
                        && full.starts_with('(')
                    {
                        out.extend(params.iter().filter_map(|t| match t {
                            Token(p, Tok::Word) => Some(*p),
                            _ => None,
                        }));
                    }
                }
            }
            Tok::Block(inner) => collect_def_names(inner, out),
            Tok::Str(parts) => {
                for part in parts {
                    if let StrPart::Term(Token(_, Tok::Block(inner))) = part {
                        collect_def_names(inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// May `t` be an argument of a juxtaposed (Go-template style) call?
fn is_arg_token(t: &Token<&str>) -> bool {
    match t {
        Token(_, Tok::Str(_) | Tok::Num | Tok::Var | Tok::Fmt | Tok::Block(_)) => true,
        Token(w, Tok::Word) => !is_keyword(w),
        Token(s, Tok::Sym) => s.starts_with('.') || *s == "?",
    }
}

/// Does `next`, directly after a filter name, start a second term (which jq forbids)?
///
/// `f[0]`, `f(x)`, `f?` and `f.a` / `f .a` are valid jq, so brackets and parentheses never
/// count, and a following `.key` counts only for Go helpers that are not jq filters.
fn juxtaposed(next: &Token<&str>, dot_counts: bool) -> bool {
    match next {
        Token(_, Tok::Str(_) | Tok::Num | Tok::Var | Tok::Fmt) => true,
        Token(w, Tok::Word) => !is_keyword(w),
        Token(full, Tok::Block(_)) => full.starts_with('{'),
        Token(s, Tok::Sym) => *s == ".." || (dot_counts && s.starts_with('.')),
    }
}

/// Finds Go-template helpers and juxtaposed calls (`name "arg"`, `name a b`), which jq
/// does not allow, before jaq's parser turns them into a less helpful syntax error.
///
/// `object` is true for the tokens inside `{...}`, where a word at the start of an entry
/// is a key (`{date: 1}`, `{lower}`), not a call.
fn scan_juxtaposition(
    code: &str,
    tokens: &[Token<&str>],
    object: bool,
    table: &Table,
    locals: &[&str],
    out: &mut Vec<JqIssue>,
) {
    let mut i = 0;
    while let Some(Token(s, tok)) = tokens.get(i) {
        let key = object && (i == 0 || tokens.get(i - 1).is_some_and(|t| t.0 == ","));
        match tok {
            Tok::Word if !key && !is_keyword(s) && !s.contains("::") => {
                let after_def = i > 0 && tokens.get(i - 1).is_some_and(|t| t.0 == "def");
                let is_local = locals.contains(s);
                let jq_known = is_local || table.has_name(s);
                let helper = if is_local { None } else { go_helper(s) };
                // `sub "a" "b"` is jq's `sub` called Go-style, not sprig's subtraction
                let string_arg = tokens
                    .get(i + 1)
                    .is_some_and(|t| matches!(t.1, Tok::Str(_)));
                let helper = helper.filter(|h| !(*h == Go::Sub && string_arg));
                let next = tokens.get(i + 1);
                // `f.a` / `f .a` index the output of `f` in jq; after a Go helper name that
                // jq lacks (`lower .name`), or after a space (`trim .x`), it is an argument.
                let gap = next.is_some_and(|n| span(code, n.0).start > span(code, s).end);
                let dot_counts = helper.is_some() && (!jq_known || gap);
                if !after_def && next.is_some_and(|n| juxtaposed(n, dot_counts)) {
                    // Collect the juxtaposed arguments; adjacent tokens (`.a.b`, `.a[0]`,
                    // `f(x)`) form one argument.
                    let mut args: Vec<Range<usize>> = Vec::new();
                    let mut j = i + 1;
                    while let Some(t) = tokens.get(j).filter(|t| is_arg_token(t)) {
                        let r = span(code, t.0);
                        match args.last_mut() {
                            Some(last) if last.end == r.start => last.end = r.end,
                            _ => args.push(r),
                        }
                        j += 1;
                    }
                    let word = span(code, s);
                    let range = word.start..args.last().map_or(word.end, |r| r.end);
                    let args: Vec<&str> = args.iter().filter_map(|r| code.get(r.clone())).collect();
                    out.push(match helper {
                        Some(h) => go_issue(range, s, h, &args),
                        None if jq_known => issue(
                            range,
                            SYNTAX,
                            format!("jq does not call `{s}` by juxtaposition"),
                            Some(format!("write `{s}({})`", args.join("; "))),
                        ),
                        None => issue(
                            range,
                            GO_TEMPLATE,
                            format!("`{s} ...` looks like a Go-template call, not jq"),
                            Some(format!(
                                "`{s}` is not a jq filter; jq calls filters as `name(a; b)` and passes input with `|`"
                            )),
                        ),
                    });
                    i = j;
                    continue;
                }
                if let Some(h) = helper.filter(|_| !jq_known && !after_def) {
                    let word = span(code, s);
                    // `lower(.x)`: take the parenthesised argument along.
                    let (range, args) = match next {
                        Some(Token(full, Tok::Block(_))) if full.starts_with('(') => {
                            let r = span(code, full);
                            let inner = full
                                .get(1..full.len().saturating_sub(1))
                                .unwrap_or("")
                                .trim();
                            i += 1;
                            (word.start..r.end, vec![inner])
                        }
                        _ => (word, Vec::new()),
                    };
                    out.push(go_issue(range, s, h, &args));
                }
            }
            Tok::Block(inner) => {
                let object = s.starts_with('{');
                scan_juxtaposition(code, inner, object, table, locals, out);
            }
            Tok::Str(parts) => {
                for part in parts {
                    if let StrPart::Term(Token(_, Tok::Block(inner))) = part {
                        scan_juxtaposition(code, inner, false, table, locals, out);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// A Go-template / sprig helper that has a jq equivalent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Go {
    Date,
    Lower,
    Upper,
    Replace,
    Printf,
    Print,
    AddDuration,
    Mul,
    Add,
    Sub,
    Div,
    Mod,
    Default,
    Trim,
    ToJson,
    Quote,
    ToString,
    Len,
    HasPrefix,
    HasSuffix,
    TrimPrefix,
    TrimSuffix,
    B64Enc,
    B64Dec,
    Contains,
    Join,
    Split,
    Index,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
}

fn go_helper(name: &str) -> Option<Go> {
    Some(match name {
        "date" | "dateInZone" | "date_in_zone" => Go::Date,
        "lower" | "tolower" | "toLower" => Go::Lower,
        "upper" | "toupper" | "toUpper" => Go::Upper,
        "replace" => Go::Replace,
        "printf" => Go::Printf,
        "print" | "println" => Go::Print,
        "add_duration" | "addDuration" | "dateModify" | "date_modify" => Go::AddDuration,
        "mul" => Go::Mul,
        "add" => Go::Add,
        "sub" => Go::Sub,
        "div" => Go::Div,
        "mod" => Go::Mod,
        "default" => Go::Default,
        "trim" => Go::Trim,
        "toJson" | "toJSON" | "toRawJson" | "toPrettyJson" | "mustToJson" => Go::ToJson,
        "quote" | "squote" => Go::Quote,
        "toString" => Go::ToString,
        "len" => Go::Len,
        "hasPrefix" => Go::HasPrefix,
        "hasSuffix" => Go::HasSuffix,
        "trimPrefix" => Go::TrimPrefix,
        "trimSuffix" => Go::TrimSuffix,
        "b64enc" => Go::B64Enc,
        "b64dec" => Go::B64Dec,
        "contains" => Go::Contains,
        "join" => Go::Join,
        "split" => Go::Split,
        "index" => Go::Index,
        "eq" => Go::Eq,
        "ne" => Go::Ne,
        "lt" => Go::Lt,
        "le" => Go::Le,
        "gt" => Go::Gt,
        "ge" => Go::Ge,
        "not" => Go::Not,
        _ => return None,
    })
}

const DATE_HELP: &str = "write `now | todateiso8601` (or `now | strftime(\"%Y-%m-%dT%H:%M:%SZ\")`)";

fn go_issue(range: Range<usize>, name: &str, helper: Go, args: &[&str]) -> JqIssue {
    let help = go_help(helper, args);
    issue(
        range,
        GO_TEMPLATE,
        format!("`{name}` is a Go-template helper, not jq"),
        Some(help),
    )
}

/// `x | filter`, or `filter` alone when there is no argument.
fn piped(input: Option<&&str>, filter: &str) -> String {
    match input {
        Some(x) => format!("{x} | {filter}"),
        None => filter.to_string(),
    }
}

fn go_help(helper: Go, args: &[&str]) -> String {
    let a0 = args.first();
    let a1 = args.get(1);
    let a2 = args.get(2);
    let binop = |op: &str, example: &str| match (a0, a1) {
        (Some(x), Some(y)) => format!("write `{x} {op} {y}`"),
        _ => format!("use the `{op}` operator, e.g. `{example}`"),
    };
    let unary = |filter: &str| format!("write `{}`", piped(a0, filter));
    // sprig passes the subject last: `trimPrefix "x" .s` is `.s | ltrimstr("x")`.
    let with_arg = |filter: &str, example: &str| match (a0, a1) {
        (Some(arg), subject) => format!("write `{}`", piped(subject, &format!("{filter}({arg})"))),
        (None, _) => format!("use `{filter}`, e.g. `{example}`"),
    };
    match helper {
        Go::Date => {
            let layout = a0.and_then(|s| string_literal(s));
            match layout.and_then(go_layout_to_strftime) {
                Some(fmt) if fmt != "%Y-%m-%dT%H:%M:%SZ" => {
                    format!("{DATE_HELP}; for this layout write `now | strftime(\"{fmt}\")`")
                }
                _ => DATE_HELP.to_string(),
            }
        }
        Go::Lower => unary("ascii_downcase"),
        Go::Upper => unary("ascii_upcase"),
        Go::Replace => match (a0, a1) {
            (Some(from), Some(to)) => format!(
                "write `{}` (note: `gsub` takes a regex)",
                piped(a2, &format!("gsub({from}; {to})"))
            ),
            _ => "write `gsub(\"a\"; \"b\")` (note: `gsub` takes a regex)".into(),
        },
        Go::Printf => match printf_to_interpolation(args) {
            Some(s) => format!("use string interpolation: `{s}`"),
            None => "use string interpolation, e.g. `\"\\(.x)\"`".into(),
        },
        Go::Print => {
            if args.is_empty() {
                "use string interpolation, e.g. `\"\\(.x)\"`".into()
            } else {
                let parts: String = args
                    .iter()
                    .map(|a| match string_literal(a) {
                        Some(lit) => lit.to_string(),
                        None => format!("\\({a})"),
                    })
                    .collect();
                format!("use string interpolation: `\"{parts}\"`")
            }
        }
        Go::AddDuration => {
            let secs = args
                .iter()
                .filter_map(|a| string_literal(a))
                .find_map(go_duration_seconds);
            match secs {
                Some(s) => format!(
                    "jq has no durations: add seconds to `now` and format, e.g. `now + {s} | todateiso8601`"
                ),
                None => "jq has no durations: add seconds to `now` and format, e.g. `now + 3600 | todateiso8601`".into(),
            }
        }
        Go::Mul => binop("*", ".a * 2"),
        Go::Add => binop("+", ".a + 1"),
        Go::Sub => binop("-", ".a - 1"),
        Go::Div => binop("/", ".a / 2"),
        Go::Mod => binop("%", ".a % 2"),
        Go::Eq => binop("==", ".a == \"x\""),
        Go::Ne => binop("!=", ".a != \"x\""),
        Go::Lt => binop("<", ".a < 1"),
        Go::Le => binop("<=", ".a <= 1"),
        Go::Gt => binop(">", ".a > 1"),
        Go::Ge => binop(">=", ".a >= 1"),
        Go::Default => match (a0, a1) {
            (Some(d), Some(x)) => format!("write `{x} // {d}`"),
            (Some(d), None) => format!("write `. // {d}`"),
            _ => "use the alternative operator, e.g. `. // \"x\"`".into(),
        },
        Go::Trim => format!(
            "write `{}` (jaq has `trim`, `ltrimstr(\"x\")` and `rtrimstr(\"x\")`)",
            piped(a0, "trim")
        ),
        Go::ToJson | Go::Quote => unary("tojson"),
        Go::ToString => unary("tostring"),
        Go::Len => unary("length"),
        Go::Not => unary("not"),
        Go::B64Enc => unary("@base64"),
        Go::B64Dec => unary("@base64d"),
        Go::HasPrefix => with_arg("startswith", "startswith(\"x\")"),
        Go::HasSuffix => with_arg("endswith", "endswith(\"x\")"),
        Go::TrimPrefix => with_arg("ltrimstr", "ltrimstr(\"x\")"),
        Go::TrimSuffix => with_arg("rtrimstr", "rtrimstr(\"x\")"),
        Go::Contains => with_arg("contains", "contains(\"x\")"),
        Go::Join => with_arg("join", "join(\",\")"),
        Go::Split => with_arg("split", "split(\",\")"),
        Go::Index => match (a0, a1) {
            (Some(x), Some(k)) => format!("write `{x}[{k}]`"),
            _ => "index with brackets, e.g. `.a[\"key\"]` or `.a[0]`".into(),
        },
    }
}

/// The contents of a plain string literal token (`"abc"` → `abc`), escapes kept as written.
fn string_literal(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains("\\(")).then_some(inner)
}

/// `printf "%s-%s" .a .b` → `"\(.a)-\(.b)"`.
fn printf_to_interpolation(args: &[&str]) -> Option<String> {
    let (fmt, rest) = args.split_first()?;
    let fmt = string_literal(fmt)?;
    let mut rest = rest.iter();
    let mut out = String::from("\"");
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // skip flags and width, then the verb
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | '#' | ' '))
        {
            chars.next();
        }
        match chars.next()? {
            '%' => out.push('%'),
            'q' => out.push_str(&format!("\\({} | tojson)", rest.next()?)),
            _ => out.push_str(&format!("\\({})", rest.next()?)),
        }
    }
    if rest.next().is_some() {
        return None;
    }
    out.push('"');
    Some(out)
}

/// Converts a Go time layout (`2006-01-02 15:04`) to a `strftime` format.
fn go_layout_to_strftime(layout: &str) -> Option<String> {
    const TABLE: [(&str, &str); 24] = [
        ("January", "%B"),
        ("Monday", "%A"),
        ("Z07:00", "%z"),
        ("-07:00", "%z"),
        ("-0700", "%z"),
        ("2006", "%Y"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        (".000", ".%3f"),
        ("002", "%j"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
        ("pm", "%P"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
    ];
    let mut out = String::new();
    let mut rest = layout;
    let mut matched = false;
    'outer: while !rest.is_empty() {
        for (go, fmt) in TABLE {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(fmt);
                rest = r;
                matched = true;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
        }
        rest = chars.as_str();
    }
    matched.then_some(out)
}

/// Parses a Go duration such as `1h30m` or `-15m` into whole seconds.
fn go_duration_seconds(s: &str) -> Option<i64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?;
        rest = rest.get(unit_len..)?;
        let mult = match unit {
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            "d" => 86400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(sign * total)
}

// ---------------------------------------------------------------------------------------
// Term walk: unknown functions and variables
// ---------------------------------------------------------------------------------------

struct Walker<'s, 't> {
    code: &'s str,
    table: &'t Table,
    /// Local definitions and filter parameters in scope, innermost last.
    funs: Vec<(&'s str, usize, Option<&'t Def<&'s str>>)>,
    /// Bound variables (with `$`), innermost last.
    vars: Vec<&'s str>,
    /// Bound `label $x` names.
    labels: Vec<&'s str>,
    /// The definitions whose bodies are being walked, outermost first.
    defining: Vec<&'t Def<&'s str>>,
    issues: Vec<JqIssue>,
}

impl<'s, 't> Walker<'s, 't> {
    fn term(&mut self, t: &'t Term<&'s str>) {
        match t {
            Term::Id | Term::Recurse | Term::Num(_) | Term::Arr(None) => {}
            Term::Str(fmt, parts) => {
                if let Some(fmt) = fmt {
                    self.call(fmt, &[]);
                }
                for part in parts {
                    if let StrPart::Term(t) = part {
                        self.term(t);
                    }
                }
            }
            Term::Arr(Some(t)) | Term::Neg(t) => self.term(t),
            Term::Obj(entries) => {
                for (k, v) in entries {
                    self.term(k);
                    if let Some(v) = v {
                        self.term(v);
                    }
                }
            }
            Term::BinOp(l, op, r) => {
                self.term(l);
                match op {
                    BinaryOp::Pipe(Some(pat)) => {
                        self.pattern_keys(pat);
                        let n = self.vars.len();
                        pattern_vars(pat, &mut self.vars);
                        self.term(r);
                        self.vars.truncate(n);
                    }
                    _ => self.term(r),
                }
            }
            Term::Label(x, t) => {
                self.labels.push(x);
                self.term(t);
                self.labels.pop();
            }
            Term::Break(x) => {
                if !self.labels.contains(x) {
                    self.issues.push(issue(
                        span(self.code, x),
                        UNKNOWN_VARIABLE,
                        format!("unknown label `{x}`"),
                        Some(format!("`break {x}` needs an enclosing `label {x} | ...`")),
                    ));
                }
            }
            Term::Fold(name, xs, pat, args) => {
                self.term(xs);
                self.pattern_keys(pat);
                let ok = match *name {
                    "reduce" => args.len() == 2,
                    _ => matches!(args.len(), 2 | 3),
                };
                if !ok {
                    let shape = if *name == "reduce" {
                        "(init; update)"
                    } else {
                        "(init; update) or (init; update; extract)"
                    };
                    self.issues.push(issue(
                        span(self.code, name),
                        SYNTAX,
                        format!(
                            "`{name}` expects {shape}, but got {} argument(s)",
                            args.len()
                        ),
                        Some(format!("write e.g. `{name} .[] as $x (0; . + $x)`")),
                    ));
                }
                let mut args = args.iter();
                if let Some(init) = args.next() {
                    self.term(init);
                }
                let n = self.vars.len();
                pattern_vars(pat, &mut self.vars);
                for t in args {
                    self.term(t);
                }
                self.vars.truncate(n);
            }
            Term::TryCatch(t, catch) => {
                self.term(t);
                if let Some(c) = catch {
                    self.term(c);
                }
            }
            Term::IfThenElse(branches, else_) => {
                for (cond, then) in branches {
                    self.term(cond);
                    self.term(then);
                }
                if let Some(e) = else_ {
                    self.term(e);
                }
            }
            Term::Def(defs, t) => {
                let n = self.funs.len();
                for def in defs {
                    self.def(def);
                    self.funs.push((def.name, def.args.len(), Some(def)));
                }
                self.term(t);
                self.funs.truncate(n);
            }
            Term::Call(name, args) => {
                self.call(name, args);
                for a in args {
                    self.term(a);
                }
            }
            Term::Var(x) => self.var(x),
            Term::Path(t, path) => {
                self.term(t);
                for (part, _) in &path.0 {
                    match part {
                        Part::Index(i) => self.term(i),
                        Part::Range(from, to) => {
                            if let Some(f) = from {
                                self.term(f);
                            }
                            if let Some(t) = to {
                                self.term(t);
                            }
                        }
                    }
                }
            }
        }
    }

    fn def(&mut self, def: &'t Def<&'s str>) {
        let (nf, nv) = (self.funs.len(), self.vars.len());
        // the definition can call itself
        self.funs.push((def.name, def.args.len(), Some(def)));
        for arg in &def.args {
            if arg.starts_with('$') {
                self.vars.push(arg);
            } else {
                self.funs.push((arg, 0, None));
            }
        }
        self.defining.push(def);
        self.term(&def.body);
        self.defining.pop();
        self.funs.truncate(nf);
        self.vars.truncate(nv);
    }

    fn pattern_keys(&mut self, pat: &'t Pattern<&'s str>) {
        match pat {
            Pattern::Var(_) => {}
            Pattern::Arr(pats) => pats.iter().for_each(|p| self.pattern_keys(p)),
            Pattern::Obj(entries) => {
                for (k, p) in entries {
                    // `{$x}` keys are synthesised from the variable name; nothing to check
                    self.term(k);
                    self.pattern_keys(p);
                }
            }
        }
    }

    fn var(&mut self, x: &'s str) {
        if self.vars.contains(&x) || GLOBAL_VARS.contains(&x) {
            return;
        }
        let candidates = self.vars.iter().copied().chain(GLOBAL_VARS);
        let help = did_you_mean(x, candidates)
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| {
                let bare = x.trim_start_matches('$');
                let is_param = self.funs.iter().any(|(n, a, d)| *n == bare && *a == 0 && d.is_none());
                Some(if is_param {
                    format!("`{bare}` is a filter parameter; use it as `{bare}`, or declare the parameter as `${bare}`")
                } else {
                    format!("bind it first, e.g. `.value as {x} | ...`")
                })
            });
        self.issues.push(issue(
            span(self.code, x),
            UNKNOWN_VARIABLE,
            format!("unknown variable `{x}`"),
            help,
        ));
    }

    fn call(&mut self, name: &'s str, args: &[Term<&'s str>]) {
        let arity = args.len();
        let range = span(self.code, name);
        let local = self
            .funs
            .iter()
            .rev()
            .find(|(n, a, _)| *n == name && *a == arity);
        if let Some((_, _, Some(def))) = local
            && self.defining.iter().any(|d| std::ptr::eq(*d, *def))
        {
            self.issues.push(issue(
                range,
                RECURSION,
                format!("`{name}` calls itself; recursion is not allowed in workflow expressions"),
                Some("use `recurse`, `reduce`, `until` or `limit` instead".into()),
            ));
            return;
        }
        if local.is_some() || self.table.has(name, arity) {
            return;
        }
        if is_keyword(name) {
            self.issues.push(issue(
                range,
                SYNTAX,
                format!("unexpected keyword `{name}`"),
                None,
            ));
            return;
        }
        if name.contains("::") {
            self.issues.push(issue(
                range,
                UNKNOWN_FUNCTION,
                format!("unknown jq function `{name}/{arity}`"),
                Some("modules cannot be imported in workflow expressions".into()),
            ));
            return;
        }
        if let Some(h) = go_helper(name).filter(|_| !self.table.has_name(name)) {
            self.issues.push(go_issue(range, name, h, &[]));
            return;
        }

        // Same name, other arities?
        let mut sigs: Vec<(usize, String)> = Vec::new();
        for (n, a, def) in self.funs.iter().rev() {
            if *n == name && !sigs.iter().any(|(x, _)| x == a) {
                let sig = match def {
                    Some(d) if !d.args.is_empty() => format!("{name}({})", d.args.join("; ")),
                    _ => name.to_string(),
                };
                sigs.push((*a, sig));
            }
        }
        if let Some(builtins) = self.table.by_name.get(name) {
            for b in builtins {
                if !sigs.iter().any(|(x, _)| *x == b.arity) {
                    sigs.push((b.arity, b.sig.clone()));
                }
            }
        }
        sigs.sort();
        if !sigs.is_empty() {
            let arities: Vec<String> = sigs.iter().map(|(a, _)| a.to_string()).collect();
            let noun = if sigs.len() == 1 && sigs[0].0 == 1 {
                "argument"
            } else {
                "arguments"
            };
            let given = match arity {
                1 => "1 was given".to_string(),
                n => format!("{n} were given"),
            };
            let forms: Vec<String> = sigs.iter().map(|(_, s)| format!("`{s}`")).collect();
            let mut help = format!("call it as {}", join_or(&forms));
            if args.len() == 1 && matches!(args[0], Term::BinOp(_, BinaryOp::Comma, _)) {
                help.push_str("; jq separates arguments with `;`, not `,`");
            }
            self.issues.push(issue(
                range,
                ARITY,
                format!("`{name}` takes {} {noun}, but {given}", join_or(&arities)),
                Some(help),
            ));
            return;
        }

        // `def f($a): a` is jq, but jaq binds `$a` parameters only as variables.
        let as_var = format!("${name}");
        if arity == 0 && self.vars.contains(&as_var.as_str()) {
            self.issues.push(issue(
                range,
                UNKNOWN_FUNCTION,
                format!("unknown jq function `{name}/0`"),
                Some(format!(
                    "write `{as_var}`: jaq binds a `{as_var}` parameter only as a variable"
                )),
            ));
            return;
        }

        let local_names = self.funs.iter().map(|(n, _, _)| *n);
        let builtin_names = self
            .table
            .by_name
            .keys()
            .copied()
            .filter(|n| !is_internal(n));
        let help = jq_only_help(name).map(str::to_string).or_else(|| {
            did_you_mean(name, local_names.chain(builtin_names))
                .map(|s| format!("did you mean `{s}`?"))
        });
        let what = if name.starts_with('@') {
            "format"
        } else {
            "function"
        };
        self.issues.push(issue(
            range,
            UNKNOWN_FUNCTION,
            format!("unknown jq {what} `{name}/{arity}`"),
            help,
        ));
    }
}

/// Help for jq built-ins that jaq (the engine wflow runs) does not provide.
fn jq_only_help(name: &str) -> Option<&'static str> {
    Some(match name {
        "@csv" | "@tsv" => {
            "jaq, the jq engine wflow runs, has no `@csv`/`@tsv`; join the fields yourself, e.g. `map(tostring) | join(\",\")`"
        }
        "@base32" | "@base32d" => "jaq has no `@base32`; use `@base64` / `@base64d`",
        "ascii" => "jaq has no `ascii`; write `[.] | implode`",
        "leaf_paths" => "jaq has no `leaf_paths`; write `paths(scalars)`",
        "IN" => "jaq has no `IN`; write `. as $x | any(SOURCE; . == $x)`",
        "INDEX" => "jaq has no `INDEX`; build the object with `reduce`",
        "toarray" => "jaq has no `toarray`; write `if type == \"array\" then . else [.] end`",
        "trimstr" => "jaq has no `trimstr`; write `ltrimstr(x) | rtrimstr(x)`",
        "dateadd" | "datesub" => {
            "jaq has no `dateadd`/`datesub`; add seconds instead, e.g. `fromdateiso8601 + 3600 | todateiso8601`"
        }
        "tostream" | "fromstream" | "truncate_stream" | "getpath_stream" => {
            "jaq does not support jq's streaming filters"
        }
        "input"
        | "inputs"
        | "input_filename"
        | "input_line_number"
        | "builtins"
        | "get_search_list"
        | "have_decnum"
        | "have_literal_numbers"
        | "splits_" => "not available in workflow expressions",
        _ => return None,
    })
}

fn pattern_vars<'s>(pat: &Pattern<&'s str>, out: &mut Vec<&'s str>) {
    match pat {
        Pattern::Var(x) => out.push(x),
        Pattern::Arr(pats) => pats.iter().for_each(|p| pattern_vars(p, out)),
        Pattern::Obj(entries) => entries.iter().for_each(|(_, p)| pattern_vars(p, out)),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The closest candidate by edit distance (case-insensitive matches win), if close enough.
fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name_chars: Vec<char> = name.chars().collect();
    let limit = match name_chars.len() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        if cand == name {
            continue;
        }
        let d = if cand.eq_ignore_ascii_case(name) {
            0
        } else {
            let len = cand.chars().count();
            if len.abs_diff(name_chars.len()) > limit {
                continue;
            }
            edit_distance(&name_chars, cand)
        };
        if d <= limit && best.is_none_or(|(bd, bc)| (d, cand) < (bd, bc)) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The single issue reported for `code`.
    fn one(code: &str) -> JqIssue {
        let issues = check(code);
        assert_eq!(issues.len(), 1, "{:?}: {issues:#?}", shown(code));
        issues.into_iter().next().unwrap()
    }

    fn assert_issue(code: &str, range: Range<usize>, kind: &str, message: &str) -> JqIssue {
        let i = one(code);
        assert_eq!(
            (i.range.clone(), i.code, i.message.as_str()),
            (range, kind, message),
            "{:?}: {i:#?}",
            shown(code)
        );
        i
    }

    fn help(i: &JqIssue) -> &str {
        i.help.as_deref().unwrap_or("")
    }

    #[test]
    fn valid_expressions() {
        for code in [
            ".outputs.trigger.service",
            ".outputs[\"check-env\"].x",
            ".secrets[\"slack-webhook-url\"]",
            ".outputs.trigger.diff.after.properties.tier == \"tier_1\"",
            ".result.response.data.entities[0]",
            "now | todateiso8601",
            ".a // \"x\"",
            "[.[] | select(.a)] | length",
            "\"\\(.a)-x\"",
            "reduce .[] as $x (0; . + $x)",
            "def f($a): $a + 1; f(2)",
            ".x | fromjson",
            "ascii_downcase",
            "tostring",
            "if .a then 1 else 2 end",
            ".a as {b: $c} | $c",
            "try .a catch .",
            ".a?",
            "keys",
            "to_entries",
            "test(\"x\")",
            // more jq
            " . ",
            "..",
            ".[\"a\"]",
            ".\"a\"",
            ".a[1:2] , .a[:1], .a[1:]",
            ".a[]?",
            "-(.a) + 1",
            ".[] |= . + 1",
            ".a += 1 | .b //= 2",
            "{(.k): .v, a: 1, \"b\": 2, $__loc__}",
            ".a as $x | {$x, y: $x}",
            ".a as [$x, {b: $y, $z}] | $x + $y + $z",
            "$ENV.HOME",
            "$__loc__.line",
            "env.HOME",
            "def f(g): g; f(.)",
            "def f: def g: 1; g; f",
            "def f(a; $b): a + $b; f(1; 2)",
            "def map: 1; map(.)",
            "label $out | foreach .[] as $x (0; . + $x; if . > 3 then ., break $out else . end)",
            "\"\\(.a | \"\\(.b)\")\"",
            "@base64 \"x\\(.a)\"",
            "@json",
            ".x | @uri",
            "splits(\"a\")",
            "ltrimstr(\"x\") | rtrimstr(\"y\")",
            ".x | trim",
            ".x | strftime(\"%Y-%m-%d\")",
            "getpath([\"a\"])",
            ".a | not",
            "null, true and false or true",
            "[limit(3; .[])] | first(.[])",
            ".a // empty",
            "error(\"x\")",
            "with_entries(.value |= tostring)",
            "to_entries | map(.key) | join(\",\")",
            "group_by(.a) | map(length) | add",
            "any(.[]; . > 1) and all(.[]; . < 9)",
            "gsub(\"a\"; \"b\") | sub(\"x\"; \"y\"; \"g\")",
            ".a | test(\"^v[0-9]+\"; \"x\")",
            "if .a then 1 elif .b then 2 end",
            ".a == \"x\" # a comment",
            "[.[] | numbers] | min_by(.)",
            "$__loc__",
            "{date: .x, lower, \"a\": 1, upper: (.u | ascii_upcase)}",
            ". as {date: $d, $lower} | $d + $lower",
            "def f(lower): lower; f(1)",
        ] {
            assert_eq!(check(code), vec![], "{code:?}");
        }
    }

    #[test]
    fn syntax_errors() {
        assert_issue(".a |", 4..4, SYNTAX, "expected a term after `|`");
        assert_issue(".a ==", 5..5, SYNTAX, "expected a term after `==`");
        let i = assert_issue(".a[", 3..3, SYNTAX, "unclosed `[`");
        assert_eq!(help(&i), "add `]` to close the `[` after `.a`");
        assert_issue("(.a", 3..3, SYNTAX, "unclosed `(`");
        assert_issue("\"unterminated", 13..13, SYNTAX, "unterminated string");
        assert_issue("(.a]", 3..4, SYNTAX, "expected `)` to close `(`, found `]`");
        assert_issue(".a )", 3..4, SYNTAX, "unmatched `)`");
        let i = assert_issue(".a & .b", 3..4, SYNTAX, "unexpected character `&`");
        assert_eq!(help(&i), "jq writes logical and as `and`");
        let i = assert_issue(
            ".a || .b",
            3..5,
            SYNTAX,
            "unexpected `||` after a complete expression",
        );
        assert_eq!(help(&i), "jq writes logical or as `or`");
        assert_issue(
            "if .a then 1",
            12..12,
            SYNTAX,
            "expected `elif`, `else` or `end`, found the end of the expression",
        );
        assert_issue("\"\\q\"", 1..3, SYNTAX, "invalid escape `\\q` in string");
        assert_issue(
            ".a \"x\"",
            3..6,
            SYNTAX,
            "unexpected `\"x\"` after a complete expression",
        );
        assert_issue(
            "\"\\(.a | )\"",
            8..9,
            SYNTAX,
            "expected a term after `|`, found `)`",
        );
        assert_issue("$", 0..1, SYNTAX, "expected a variable name after `$`");
        assert_issue("1.", 2..2, SYNTAX, "expected a digit in number");
        assert_issue("   ", 3..3, SYNTAX, "empty jq expression");
        assert_issue("", 0..0, SYNTAX, "empty jq expression");
        assert_issue("then", 0..4, SYNTAX, "unexpected keyword `then`");
        assert_issue(
            "reduce .[] as $x",
            0..6,
            SYNTAX,
            "`reduce` expects (init; update), but got 0 argument(s)",
        );
        let i = assert_issue(
            ".5",
            1..2,
            SYNTAX,
            "unexpected `5` after a complete expression",
        );
        assert_eq!(
            help(&i),
            "jaq needs a digit before the decimal point: write `0.5`, not `.5`"
        );
        let i = assert_issue(
            ". as [$a] ?// $a | $a",
            10..11,
            SYNTAX,
            "expected `|`, found `?`",
        );
        assert_eq!(
            help(&i),
            "jaq does not support `?//` alternative destructuring"
        );
        let i = assert_issue("! .a", 0..1, SYNTAX, "expected a term, found `!`");
        assert_eq!(help(&i), "jq writes negation as `not`, e.g. `.a | not`");
    }

    #[test]
    fn go_template_helpers() {
        let date = "write `now | todateiso8601` (or `now | strftime(\"%Y-%m-%dT%H:%M:%SZ\")`)";
        let i = assert_issue(
            "now | date \"2006-01-02T15:04:05Z\"",
            6..33,
            GO_TEMPLATE,
            "`date` is a Go-template helper, not jq",
        );
        assert_eq!(help(&i), date);
        let i = one(".trigger.at | date \"2006-01-02\"");
        assert_eq!((i.range.clone(), i.code), (14..31, GO_TEMPLATE));
        assert_eq!(
            help(&i).strip_prefix(date),
            Some("; for this layout write `now | strftime(\"%Y-%m-%d\")`")
        );
        let i = one("now | date");
        assert_eq!(
            (i.range.clone(), i.code, help(&i)),
            (6..10, GO_TEMPLATE, date)
        );

        let cases: [(&str, Range<usize>, &str); 22] = [
            (".name | lower", 8..13, "write `ascii_downcase`"),
            ("lower .name", 0..11, "write `.name | ascii_downcase`"),
            ("lower(.name)", 0..12, "write `.name | ascii_downcase`"),
            (".x | upper", 5..10, "write `ascii_upcase`"),
            (
                "replace \"a\" \"b\"",
                0..15,
                "write `gsub(\"a\"; \"b\")` (note: `gsub` takes a regex)",
            ),
            (
                ".x | replace \"-\" \"_\"",
                5..20,
                "write `gsub(\"-\"; \"_\")` (note: `gsub` takes a regex)",
            ),
            (
                "printf \"%s-%s\" .a .b",
                0..20,
                "use string interpolation: `\"\\(.a)-\\(.b)\"`",
            ),
            (
                "printf \"%s-%d\" .a.b $n",
                0..22,
                "use string interpolation: `\"\\(.a.b)-\\($n)\"`",
            ),
            ("print .x", 0..8, "use string interpolation: `\"\\(.x)\"`"),
            (
                "add_duration \"2h30m\" now",
                0..24,
                "jq has no durations: add seconds to `now` and format, e.g. `now + 9000 | todateiso8601`",
            ),
            (
                "now | add_duration",
                6..18,
                "jq has no durations: add seconds to `now` and format, e.g. `now + 3600 | todateiso8601`",
            ),
            ("mul .a 2", 0..8, "write `.a * 2`"),
            ("mul(.a; 2)", 0..10, "use the `*` operator, e.g. `.a * 2`"),
            (".a | default \"x\"", 5..16, "write `. // \"x\"`"),
            ("default \"x\" .a", 0..14, "write `.a // \"x\"`"),
            (
                "trim .x",
                0..7,
                "write `.x | trim` (jaq has `trim`, `ltrimstr(\"x\")` and `rtrimstr(\"x\")`)",
            ),
            (".x | toJson", 5..11, "write `tojson`"),
            ("toJson .x", 0..9, "write `.x | tojson`"),
            (".x | quote", 5..10, "write `tojson`"),
            ("quote .x", 0..8, "write `.x | tojson`"),
            (
                "hasPrefix \"v\" .tag",
                0..18,
                "write `.tag | startswith(\"v\")`",
            ),
            ("eq .a \"x\"", 0..9, "write `.a == \"x\"`"),
        ];
        for (code, range, expected) in cases {
            let i = one(code);
            assert_eq!(
                (i.range.clone(), i.code, help(&i)),
                (range, GO_TEMPLATE, expected),
                "{code:?}: {i:#?}"
            );
        }

        let i = assert_issue(
            "sub \"a\" \"b\"",
            0..11,
            SYNTAX,
            "jq does not call `sub` by juxtaposition",
        );
        assert_eq!(help(&i), "write `sub(\"a\"; \"b\")`");
        let i = one("{d: (.x | date \"2006-01-02T15:04:05Z\")}");
        assert_eq!(
            (i.range.clone(), i.code, help(&i)),
            (10..37, GO_TEMPLATE, date)
        );

        // unknown names called Go-style
        let i = assert_issue(
            "foo \"x\" .y",
            0..10,
            GO_TEMPLATE,
            "`foo ...` looks like a Go-template call, not jq",
        );
        assert!(help(&i).contains("name(a; b)"));
        // a jq filter called Go-style is a jq syntax error with the jq spelling
        let i = assert_issue(
            "test \"x\"",
            0..8,
            SYNTAX,
            "jq does not call `test` by juxtaposition",
        );
        assert_eq!(help(&i), "write `test(\"x\")`");
        // one issue per helper, nothing else
        let issues = check("(.a | lower) + \"-\" + (.b | replace \"a\" \"b\")");
        let ranges: Vec<_> = issues.iter().map(|i| (i.range.clone(), i.code)).collect();
        assert_eq!(ranges, [(6..11, GO_TEMPLATE), (27..42, GO_TEMPLATE)]);
        // inside string interpolation
        let i = one("\"\\(.a | upper)\"");
        assert_eq!((i.range, i.code), (8..13, GO_TEMPLATE));
        // a local definition with a helper's name is fine
        assert_eq!(check("def lower: ascii_downcase; .a | lower"), vec![]);
    }

    #[test]
    fn unknown_functions() {
        let i = assert_issue(
            "ascii_downcas",
            0..13,
            UNKNOWN_FUNCTION,
            "unknown jq function `ascii_downcas/0`",
        );
        assert_eq!(help(&i), "did you mean `ascii_downcase`?");
        let i = assert_issue(
            ".a | lenght",
            5..11,
            UNKNOWN_FUNCTION,
            "unknown jq function `lenght/0`",
        );
        assert_eq!(help(&i), "did you mean `length`?");
        let i = assert_issue(
            "def foo: 1; fooo",
            12..16,
            UNKNOWN_FUNCTION,
            "unknown jq function `fooo/0`",
        );
        assert_eq!(help(&i), "did you mean `foo`?");
        let i = assert_issue(
            "zzzqqq(1; 2)",
            0..6,
            UNKNOWN_FUNCTION,
            "unknown jq function `zzzqqq/2`",
        );
        assert_eq!(i.help, None);
        let i = assert_issue(
            ".a | @csv",
            5..9,
            UNKNOWN_FUNCTION,
            "unknown jq format `@csv/0`",
        );
        assert!(help(&i).contains("no `@csv`"));
        assert_issue(
            "a::b",
            0..4,
            UNKNOWN_FUNCTION,
            "unknown jq function `a::b/0`",
        );
        // scoping: a local definition is not visible outside its body
        assert_issue(
            "(def f: 1; f) | f",
            16..17,
            UNKNOWN_FUNCTION,
            "unknown jq function `f/0`",
        );
        // jaq binds `$a` parameters only as variables
        let i = assert_issue(
            "def f($a): a; f(1)",
            11..12,
            UNKNOWN_FUNCTION,
            "unknown jq function `a/0`",
        );
        assert_eq!(
            help(&i),
            "write `$a`: jaq binds a `$a` parameter only as a variable"
        );
    }

    #[test]
    fn wrong_arity() {
        let i = assert_issue(
            "map",
            0..3,
            ARITY,
            "`map` takes 1 argument, but 0 were given",
        );
        assert_eq!(help(&i), "call it as `map(f)`");
        let i = assert_issue(
            "gsub(\"a\", \"b\")",
            0..4,
            ARITY,
            "`gsub` takes 2 or 3 arguments, but 1 was given",
        );
        assert_eq!(
            help(&i),
            "call it as `gsub(re; f)` or `gsub(re; f; flags)`; jq separates arguments with `;`, not `,`"
        );
        let i = assert_issue(
            "def f(a; $b): a; f(1)",
            17..18,
            ARITY,
            "`f` takes 2 arguments, but 1 was given",
        );
        assert_eq!(help(&i), "call it as `f(a; $b)`");
        assert_issue(
            "length(1)",
            0..6,
            ARITY,
            "`length` takes 0 arguments, but 1 was given",
        );
    }

    #[test]
    fn unknown_variables() {
        let i = assert_issue("$foo", 0..4, UNKNOWN_VARIABLE, "unknown variable `$foo`");
        assert_eq!(help(&i), "bind it first, e.g. `.value as $foo | ...`");
        let i = assert_issue(
            ".a as $x | $y",
            11..13,
            UNKNOWN_VARIABLE,
            "unknown variable `$y`",
        );
        assert_eq!(help(&i), "did you mean `$x`?");
        assert_issue(
            "(.a as $x | $x) | $x",
            18..20,
            UNKNOWN_VARIABLE,
            "unknown variable `$x`",
        );
        assert_issue(
            "reduce .[] as $x (0; . + $x) | $x",
            31..33,
            UNKNOWN_VARIABLE,
            "unknown variable `$x`",
        );
        // the `init` of reduce does not see the element variable
        assert_issue(
            "reduce .[] as $x ($x; .)",
            18..20,
            UNKNOWN_VARIABLE,
            "unknown variable `$x`",
        );
        assert_issue(
            "def f($a): 1; $a",
            14..16,
            UNKNOWN_VARIABLE,
            "unknown variable `$a`",
        );
        assert_issue(
            "{$nope}",
            1..6,
            UNKNOWN_VARIABLE,
            "unknown variable `$nope`",
        );
        assert_issue(
            "\"\\($v)\"",
            3..5,
            UNKNOWN_VARIABLE,
            "unknown variable `$v`",
        );
        assert_issue(
            "break $out",
            6..10,
            UNKNOWN_VARIABLE,
            "unknown label `$out`",
        );
        let i = assert_issue("$env", 0..4, UNKNOWN_VARIABLE, "unknown variable `$env`");
        assert_eq!(help(&i), "did you mean `$ENV`?");
    }

    #[test]
    fn several_issues_sorted() {
        let issues = check("$a + foo + map");
        let got: Vec<_> = issues.iter().map(|i| (i.range.clone(), i.code)).collect();
        assert_eq!(
            got,
            [
                (0..2, UNKNOWN_VARIABLE),
                (5..8, UNKNOWN_FUNCTION),
                (11..14, ARITY)
            ]
        );
    }

    #[test]
    fn recursion_is_refused() {
        const MSG: &str = "`f` calls itself; recursion is not allowed in workflow expressions";
        assert_issue("def f: 1 + f; f", 11..12, RECURSION, MSG);
        // through a nested definition, and with parameters
        assert_issue("def f: def g: f; g; f", 14..15, RECURSION, MSG);
        assert_issue("def f(x): f(x); 1", 10..11, RECURSION, MSG);
        // a shadowing definition, a parameter or a variable of the same name is no recursion
        for ok in [
            "def inc(x): x + 1; inc(.a)",
            "def f($f): $f; f(1)",
            "def f(f): f; f(1)",
            "def f: 1; def g: f; g",
        ] {
            assert!(check(ok).is_empty(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        for (open, at) in [("(", 64), ("[", 64), ("{", 32), ("-", 64), ("\"\\(", 193)] {
            let code = open.repeat(10_000);
            assert_issue(&code, at..at, TOO_DEEP, "expression nested too deeply");
        }
        let code = format!("1{}", " | .".repeat(10_000));
        assert_eq!(one(&code).message, "expression nested too deeply");
    }

    /// The deepest inputs the pre-scan accepts must fit in a default 2 MiB thread stack,
    /// even in a debug build.
    #[test]
    fn accepted_worst_cases_fit_default_stack() {
        let n = 64;
        let cases = [
            format!("{}.a{}", "(".repeat(n), ")".repeat(n)),
            format!("{}.a{}", "[".repeat(n), "]".repeat(n)),
            format!("{}1", "-".repeat(n)),
            format!("{}1", "try ".repeat(n)),
            format!("{}1{}", "if . then ".repeat(n), " end".repeat(n)),
            format!("{}1", "def f: ".repeat(n)),
            format!("{}1{}", "{a: ".repeat(n / 2), "}".repeat(n / 2)),
            format!("{}1{}", "\"\\(".repeat(n), ")\"".repeat(n)),
            format!(".{}", " | .a".repeat(8 * n)),
            format!(".{}", " as $x | .a".repeat(n)),
            format!("1{}", " + 1".repeat(8 * n)),
            format!("[{}]", vec!["1"; 7 * n].join(",")),
            format!(
                "{}.{}",
                "reduce . as $x (.; ".repeat(n / 4),
                ")".repeat(n / 4)
            ),
        ];
        for case in &cases {
            let deep = check(case).iter().any(|i| i.message.contains("too deeply"));
            assert!(!deep, "should be accepted: {:?}", shown(case));
        }
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || cases.iter().map(|c| check(c).len()).sum::<usize>())
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn never_panics() {
        const PIECES: [&str; 48] = [
            ".", ".a", "[", "]", "(", ")", "{", "}", "\"", "\\(", "\\", "|", ",", ";", ":", "$",
            "$x", "@", "@base64", "as", "def", "f", "reduce", "foreach", "if", "then", "else",
            "end", "try", "catch", "label", "break", "-", "+", "==", "//", "?", "1", "1.", "e",
            "lower", "date", "\"x\"", " ", "#", "\n", "é", "::",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let rounds: usize = std::env::var("JQ_FUZZ_ROUNDS").map_or(20_000, |v| v.parse().unwrap());
        for _ in 0..rounds {
            let len = (next() % 24) as usize;
            let code: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            for i in check(&code) {
                assert!(
                    i.range.start <= i.range.end && i.range.end <= code.len(),
                    "{code:?} {i:?}"
                );
                assert!(code.is_char_boundary(i.range.start) && code.is_char_boundary(i.range.end));
            }
        }
        for _ in 0..5_000 {
            let len = (next() % 16) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| (next() % 128) as u8).collect();
            let code = String::from_utf8_lossy(&bytes);
            let _ = check(&code);
        }
    }

    #[test]
    fn builtins_table() {
        let b = builtins();
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        for (name, arity) in [
            ("map", 1),
            ("@base64", 0),
            ("test", 2),
            ("todateiso8601", 0),
            ("tojson", 0),
            ("now", 0),
        ] {
            assert!(b.contains(&(name.to_string(), arity)), "{name}/{arity}");
        }
        assert!(!b.iter().any(|(n, _)| n.starts_with('!')));
    }
}
