//! The diagnostic corpus: one small workflow per mistake, in `.wflow` and in Port JSON.
//!
//! - `corpus/wflow/*.wflow` and `corpus/json/*.json` are snapshotted as `wflow check` renders
//!   them for people. Each file is named after the code it demonstrates (`fan-out.json`,
//!   `cycle-three-nodes.wflow`), and that code must be among its diagnostics.
//! - Every code in `CODES` has at least one case.
//! - `corpus/json-catalog/*.json` are Port JSON cases checked against the Port blueprint JSON in
//!   `corpus/json-catalog/blueprints/`, found beside them as `wflow check` finds them.
//! - `corpus/preflight/*.wflow` check clean and are then preflighted against a fixed
//!   environment ([`environment`]): a catalog with only the `service` blueprint, no secret, no
//!   Kafka and no AI service; their preflight diagnostics are snapshotted the same way.
//! - `corpus/tests/*.test.wflow` are test files checked against the workflow beside them.
//! - `corpus/valid/` holds workflows that must check with no diagnostic at all.
//!
//! - A `too-large-*` case is its file's text repeated past the size limit: a file of 64 MiB does
//!   not belong in the repository.
//!
//! Update the snapshots with `INSTA_UPDATE=always cargo test -p wflow-tests`, then read them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wflow_compiler::catalog::{Blueprint, Catalog};
use wflow_compiler::preflight::Environment;
use wflow_compiler::{CODES, Checked, Diagnostic, check_file_bytes};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The files of `corpus/<dir>` with extension `ext`, sorted.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(corpus().join(dir))
        .unwrap_or_else(|e| panic!("corpus/{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// Every error case: `.wflow`, JSON, and JSON checked against Port blueprints.
fn cases() -> Vec<PathBuf> {
    let mut all = files("wflow", "wflow");
    all.extend(files("json", "json"));
    all.extend(files("json-catalog", "json"));
    all.extend(files("preflight", "wflow"));
    all.extend(test_files());
    all
}

/// The test-file cases (`corpus/tests/*.test.wflow`), checked against the workflow beside them.
fn test_files() -> Vec<PathBuf> {
    let mut out = files("tests", "wflow");
    out.retain(|p| wflow_compiler::testfile::is_test_file(p));
    out
}

/// The environment preflight cases run in, with the CLI's help texts.
fn preflight(checked: &mut Checked) {
    let blueprints = BTreeSet::from(["service".to_string()]);
    let secrets = BTreeSet::new();
    let how = wflow::preflight_help();
    let env = Environment {
        blueprints: Some(&blueprints),
        secrets: &secrets,
        kafka: false,
        ai: false,
        services: &BTreeSet::new(),
        how: &how,
    };
    for wf in &checked.module.workflows {
        checked
            .diagnostics
            .extend(wflow_compiler::preflight::check(wf, &env));
    }
}

/// The Port blueprint JSON in a `blueprints/` folder beside `path`, as `wflow check` finds it.
fn catalog_for(path: &Path) -> Catalog {
    let dir = path.parent().map(|d| d.join("blueprints"));
    let mut blueprints = Vec::new();
    if let Some(Ok(entries)) = dir.map(std::fs::read_dir) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let bp = Blueprint::from_port_json(&read(&p))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            blueprints.push(bp);
        }
    }
    Catalog::new(blueprints)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks a case as `wflow check` does: from its bytes, which need not be UTF-8.
fn check(path: &Path) -> (String, Checked) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if named_code(path) == Some("too-large") {
        bytes = bytes.repeat(wflow_grammar::MAX_SOURCE_BYTES / bytes.len().max(1) + 1);
    }
    if wflow_compiler::testfile::is_test_file(path) {
        let src = read(path);
        let catalog = catalog_for(path);
        let beside = wflow_project::checked_workflows_in(&wflow_project::test_dir(path), &catalog);
        let (_, diagnostics) = wflow_project::check_test_file(&src, &beside, &catalog);
        let module = wflow_compiler::ir::Module {
            ir_version: wflow_compiler::ir::IR_VERSION,
            workflows: Vec::new(),
        };
        return (
            src,
            Checked {
                module,
                diagnostics,
            },
        );
    }
    let (src, mut checked) = check_file_bytes(path, bytes, &catalog_for(path));
    if path.parent().and_then(Path::file_name) == Some(std::ffi::OsStr::new("preflight")) {
        assert!(
            checked.diagnostics.is_empty(),
            "{}: a preflight case must check clean: {:#?}",
            relative(path),
            checked.diagnostics
        );
        preflight(&mut checked);
    }
    (src, checked)
}

/// `wflow/cycle.wflow`: the path below `corpus/`, the same on every machine.
fn relative(path: &Path) -> String {
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{dir}/{name}")
}

/// The code a case file is named after: the longest `-`-separated prefix of its stem that is a
/// code (`unknown-node-kind-typo` is `unknown-node-kind`, not `unknown-node`).
fn named_code(path: &Path) -> Option<&'static str> {
    let stem = path.file_stem()?.to_str()?;
    let stem = stem.strip_suffix(".test").unwrap_or(stem);
    let parts: Vec<&str> = stem.split('-').collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("-"))
        .find_map(|prefix| CODES.iter().map(|(c, _)| *c).find(|c| *c == prefix))
}

fn codes_of(diags: &[Diagnostic]) -> BTreeSet<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

#[test]
fn diagnostics() {
    insta::glob!(
        "../corpus",
        "{wflow/*.wflow,json/*.json,json-catalog/*.json,preflight/*.wflow,tests/*.test.wflow}",
        |path| {
            let (src, checked) = check(path);
            let rendered = wflow::render_human(&relative(path), &src, &checked.diagnostics, false);
            insta::assert_snapshot!(rendered);
        }
    );
}

#[test]
fn every_code_has_a_case() {
    let mut seen = BTreeSet::new();
    for path in cases() {
        seen.extend(codes_of(&check(&path).1.diagnostics));
    }
    let missing: Vec<&str> = CODES
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a corpus case: {missing:?}"
    );
}

#[test]
fn each_case_shows_the_code_it_is_named_after() {
    let mut problems = Vec::new();
    for path in cases() {
        let found = codes_of(&check(&path).1.diagnostics);
        match named_code(&path) {
            None => problems.push(format!(
                "{}: the name does not start with a diagnostic code",
                relative(&path)
            )),
            Some(code) if !found.contains(code) => problems.push(format!(
                "{}: named after `{code}`, but its diagnostics are {found:?}",
                relative(&path)
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn wflow_files_say_what_they_show() {
    for path in files("wflow", "wflow")
        .into_iter()
        .chain(files("valid", "wflow"))
        .chain(files("preflight", "wflow"))
    {
        let (src, _) = check(&path);
        assert!(
            src.starts_with("// "),
            "{}: the first line must be a `// ` comment saying what the file shows",
            relative(&path)
        );
    }
}

#[test]
fn named_code_prefers_the_longest_code() {
    let code = |name: &str| named_code(Path::new(name));
    assert_eq!(code("wflow/cycle-three-nodes.wflow"), Some("cycle"));
    assert_eq!(
        code("wflow/unknown-node-kind.wflow"),
        Some("unknown-node-kind")
    );
    assert_eq!(code("json/unknown-node-x.json"), Some("unknown-node"));
    assert_eq!(code("json/json-syntax-comment.json"), Some("json-syntax"));
    assert_eq!(code("json/nothing.json"), None);
}

#[test]
fn valid_corpus_checks_clean() {
    let mut paths = files("valid", "wflow");
    paths.extend(files("valid", "json"));
    assert!(
        paths.len() >= 25,
        "the valid corpus should hold at least 25 workflows, found {}",
        paths.len()
    );
    let mut report = String::new();
    for path in &paths {
        let (src, checked) = check(path);
        if checked.diagnostics.is_empty() {
            assert!(
                !checked.module.workflows.is_empty(),
                "{}: no workflow came out of it",
                relative(path)
            );
        } else {
            report.push_str(&wflow::render_human(
                &relative(path),
                &src,
                &checked.diagnostics,
                false,
            ));
        }
    }
    assert!(
        report.is_empty(),
        "valid workflows with diagnostics:\n{report}"
    );
}

#[test]
fn catalog_checks_accept_a_correct_upsert() {
    let path = corpus().join("json-catalog/valid/upsert-with-blueprints.json");
    let (_, checked) = check(&path);
    assert!(checked.diagnostics.is_empty(), "{:#?}", checked.diagnostics);
    assert_eq!(
        catalog_for(&path)
            .get("service")
            .map(|b| b.properties.len()),
        Some(4)
    );
}
