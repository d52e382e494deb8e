//! End-to-end tests of the `wflow` binary: exit codes, output formats, discovery, `compile`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, unique to this process and call, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wflow-cli-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `text` to `rel` (creating directories) and returns the path.
    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn wflow<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run wflow")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn check_json(path: &Path) -> (i32, serde_json::Value) {
    let out = wflow([
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        path.as_os_str(),
    ]);
    let doc = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("--format json is not JSON ({e}):\n{}", stdout(&out)));
    (code(&out), doc)
}

const CLEAN: &str = r#"// A clean workflow.
workflow ping "Ping" {
  form trigger "Ping" {
    input host: string "Host"
  }
  webhook ping "Ping" {
    url "https://{{ .outputs.trigger.host }}/health"
    method GET
  }
  flow { trigger -> ping }
}
"#;

/// `PUSH` is not a method; the line has an `é` and an emoji before it.
const WITH_ERROR: &str = r#"// One error, after non-ASCII text on its line.
workflow build "Build" {
  form trigger "Build" {
    input branch: string "Branch"
  }
  webhook build "Build" {
    url "https://ci.example.com/builds"
    description "é🚀"; method PUSH
  }
  flow { trigger -> build }
}
"#;

/// Only a warning: `audit` is never reached.
const WITH_WARNING: &str = r#"// One warning.
workflow rotate "Rotate" {
  schedule trigger "Nightly" { cron "0 3 * * *" }
  webhook rotate "Rotate" { url "https://kms.example.com/rotate" }
  webhook audit "Audit" { url "https://audit.example.com/events" }
  flow { trigger -> rotate }
}
"#;

const WORKFLOW_JSON: &str = r#"{
  "identifier": "nightly",
  "nodes": [
    { "identifier": "trigger", "config": { "type": "SCHEDULE_TRIGGER", "cron": "0 1 * * *" } },
    { "identifier": "run", "config": { "type": "WEBHOOK", "url": "https://jobs.example.com/run" } },
    { "identifier": "orphan", "config": { "type": "WEBHOOK", "url": "https://jobs.example.com/x" } }
  ],
  "connections": [{ "sourceIdentifier": "trigger", "targetIdentifier": "run" }]
}
"#;

#[test]
fn exit_code_0_for_a_clean_file() {
    let dir = TempDir::new("clean");
    let out = wflow(["check".as_ref(), dir.file("clean.wflow", CLEAN).as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).ends_with("checked 1 file: 0 errors, 0 warnings\n"));
}

#[test]
fn exit_code_1_with_errors() {
    let dir = TempDir::new("errors");
    let out = wflow([
        "check".as_ref(),
        dir.file("bad.wflow", WITH_ERROR).as_os_str(),
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("invalid-value"), "{text}");
    assert!(
        text.ends_with("checked 1 file: 1 error, 0 warnings\n"),
        "{text}"
    );
}

#[test]
fn exit_code_0_with_only_warnings() {
    let dir = TempDir::new("warnings");
    let out = wflow([
        "check".as_ref(),
        dir.file("warn.wflow", WITH_WARNING).as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("unreachable-node"), "{text}");
    assert!(
        text.ends_with("checked 1 file: 0 errors, 1 warning\n"),
        "{text}"
    );
}

#[test]
fn exit_code_2_for_a_missing_file() {
    let dir = TempDir::new("missing");
    let out = wflow(["check".as_ref(), dir.0.join("nope.wflow").as_os_str()]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.wflow"));
}

/// A `.wflow` file with a Latin-1 `é` (byte 0xe9) at line 2, column 19.
const LATIN1: &[u8] = b"// Saved as Latin-1.\nworkflow cafe \"Caf\xe9\" {}\n";

#[test]
fn a_non_utf8_file_is_a_diagnostic_in_every_format_and_the_others_are_checked() {
    let dir = TempDir::new("latin1");
    let bad = dir.0.join("a-latin1.wflow");
    std::fs::write(&bad, LATIN1).expect("write");
    dir.file("b-error.wflow", WITH_ERROR);
    let (exit, doc) = check_json(&dir.0);
    assert_eq!(exit, 1, "{doc}");
    assert_eq!(doc["files"], 2, "{doc}");
    let diags = doc["diagnostics"].as_array().expect("diagnostics");
    let entry = diags
        .iter()
        .find(|d| d["code"] == "unreadable-file")
        .unwrap_or_else(|| panic!("no unreadable-file entry: {doc}"));
    assert_eq!(entry["file"], bad.display().to_string());
    assert_eq!((&entry["line"], &entry["column"]), (&2.into(), &19.into()));
    assert_eq!(
        entry["message"],
        "the file is not UTF-8 (invalid byte 0xe9 at line 2, column 19)"
    );
    assert!(entry["help"].as_str().is_some_and(|h| h.contains("UTF-8")));
    assert!(diags.iter().any(|d| d["code"] == "invalid-value"), "{doc}");

    let human = wflow(["check".as_ref(), dir.0.as_os_str()]);
    assert_eq!(code(&human), 1);
    let text = stdout(&human);
    assert!(text.contains("a-latin1.wflow:2:19]"), "{text}");
    assert!(text.contains("checked 2 files: 2 errors"), "{text}");

    let github = wflow(
        ["check", "--format", "github"]
            .map(std::ffi::OsStr::new)
            .into_iter()
            .chain([bad.as_os_str()]),
    );
    assert_eq!(code(&github), 1);
    assert!(
        stdout(&github).contains("line=2,col=19,endLine=2,endColumn=20,title=unreadable-file::"),
        "{}",
        stdout(&github)
    );
}

#[test]
fn human_output_survives_huge_lines_tabs_and_many_errors() {
    let dir = TempDir::new("huge");
    let long = format!("workflow a {{ {} }}\n", "x".repeat(70_000));
    let tabs = "workflow b {\n\t\tmanual\ttrigger \u{1} \t}\n\t}\t\n";
    let braces = "}".repeat(20_000);
    for (name, text) in [
        ("long.wflow", long.as_str()),
        ("tabs.wflow", tabs),
        ("braces.wflow", &braces),
    ] {
        let path = dir.file(name, text);
        let out = wflow(["check".as_ref(), path.as_os_str()]);
        assert_eq!(
            code(&out),
            1,
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(
            !text.lines().any(|l| l.chars().count() > 400),
            "{name}: a line over 400 columns"
        );
        assert!(
            text.contains(&format!("{name}:")) && !text.contains('\u{1}'),
            "{name}: {}",
            &text[..text.len().min(2000)]
        );
    }
}

#[test]
fn exit_code_2_for_a_bad_flag() {
    let out = wflow(["check", "--no-such-flag"]);
    assert_eq!(code(&out), 2);
    let out = wflow(["check", "--format", "xml", "x.wflow"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn human_output_ends_with_the_summary() {
    let dir = TempDir::new("summary");
    dir.file("a.wflow", WITH_ERROR);
    dir.file("b.wflow", WITH_WARNING);
    dir.file("c.wflow", CLEAN);
    let out = wflow(["check".as_ref(), dir.0.as_os_str()]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    assert_eq!(last, "checked 3 files: 1 error, 1 warning", "{text}");
}

#[test]
fn json_format_has_exactly_the_documented_keys() {
    let dir = TempDir::new("json-keys");
    let (status, doc) = check_json(&dir.file("bad.wflow", WITH_ERROR));
    assert_eq!(status, 1);
    let top: Vec<&str> = doc
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["files", "diagnostics"]);
    assert_eq!(doc["files"], 1);
    let diags = doc["diagnostics"].as_array().expect("a list");
    assert_eq!(diags.len(), 1, "{doc:#}");
    let mut keys: Vec<&str> = diags[0]
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code",
            "column",
            "end_column",
            "end_line",
            "file",
            "help",
            "line",
            "message",
            "severity"
        ]
    );
}

#[test]
fn json_columns_count_characters_from_1() {
    let dir = TempDir::new("json-columns");
    let path = dir.file("bad.wflow", WITH_ERROR);
    let (_, doc) = check_json(&path);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "invalid-value");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], path.display().to_string());
    // Line 8 is `    description "é🚀"; method PUSH`: `PUSH` starts at character 30 (byte 33).
    let line = WITH_ERROR.lines().nth(7).expect("line 8");
    let expected = line.split("PUSH").next().map_or(0, |s| s.chars().count()) + 1;
    assert_eq!(expected, 30);
    assert_eq!(d["line"], 8);
    assert_eq!(d["column"], expected);
    assert_eq!(d["end_line"], 8);
    assert_eq!(d["end_column"], expected + 4);
    assert!(d["help"].is_string());
}

#[test]
fn json_format_of_a_clean_file() {
    let dir = TempDir::new("json-clean");
    let (status, doc) = check_json(&dir.file("clean.wflow", CLEAN));
    assert_eq!(status, 0);
    assert_eq!(doc, serde_json::json!({ "files": 1, "diagnostics": [] }));
}

#[test]
fn github_format_prints_workflow_commands() {
    let dir = TempDir::new("github");
    let bad = dir.file("bad.wflow", WITH_ERROR);
    let warn = dir.file("warn.wflow", WITH_WARNING);
    let out = wflow([
        "check".as_ref(),
        "--format".as_ref(),
        "github".as_ref(),
        bad.as_os_str(),
        warn.as_os_str(),
    ]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let error = format!("::error file={},line=8,col=30,", bad.display());
    assert!(lines[0].starts_with(&error), "{text}");
    assert!(lines[0].contains("title=invalid-value::"), "{text}");
    let warning = format!("::warning file={},line=5,col=", warn.display());
    assert!(lines[1].starts_with(&warning), "{text}");
}

#[test]
fn directories_are_searched_for_workflows_only() {
    let dir = TempDir::new("discover");
    dir.file("flows/rotate.wflow", WITH_WARNING);
    dir.file("flows/port/nightly.json", WORKFLOW_JSON);
    dir.file("flows/port/deeper/still/clean.wflow", CLEAN);
    dir.file(
        "package.json",
        r#"{ "name": "infra", "version": "1.0.0", "private": true }"#,
    );
    dir.file("flows/notes.txt", "not a workflow");
    let (status, doc) = check_json(&dir.0);
    assert_eq!(status, 0, "{doc:#}");
    assert_eq!(doc["files"], 3, "{doc:#}");
    let mut files: Vec<String> = doc["diagnostics"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| d["file"].as_str().unwrap_or_default().to_string())
        .collect();
    files.sort();
    let expected = vec![
        dir.0.join("flows/port/nightly.json").display().to_string(),
        dir.0.join("flows/rotate.wflow").display().to_string(),
    ];
    assert_eq!(files, expected, "{doc:#}");
}

#[test]
fn a_json_file_named_explicitly_is_always_checked() {
    let dir = TempDir::new("explicit-json");
    let path = dir.file("package.json", r#"{ "name": "infra" }"#);
    let (status, doc) = check_json(&path);
    assert_eq!(status, 1, "{doc:#}");
    assert_eq!(doc["diagnostics"][0]["code"], "missing-field");
}

#[test]
fn compile_prints_the_ir() {
    let dir = TempDir::new("compile");
    let out = wflow([
        "compile".as_ref(),
        dir.file("clean.wflow", CLEAN).as_os_str(),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let ir: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("IR JSON");
    assert_eq!(ir["ir_version"], wflow_compiler::ir::IR_VERSION);
    assert_eq!(ir["workflows"][0]["identifier"], "ping");
    assert_eq!(ir["workflows"][0]["nodes"][1]["config"]["type"], "WEBHOOK");
}

#[test]
fn compile_exits_1_on_errors() {
    let dir = TempDir::new("compile-errors");
    let out = wflow([
        "compile".as_ref(),
        dir.file("bad.wflow", WITH_ERROR).as_os_str(),
    ]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).is_empty(), "no IR on errors");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid-value"));
}

#[test]
fn compile_exits_2_for_a_missing_file() {
    let dir = TempDir::new("compile-missing");
    let out = wflow(["compile".as_ref(), dir.0.join("nope.wflow").as_os_str()]);
    assert_eq!(code(&out), 2);
}

#[test]
fn graph_draws_every_format_and_the_benchmark_runs() {
    let dir = TempDir::new("graph");
    let file = dir.file("clean.wflow", CLEAN);
    let out = wflow(["graph".as_ref(), file.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let svg = stdout(&out);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.contains("data-node=\"trigger\""), "{svg}");
    for (format, start) in [
        ("mermaid", "flowchart LR\n"),
        ("dot", "digraph \"ping\" {\n"),
    ] {
        let out = wflow([
            "graph".as_ref(),
            file.as_os_str(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout(&out).starts_with(start), "{}", stdout(&out));
    }
    let out = wflow([
        "graph".as_ref(),
        file.as_os_str(),
        "--workflow".as_ref(),
        "nope".as_ref(),
    ]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no workflow `nope`"));

    let out = wflow(["bench", "--graph", "--runs", "1"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).starts_with("100 nodes, "), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("svg      median "),
        "{}",
        stdout(&out)
    );
}
