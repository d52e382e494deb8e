//! Property tests: the parsers and the checker never panic, always return a tree, and every
//! span they report lies within the source, on character boundaries; the fast `.wflow` reader
//! agrees with pest wherever it reads.
//!
//! Inputs are arbitrary strings, strings built from `.wflow` and JSON tokens, and the valid
//! corpus with random edits (characters deleted, inserted or swapped).

use std::path::Path;

use proptest::prelude::*;
use wflow_compiler::{Diagnostic, Syntax, check_source};
use wflow_grammar::Span;

/// Pieces `.wflow` text is made of, including the ones that go wrong: unclosed strings and
/// backticks, stray braces, templates, arrows, unicode, escapes.
const WFLOW_TOKENS: &[&str] = &[
    "workflow",
    "form",
    "event",
    "schedule",
    "webhook",
    "kafka",
    "upsert",
    "integration",
    "github",
    "ai",
    "ai_agent",
    "cursor_agent",
    "condition",
    "approval",
    "flow",
    "input",
    "outlet",
    "button",
    "when",
    "on",
    "context",
    "step",
    "heading",
    "validate",
    "required",
    "order",
    "permissions",
    "trigger",
    "deploy",
    "check-env",
    "x",
    "ENTITY_UPDATED",
    "POST",
    "PRIMARY",
    "fallback",
    "string",
    "entity(service)",
    "user[]",
    "object[]",
    "number",
    "?",
    ":",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\"Title\"",
    "\"{{ .outputs.trigger.x }}\"",
    "`",
    "`.a == 1`",
    "{{",
    "}}",
    "->",
    ".",
    ",",
    ";",
    "=",
    "#",
    "//",
    "// comment\n",
    "\\",
    "\\u12",
    "\\ud800",
    "\n",
    "\n",
    " ",
    " ",
    "  ",
    "\t",
    "\r\n",
    "1",
    "-2.5e3",
    "true",
    "null",
    "é",
    "🚀",
    "日本",
    "\u{0}",
    "\u{FEFF}",
    "cron \"*/5 * * * *\"",
    "needs 2",
];

/// Pieces of JSON, well-formed and not.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"identifier\"",
    "\"nodes\"",
    "\"connections\"",
    "\"config\"",
    "\"type\"",
    "\"WEBHOOK\"",
    "\"CONDITION\"",
    "\"SELF_SERVE_TRIGGER\"",
    "\"url\"",
    "\"{{ .a | date \\\"x\\\" }}\"",
    "\"sourceIdentifier\"",
    "\"targetIdentifier\"",
    "\"a\"",
    "\"",
    "\\",
    "\\u",
    "\"\\ud800\"",
    "\"\\u00e9\"",
    "1",
    "-",
    "0.5",
    "1e",
    "true",
    "false",
    "null",
    "nul",
    "//",
    "// c\n",
    "/*",
    "\n",
    " ",
    "é",
    "🚀",
    "\u{1}",
    "'",
];

/// The valid corpus, the material for the edit strategy.
fn valid_sources() -> Vec<(String, Syntax)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut out: Vec<(String, Syntax)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter_map(|p| {
                    let syntax = wflow_compiler::syntax_of(&p);
                    std::fs::read_to_string(&p).ok().map(|s| (s, syntax))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if out.is_empty() {
        out.push(("workflow w { }".to_string(), Syntax::Wflow));
    }
    out
}

fn span_ok(src: &str, s: Span) -> Result<(), String> {
    if s.start > s.end || s.end > src.len() {
        return Err(format!("span {s:?} outside 0..{}", src.len()));
    }
    if !src.is_char_boundary(s.start) || !src.is_char_boundary(s.end) {
        return Err(format!("span {s:?} not on char boundaries"));
    }
    Ok(())
}

fn diagnostics_ok(src: &str, diags: &[Diagnostic]) -> Result<(), String> {
    for d in diags {
        for s in std::iter::once(d.primary.span).chain(d.secondary.iter().map(|l| l.span)) {
            span_ok(src, s).map_err(|e| format!("{} ({}): {e}", d.code, d.message))?;
        }
    }
    Ok(())
}

/// Parses and checks `src` both ways, asserting every property.
fn all_properties(src: &str) -> Result<(), TestCaseError> {
    // Where the fast reader reads the text, pest reads it the same.
    wflow_grammar::fast_vs_pest(src).map_err(TestCaseError::fail)?;
    let parsed = wflow_grammar::parse(src);
    // Item by item, exactly as the whole text in one piece.
    prop_assert_eq!(&parsed, &wflow_grammar::parse_whole(src));
    for e in &parsed.errors {
        span_ok(src, e.span)
            .map_err(|m| TestCaseError::fail(format!("wflow syntax error: {m}")))?;
    }
    for st in &parsed.file.statements {
        span_ok(src, st.span()).map_err(|m| TestCaseError::fail(format!("statement: {m}")))?;
    }

    let (value, errors) = wflow_grammar::json::parse(src);
    for e in &errors {
        span_ok(src, e.span).map_err(|m| TestCaseError::fail(format!("json error: {m}")))?;
    }
    if let Some(v) = &value {
        span_ok(src, v.span).map_err(|m| TestCaseError::fail(format!("json value: {m}")))?;
    }
    prop_assert!(
        value.is_some() || !errors.is_empty(),
        "no JSON value and no error"
    );

    for syntax in [Syntax::Wflow, Syntax::Json] {
        let checked = check_source(src, syntax);
        diagnostics_ok(src, &checked.diagnostics)
            .map_err(|m| TestCaseError::fail(format!("{syntax:?}: {m}")))?;
        // Rendering must not panic either.
        let _ = wflow::render_human("prop.wflow", src, &checked.diagnostics, false);
        let _ = wflow::render_json_entries("prop.wflow", src, &checked.diagnostics);
    }
    Ok(())
}

/// 512 cases per property, or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

fn token_soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|t| t.concat())
}

/// A valid corpus file with up to 8 random edits at random char positions.
fn edited_corpus() -> impl Strategy<Value = String> {
    let sources = valid_sources();
    let n = sources.len();
    (
        0..n,
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..8),
    )
        .prop_map(move |(i, edits)| {
            let mut chars: Vec<char> = sources[i].0.chars().collect();
            for (at, op, c) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let at = at.index(chars.len());
                match op {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, c),
                    _ => chars[at] = c,
                }
            }
            chars.into_iter().collect()
        })
}

/// Pieces that nest, or that change how what follows is read (strings, backticks, comments).
const NESTING_TOKENS: &[&str] = &[
    "{", "}", "[", "]", "(", ")", "{a:", "x ", "a {\n", "\"", "`", "\n", "//", "\"{{ ", " }}\"",
    "\\(", "\"\\(", "= ", ",",
];

/// Runs of nesting pieces, each repeated up to 300 times: deep, unclosed and mixed nesting.
fn deep_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(NESTING_TOKENS), 1usize..300), 0..12)
        .prop_map(|runs| runs.into_iter().map(|(t, n)| t.repeat(n)).collect())
}

proptest! {
    // Each case is thousands of pieces long: an eighth of the cases.
    #![proptest_config(ProptestConfig::with_cases(cases() / 8))]

    /// Deep input gets the nesting diagnostic or parses; it never overflows the stack.
    #[test]
    fn deep_and_unclosed_nesting(src in deep_soup()) {
        all_properties(&src)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_strings(src in any::<String>()) {
        all_properties(&src)?;
    }

    #[test]
    fn wflow_token_soup(src in token_soup(WFLOW_TOKENS, 80)) {
        all_properties(&src)?;
    }

    #[test]
    fn json_token_soup(src in token_soup(JSON_TOKENS, 80)) {
        all_properties(&src)?;
    }

    #[test]
    fn edited_valid_corpus(src in edited_corpus()) {
        all_properties(&src)?;
    }

    /// Several items in one text, any of them broken: read item by item exactly as a whole.
    #[test]
    fn several_edited_files_in_one(parts in prop::collection::vec(edited_corpus(), 2..4)) {
        all_properties(&parts.concat())?;
    }
}

#[test]
fn hand_picked_edge_cases() -> Result<(), TestCaseError> {
    for src in [
        "",
        "\u{FEFF}",
        "workflow",
        "workflow w {",
        "workflow w { flow { a -> } }",
        "workflow w { webhook a \"é🚀\" { url \"{{ \" } }",
        "workflow w { condition c { outlet o when `",
        "\"\\u",
        // Shrunk failures: an error span one byte into a multi-byte character.
        "\"\"\u{10CFA}",
        "\"identifier\"é",
        "//// comment\n1é",
        "1é",
        "{\"nodes\": [{\"config\": {\"type\": \"WEBHOOK\", \"url\": \"{{ é",
        &"{".repeat(500),
        &"[".repeat(500),
        // Shrunk failure: nesting one level too deep that ends at the end of the text (the
        // error's span ran one byte past it).
        &"[".repeat(wflow_grammar::MAX_NESTING + 1),
        &"{".repeat(wflow_grammar::MAX_NESTING + 1),
        // Shrunk failure: unclosed `\(` in a jq string of a template, 104 deep, took 2^n
        // steps (each `\(` was also read as an escape and as two plain characters).
        &format!("\"{{{{ {}", "\"\\(".repeat(104)),
        &format!("workflow w {{ webhook a {{ url \"{{{{ {}", "(".repeat(100)),
        &"`".repeat(3),
        &format!(
            "workflow w {{ webhook a {{ url \"{}\" }} }}",
            "{{ .a | ".repeat(200)
        ),
    ] {
        all_properties(src)?;
    }
    Ok(())
}
