//! Port interop round trips: every file of Port's documented examples imports to `.wflow` and
//! exports back to the same JSON (older field names mapped to the newest), the imported text is
//! already formatted, export is stable through a second import, and `fmt` keeps every comment
//! of the valid corpus and is idempotent.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as J};
use wflow_compiler::export::{PortSchema, export};
use wflow_compiler::{Syntax, check_source, print};

fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Port's examples, or None (with a notice) when this checkout does not have them.
fn port_examples() -> Option<Vec<PathBuf>> {
    let dir = root().join("../shared/docs/port-examples");
    let files = files_in(&dir, "json");
    if files.is_empty() {
        eprintln!("skipping: {} is not there", dir.display());
        return None;
    }
    Some(files)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Exports every workflow of a `.wflow` text; one workflow as itself, several as an array.
fn export_text(wflow: &str, schema: PortSchema) -> J {
    let checked = check_source(wflow, Syntax::Wflow);
    let mut out: Vec<J> = checked
        .module
        .workflows
        .iter()
        .map(|wf| export(wf, schema).unwrap_or_else(|e| panic!("export failed: {e:?}\n{wflow}")))
        .collect();
    if out.len() == 1 {
        out.remove(0)
    } else {
        J::Array(out)
    }
}

/// The JSON as the newest schema says it: `options` -> `outlets`, `sourceOptionIdentifier` ->
/// `sourceOutletIdentifier`, beta GitHub actions -> `github-ocean` `dispatch_workflow`, and the
/// API envelope unwrapped.
fn newest(v: &J) -> J {
    match v {
        J::Object(m) if m.contains_key("workflow") && !m.contains_key("nodes") => {
            newest(&m["workflow"])
        }
        J::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = match k.as_str() {
                    "options" => "outlets",
                    "sourceOptionIdentifier" => "sourceOutletIdentifier",
                    k => k,
                };
                out.insert(k.to_string(), newest(v));
            }
            if out.get("integrationProvider") == Some(&J::from("GITHUB"))
                && out.get("integrationInvocationType") == Some(&J::from("CREATE"))
            {
                github_newest(&mut out);
            }
            J::Object(out)
        }
        J::Array(items) => J::Array(items.iter().map(newest).collect()),
        other => other.clone(),
    }
}

fn github_newest(config: &mut Map<String, J>) {
    let Some(J::Object(props)) = config.get("integrationActionExecutionProperties") else {
        return;
    };
    let mut p = Map::new();
    for (k, v) in props {
        match (k.as_str(), v) {
            ("repo", J::String(full)) => {
                let (org, repo) = full.split_once('/').expect("beta repo is owner/name");
                p.insert("org".into(), J::from(org));
                p.insert("repo".into(), J::from(repo));
            }
            ("workflowId", v) => drop(p.insert("workflow".into(), v.clone())),
            ("inputs", v) => drop(p.insert("workflowInputs".into(), v.clone())),
            ("reportStatus", v) => drop(p.insert("reportWorkflowStatus".into(), v.clone())),
            (k, v) => drop(p.insert(k.into(), v.clone())),
        }
    }
    config.insert("integrationProvider".into(), J::from("github-ocean"));
    config.insert(
        "integrationInvocationType".into(),
        J::from("dispatch_workflow"),
    );
    config.insert("integrationActionExecutionProperties".into(), J::Object(p));
}

#[test]
fn port_examples_import_and_export_back_unchanged() {
    let Some(files) = port_examples() else { return };
    for path in files {
        let src = read(&path);
        let original: J = serde_json::from_str(&src).expect("example is JSON");
        let wflow = print::import(&src)
            .unwrap_or_else(|e| panic!("{}: import failed: {e:#?}", path.display()));
        let exported = export_text(&wflow, PortSchema::Newest);
        assert_eq!(
            exported,
            newest(&original),
            "{}: export of the import differs\n{wflow}",
            path.display()
        );
    }
}

#[test]
fn imported_text_is_already_formatted() {
    let Some(files) = port_examples() else { return };
    for path in files {
        let wflow = print::import(&read(&path)).expect("imports");
        let formatted = print::format(&wflow)
            .unwrap_or_else(|e| panic!("{}: fmt refused: {e:#?}\n{wflow}", path.display()));
        assert_eq!(
            formatted,
            wflow,
            "{}: fmt changed the import",
            path.display()
        );
    }
}

#[test]
fn export_import_export_is_stable() {
    let Some(files) = port_examples() else { return };
    for path in files {
        for schema in [PortSchema::Newest, PortSchema::Legacy] {
            let wflow = print::import(&read(&path)).expect("imports");
            let first = export_text(&wflow, schema);
            let again = print::import(&first.to_string())
                .unwrap_or_else(|e| panic!("{}: re-import failed: {e:#?}", path.display()));
            let second = export_text(&again, schema);
            assert_eq!(
                first,
                second,
                "{}: {schema:?} export is not stable",
                path.display()
            );
        }
    }
}

#[test]
fn legacy_export_writes_the_beta_names() {
    let src = r#"workflow w "W" {
  form trigger "T" {
    input env: string "Env"
  }

  condition c "C" {
    outlet prod "Prod" when `.outputs.trigger.env == "prod"`
  }

  github gh "Dispatch" {
    installation "gh"
    org "my-org"
    repo "templates"
    workflow "ci.yml"
    inputs { env: "{{ .outputs.trigger.env }}" }
  }

  flow {
    trigger -> c
    c.prod -> gh
  }
}
"#;
    let legacy = export_text(src, PortSchema::Legacy);
    let newest_json = export_text(src, PortSchema::Newest);
    assert!(legacy["nodes"][1]["config"]["options"].is_array());
    assert_eq!(legacy["connections"][1]["sourceOptionIdentifier"], "prod");
    let gh = &legacy["nodes"][2]["config"];
    assert_eq!(gh["integrationProvider"], "GITHUB");
    assert_eq!(
        gh["integrationActionExecutionProperties"]["repo"],
        "my-org/templates"
    );
    assert_eq!(
        gh["integrationActionExecutionProperties"]["workflowId"],
        "ci.yml"
    );
    assert_eq!(newest(&legacy), newest_json);
}

#[test]
fn legacy_export_refuses_what_the_beta_schema_cannot_say() {
    let src = "workflow w {\n  form trigger {\n  }\n\n  github gh \"G\" {\n    installation \"x\"\n    workflow \"ci.yml\"\n  }\n\n  flow {\n    trigger -> gh\n  }\n}\n";
    let checked = check_source(src, Syntax::Wflow);
    let errors = export(&checked.module.workflows[0], PortSchema::Legacy).expect_err("refused");
    assert!(errors[0].message.contains("`gh`"), "{}", errors[0].message);
    assert!(
        errors[0].message.contains("`org` is missing"),
        "{}",
        errors[0].message
    );
    assert!(export(&checked.module.workflows[0], PortSchema::Newest).is_ok());
}

/// The `.wflow` files CI formats: the valid corpus and the examples.
fn formatted_corpus() -> Vec<PathBuf> {
    let mut files = files_in(&root().join("tests/corpus/valid"), "wflow");
    files.extend(files_in(&root().join("examples"), "wflow"));
    // Test files are not workflows: `wflow fmt` leaves them as they are.
    files.retain(|f| !wflow_compiler::testfile::is_test_file(f));
    files
}

fn comment_texts(src: &str) -> Vec<String> {
    let mut texts: Vec<String> = wflow_grammar::parse(src)
        .file
        .comments
        .into_iter()
        .map(|c| c.text.trim().to_string())
        .collect();
    texts.sort();
    texts
}

#[test]
fn fmt_keeps_every_comment_and_is_idempotent() {
    for path in formatted_corpus() {
        let src = read(&path);
        let once = print::format(&src)
            .unwrap_or_else(|e| panic!("{}: fmt refused: {e:#?}", path.display()));
        assert_eq!(
            comment_texts(&once),
            comment_texts(&src),
            "{}: comments",
            path.display()
        );
        let twice = print::format(&once).expect("formats again");
        assert_eq!(twice, once, "{}: fmt is not idempotent", path.display());
    }
}

#[test]
fn fmt_places_comments_next_to_their_items() {
    let src = "// header\nworkflow w \"W\" {\n  // the trigger\n  form trigger {   // trailing\n    input a?: string \"A\"   // optional\n    // before b\n    input b: number \"B\"\n    // end of form\n  }\n\n  flow {\n  }\n}\n// last\n";
    let out = print::format(src).expect("formats");
    let expected = "// header\nworkflow w \"W\" {\n  // the trigger\n  form trigger {  // trailing\n    input a?: string \"A\"  // optional\n    // before b\n    input b: number \"B\"\n    // end of form\n  }\n}\n// last\n";
    assert_eq!(out, expected);
}

#[test]
fn fmt_refuses_a_file_with_syntax_errors() {
    let src = "workflow w {\n  webhook a \"A\" {\n    url = \"x\"\n  }\n}\n";
    let errors = print::format(src).expect_err("refused");
    assert!(errors.iter().any(|d| d.code == "syntax"));
}

#[test]
fn quoted_identifiers_survive_import_and_export() {
    let json = r#"{"identifier": "my wf", "nodes": [
        {"identifier": "start here", "config": {"type": "SELF_SERVE_TRIGGER", "userInputs": {"properties": {}}}},
        {"identifier": "check.env", "config": {"type": "CONDITION", "outlets": [
            {"identifier": "prod env", "expression": ".outputs[\"start here\"].x == 1"}]}},
        {"identifier": "x", "config": {"type": "WEBHOOK", "url": "https://x"}}],
      "connections": [
        {"sourceIdentifier": "start here", "targetIdentifier": "check.env"},
        {"sourceIdentifier": "check.env", "targetIdentifier": "x", "sourceOutletIdentifier": "prod env"}]}"#;
    let wflow = print::import(json).expect("imports");
    assert!(wflow.contains(r#""check.env"."prod env" -> x"#), "{wflow}");
    let back = export_text(&wflow, PortSchema::Newest);
    let original: J = serde_json::from_str(json).expect("json");
    assert_eq!(back, original);
}
