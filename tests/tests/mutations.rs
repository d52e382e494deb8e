//! The mutation corpus: each valid workflow of `corpus/valid/` with one reference broken must
//! yield exactly one diagnostic, with the expected code, under the expected text.
//!
//! Mutations are described in `corpus/mutations/mutations.txt`, one block per mutation,
//! separated by blank lines:
//!
//! ```text
//! @ dataflow-typed-webhook.wflow: a misspelled field of a declared response
//! - {{ .outputs.create.tags | length }}
//! + {{ .outputs.create.tag | length }}
//! ! no-such-field tag
//! ```
//!
//! - `@ FILE: NAME`: the valid file (below `corpus/valid/`) and what the mutation shows;
//!   `FILE: NAME` is unique and is how [`EXPECTED_FAILURES`] refers to the mutation.
//! - `- TEXT`: the text to replace, verbatim to the end of the line (after one space); it must
//!   occur exactly once in the file. Several `-` lines are one text joined by line breaks.
//! - `+ TEXT`: the replacement, read the same way (`+` alone is an empty line).
//! - `! CODE TEXT`: the expected diagnostic code and the text under its primary span.
//!
//! Lines starting with `#` are comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use wflow_compiler::{CODES, Diagnostic, check_source, syntax_of};

/// Mutations known not to give exactly the expected diagnostic, as `FILE: NAME`. Each says why;
/// the test fails when one of them starts passing, so that it is taken off this list.
const EXPECTED_FAILURES: &[&str] = &[];

/// The data-flow codes, each of which needs a mutation.
const DATAFLOW_CODES: &[&str] = &[
    "unknown-reference",
    "reference-downstream",
    "reference-not-upstream",
    "reference-maybe-absent",
    "hyphen-in-reference",
    "no-such-field",
    "bad-index",
    "not-boolean",
    "interpolated-object",
    "secret-exposed",
    "github-input-not-string",
    "unknown-blueprint",
    "unknown-property",
    "property-type-mismatch",
    "missing-required-property",
    "unknown-relation",
    "not-a-timer",
];

/// The reference codes, each of which needs at least three mutations.
const REFERENCE_CODES: &[&str] = &[
    "unknown-reference",
    "reference-downstream",
    "reference-not-upstream",
    "reference-maybe-absent",
    "hyphen-in-reference",
    "no-such-field",
];

#[derive(Debug)]
struct Mutation {
    /// The line of the `@` header in `mutations.txt`.
    line: usize,
    file: String,
    name: String,
    find: String,
    replace: String,
    code: String,
    span_text: String,
}

impl Mutation {
    /// `FILE: NAME`, unique in `mutations.txt`.
    fn id(&self) -> String {
        format!("{}: {}", self.file, self.name)
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text after a one-character marker and one space: `- x` is `x`, `+` alone is empty.
fn rest(line: &str) -> Result<&str, String> {
    match line.get(1..) {
        Some("") => Ok(""),
        Some(r) => r
            .strip_prefix(' ')
            .ok_or_else(|| format!("expected a space after `{}`", &line[..1])),
        None => Ok(""),
    }
}

/// Parses `mutations.txt`; an error names the line.
fn parse(text: &str) -> Result<Vec<Mutation>, String> {
    let mut out: Vec<Mutation> = Vec::new();
    let mut current: Option<(Mutation, Vec<String>, Vec<String>)> = None;
    let finish = |cur: Option<(Mutation, Vec<String>, Vec<String>)>,
                  out: &mut Vec<Mutation>|
     -> Result<(), String> {
        let Some((mut m, find, replace)) = cur else {
            return Ok(());
        };
        let at = m.line;
        if find.is_empty() {
            return Err(format!("line {at}: no `-` line"));
        }
        if replace.is_empty() {
            return Err(format!("line {at}: no `+` line"));
        }
        if m.code.is_empty() {
            return Err(format!("line {at}: no `!` line"));
        }
        m.find = find.join("\n");
        m.replace = replace.join("\n");
        out.push(m);
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            if line.trim().is_empty() {
                finish(current.take(), &mut out)?;
            }
            continue;
        }
        let err = |e: String| format!("line {n}: {e}");
        if let Some(header) = line.strip_prefix("@ ") {
            finish(current.take(), &mut out)?;
            let (file, name) = header
                .split_once(": ")
                .ok_or_else(|| err("expected `@ FILE: NAME`".into()))?;
            current = Some((
                Mutation {
                    line: n,
                    file: file.trim().to_string(),
                    name: name.trim().to_string(),
                    find: String::new(),
                    replace: String::new(),
                    code: String::new(),
                    span_text: String::new(),
                },
                Vec::new(),
                Vec::new(),
            ));
            continue;
        }
        let Some((m, find, replace)) = current.as_mut() else {
            return Err(err(
                "a line outside a mutation (start one with `@ FILE: NAME`)".into(),
            ));
        };
        match line.as_bytes()[0] {
            b'-' => find.push(rest(line).map_err(err)?.to_string()),
            b'+' => replace.push(rest(line).map_err(err)?.to_string()),
            b'!' => {
                if !m.code.is_empty() {
                    return Err(err("a second `!` line".into()));
                }
                let (code, span) = rest(line)
                    .map_err(err)?
                    .split_once(' ')
                    .ok_or_else(|| err("expected `! CODE TEXT`".into()))?;
                m.code = code.to_string();
                m.span_text = span.to_string();
            }
            _ => return Err(err(format!("unexpected line `{line}`"))),
        }
    }
    finish(current.take(), &mut out)?;
    Ok(out)
}

fn mutations() -> Vec<Mutation> {
    let path = corpus().join("mutations").join("mutations.txt");
    parse(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn show(src: &str, d: &Diagnostic) -> String {
    let under = src.get(d.primary.span.range()).unwrap_or("<out of range>");
    format!(
        "    {} `{}` at {}..{} under `{under}`: {}",
        d.code,
        d.severity.as_str(),
        d.primary.span.start,
        d.primary.span.end,
        d.message
    )
}

/// Applies `m` and checks the result; `Err` says what went wrong.
fn run(m: &Mutation) -> Result<(), String> {
    let path = corpus().join("valid").join(&m.file);
    let src = read(&path);
    let count = src.matches(m.find.as_str()).count();
    if count != 1 {
        return Err(format!(
            "the text to replace occurs {count} times in {} (it must occur exactly once): `{}`",
            m.file, m.find
        ));
    }
    let mutated = src.replacen(m.find.as_str(), &m.replace, 1);
    let diags = check_source(&mutated, syntax_of(&path)).diagnostics;
    let ok = match diags.as_slice() {
        [d] => {
            d.code == m.code && mutated.get(d.primary.span.range()) == Some(m.span_text.as_str())
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let all: Vec<String> = diags.iter().map(|d| show(&mutated, d)).collect();
    Err(format!(
        "expected exactly one `{}` under `{}`, got {}:\n{}",
        m.code,
        m.span_text,
        diags.len(),
        all.join("\n")
    ))
}

#[test]
fn mutations_yield_exactly_the_expected_diagnostic() {
    let all = mutations();
    let mut problems = Vec::new();
    for m in &all {
        let expected_failure = EXPECTED_FAILURES.contains(&m.id().as_str());
        match (run(m), expected_failure) {
            (Ok(()), false) | (Err(_), true) => {}
            (Err(e), false) => problems.push(format!("mutations.txt:{} {}: {e}", m.line, m.id())),
            (Ok(()), true) => problems.push(format!(
                "mutations.txt:{} {} now passes: take it off EXPECTED_FAILURES",
                m.line,
                m.id()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} mutations failed:\n{}",
        problems.len(),
        all.len(),
        problems.join("\n\n")
    );
}

#[test]
fn mutations_are_well_formed() {
    let all = mutations();
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for m in &all {
        if !names.insert(m.id()) {
            problems.push(format!("line {}: `{}` is used twice", m.line, m.id()));
        }
        if !corpus().join("valid").join(&m.file).is_file() {
            problems.push(format!("line {}: no file valid/{}", m.line, m.file));
        }
        if !CODES.iter().any(|(c, _)| *c == m.code) {
            problems.push(format!(
                "line {}: `{}` is not a diagnostic code",
                m.line, m.code
            ));
        }
        if m.find == m.replace {
            problems.push(format!("line {}: the replacement changes nothing", m.line));
        }
    }
    for name in EXPECTED_FAILURES {
        if !names.contains(*name) {
            problems.push(format!("EXPECTED_FAILURES names no mutation `{name}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn mutations_cover_every_dataflow_code_across_the_corpus() {
    let all = mutations();
    assert!(all.len() >= 60, "only {} mutations", all.len());
    let mut per_code: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &all {
        *per_code.entry(m.code.as_str()).or_default() += 1;
    }
    for code in DATAFLOW_CODES {
        let n = per_code.get(code).copied().unwrap_or(0);
        let want = if REFERENCE_CODES.contains(code) { 3 } else { 1 };
        assert!(
            n >= want,
            "`{code}` has {n} mutations, wants at least {want}"
        );
    }
    let files: BTreeSet<&str> = all.iter().map(|m| m.file.as_str()).collect();
    assert!(
        files.len() >= 30,
        "mutations touch only {} valid files",
        files.len()
    );
    assert!(
        files.iter().any(|f| f.ends_with(".json")),
        "no mutation of a Port JSON file"
    );
}

#[test]
fn the_mutation_format_is_parsed_as_documented() {
    let text = "# a comment\n@ a.wflow: first\n- one\n- two\n+\n! no-such-field x y\n\n@ b.json: second\n- a\n+ b\n! bad-index a\n";
    let all = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].file, "a.wflow");
    assert_eq!(all[0].name, "first");
    assert_eq!(all[0].find, "one\ntwo");
    assert_eq!(all[0].replace, "");
    assert_eq!(all[0].code, "no-such-field");
    assert_eq!(all[0].span_text, "x y");
    assert_eq!(all[1].line, 8);
    assert!(parse("@ a.wflow: x\n- a\n! bad-index a\n").is_err_and(|e| e.contains("`+`")));
    assert!(parse("- a\n").is_err_and(|e| e.starts_with("line 1")));
    assert!(parse("@ a.wflow x\n").is_err());
}
