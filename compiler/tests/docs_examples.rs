//! The examples in docs/language.md check without a single diagnostic: the reference cannot
//! drift from the checker.

use wflow_compiler::{Syntax, check_source, check_test_source};

fn blocks<'a>(doc: &'a str, fence: &str) -> Vec<&'a str> {
    doc.split(fence)
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect()
}

fn assert_clean(src: &str) {
    assert_none(src, &check_source(src, Syntax::Wflow).diagnostics);
}

/// Fails with every diagnostic of `src`, each with the text it points at.
fn assert_none(src: &str, diagnostics: &[wflow_compiler::Diagnostic]) {
    let found: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            format!(
                "{} at {}: {}",
                d.code,
                &src[d.primary.span.range()],
                d.message
            )
        })
        .collect();
    assert!(found.is_empty(), "{found:#?}\n--- source ---\n{src}");
}

#[test]
fn language_reference_examples_check_cleanly() {
    let doc = include_str!("../../docs/language.md");
    let blocks = blocks(doc, "```wflow\n");
    assert!(blocks.len() >= 8, "the reference lost its examples");
    // The first block is a whole workflow.
    assert_clean(blocks[0]);
    // The others are parts of one workflow (the syntax overview, a template, is skipped).
    let parts: Vec<&str> = blocks[1..]
        .iter()
        .copied()
        .filter(|b| !b.starts_with("workflow <"))
        .collect();
    assert_clean(&format!(
        "workflow reference \"Reference\" {{\n{}\n}}\n",
        parts.join("\n")
    ));
}

#[test]
fn test_file_examples_check_cleanly_against_the_release_workflow() {
    let doc = include_str!("../../docs/language.md");
    let tests = blocks(doc, "```wflow-test\n");
    assert!(!tests.is_empty(), "the reference lost its test example");
    let release = check_source(
        include_str!("../../tests/corpus/testing/release.wflow"),
        Syntax::Wflow,
    );
    assert!(!release.has_errors());
    let workflows: Vec<_> = release.module.workflows.iter().collect();
    let catalog = wflow_compiler::catalog::Catalog::new(Vec::new());
    for src in tests {
        let (file, diags) = check_test_source(src, &workflows, &catalog);
        assert_none(src, &diags);
        assert!(!file.cases.is_empty());
    }
}
