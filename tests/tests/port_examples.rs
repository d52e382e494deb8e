//! Port's own documented workflow JSON (`../shared/docs/port-examples/`): every file checks without
//! a panic, its rendered diagnostics are snapshotted, and the only errors are the real mistakes in
//! Port's docs: Go-template helpers (`now | date "..."`, `lower`, `replace`) where jq is expected.
//! Fragments (single nodes, connection lists, excerpts) get a `fragment` warning and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wflow_compiler::catalog::Catalog;
use wflow_compiler::{Checked, Severity, check_file};

/// The examples directory, or None (with a notice) when this checkout does not have it.
fn examples() -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/docs/port-examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "skipping: {} is not there (the Port examples live outside this repository)",
            dir.display()
        );
        return None;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no JSON", dir.display());
    Some(files)
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check(path: &Path) -> (String, Checked) {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let checked = check_file(path, &src, &Catalog::default());
    (src, checked)
}

/// Go-template helpers in the `{{ }}` templates of a JSON text, found without the compiler: a
/// helper word that jq does not have, or jq's `date` given a Go layout string (`date "2006..."`).
fn uses_go_template(src: &str) -> bool {
    const HELPERS: [&str; 8] = [
        "lower",
        "upper",
        "replace",
        "printf",
        "add_duration",
        "mul",
        "toJson",
        "quote",
    ];
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let code = after[..end].replace("\\\"", "\"");
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '"'))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, w) in words.iter().enumerate() {
            if HELPERS.contains(w) {
                return true;
            }
            if *w == "date" && words.get(i + 1).is_some_and(|n| n.starts_with('"')) {
                return true;
            }
        }
        rest = &after[end..];
    }
    false
}

#[test]
fn go_template_detector_works() {
    assert!(uses_go_template(r#""{{ now | date \"2006-01-02\" }}""#));
    assert!(uses_go_template(
        r#""{{ .name | lower | replace \" \" \"-\" }}""#
    ));
    assert!(!uses_go_template(
        r#""{{ now | todate }}", "{{ .a | ascii_downcase }}""#
    ));
    assert!(!uses_go_template("no templates at all"));
}

#[test]
fn every_example_checks_and_is_snapshotted() {
    let Some(files) = examples() else { return };
    for path in files {
        let (src, checked) = check(&path);
        let rendered = wflow::render_human(&name(&path), &src, &checked.diagnostics, false);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        insta::with_settings!({ description => name(&path) }, {
            insta::assert_snapshot!(stem, rendered);
        });
    }
}

/// The data-flow mistakes in Port's docs that `wflow check` reports: (file, code, field). A
/// webhook's output is `{response: {status, data}}`; the create-env form has no `team` input.
const KNOWN_MISTAKES: [(&str, &str, &str); 3] = [
    (
        "action-nodes-chaining-node-outputs.json",
        "no-such-field",
        "`body`",
    ),
    (
        "upsert-entity-create-env-workflow.json",
        "no-such-field",
        "`team`",
    ),
    (
        "upsert-entity-update-status-after-external-action.json",
        "no-such-field",
        "`resourceId`",
    ),
];

#[test]
fn only_go_template_helpers_are_errors() {
    let Some(files) = examples() else { return };
    let mut with_errors = BTreeSet::new();
    let mut with_helpers = BTreeSet::new();
    let mut unexpected = Vec::new();
    for path in &files {
        let (src, checked) = check(path);
        if checked.has_errors() {
            with_errors.insert(name(path));
        }
        if uses_go_template(&src) {
            with_helpers.insert(name(path));
        }
        let fragment = name(path).starts_with("fragment-");
        for d in &checked.diagnostics {
            let known = KNOWN_MISTAKES
                .iter()
                .any(|(f, c, m)| *f == name(path) && *c == d.code && d.message.contains(m));
            let ok = match d.severity {
                Severity::Error => d.code == "go-template" || known,
                // Port's beta docs read a node's raw output in `variables` as `.response`.
                Severity::Warning => d.code == "fragment" || d.message.starts_with("`.response`"),
            };
            if !ok {
                unexpected.push(format!(
                    "{}: {} {}: {}",
                    name(path),
                    d.severity.as_str(),
                    d.code,
                    d.message
                ));
            }
        }
        if fragment {
            assert!(
                checked.diagnostics.iter().any(|d| d.code == "fragment"),
                "{}: a fragment must get a `fragment` warning",
                name(path)
            );
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected diagnostics:\n{}",
        unexpected.join("\n")
    );
    assert!(
        !with_helpers.is_empty(),
        "the examples are known to hold Go-template helpers"
    );
    with_helpers.extend(KNOWN_MISTAKES.iter().map(|(f, _, _)| f.to_string()));
    assert_eq!(
        with_errors, with_helpers,
        "files with errors vs. files with Go-template helpers or known data-flow mistakes"
    );
}
