//! One verdict: every file of the diagnostic and valid corpora gets the same diagnostics from
//! the five front ends, through the shipped binary: `wflow check --format json`, the language
//! server's published diagnostics, `wflow exec` and `wflow graph` (exit 2 naming every error
//! code, for a file with errors; `graph` draws every clean file) and `wflow serve` (the file
//! refused, naming every error code).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wflow_testkit::lsp_client::LspClient;

const BIN: &str = env!("CARGO_BIN_EXE_wflow");

/// Codes by severity (`error`, `warning`) and code.
type Codes = BTreeSet<(String, String)>;

/// The corpus folders, copied into `dir` as a team keeps them (the catalog cases with their
/// `blueprints/` beside them): each folder and its files.
fn corpus(dir: &Path) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus");
    let mut folders = Vec::new();
    for sub in ["wflow", "json", "json-catalog", "valid"] {
        let to = dir.join(sub);
        std::fs::create_dir_all(&to).expect("dir");
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .expect("corpus dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wflow" || x == "json"))
            .collect();
        files.sort();
        let files = files
            .into_iter()
            .map(|f| {
                let copy = to.join(f.file_name().expect("name"));
                std::fs::copy(&f, &copy).expect("copy");
                copy
            })
            .collect();
        folders.push((to, files));
    }
    let blueprints = dir.join("json-catalog/blueprints");
    std::fs::create_dir_all(&blueprints).expect("blueprints");
    for e in std::fs::read_dir(root.join("json-catalog/blueprints")).expect("blueprints") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, blueprints.join(p.file_name().expect("name"))).expect("copy");
    }
    folders
}

/// `wflow check --format json` on `files` (named, so that every one is checked).
fn check_codes(files: &[PathBuf]) -> BTreeMap<String, Codes> {
    let out = Command::new(BIN)
        .args(["check", "--format", "json"])
        .args(files)
        .env_remove("WFLOW_CONFIG")
        .output()
        .expect("check");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let mut by_file: BTreeMap<String, Codes> = BTreeMap::new();
    for d in report["diagnostics"].as_array().expect("diagnostics") {
        let file = d["file"].as_str().expect("file");
        by_file.entry(key(Path::new(file))).or_default().insert((
            d["severity"].as_str().expect("severity").to_string(),
            d["code"].as_str().expect("code").to_string(),
        ));
    }
    by_file
}

fn lsp_codes(files: &[PathBuf]) -> BTreeMap<String, Codes> {
    let mut client = LspClient::start(Path::new(BIN), Duration::from_secs(30)).expect("lsp");
    client
        .initialize(json!({"general": {"positionEncodings": ["utf-8"]}}))
        .expect("initialize");
    let mut by_file = BTreeMap::new();
    for f in files {
        // A file that is not UTF-8 (`unreadable-file`) never reaches a language server: the
        // editor decodes it first.
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let uri = format!("file://{}", f.display());
        let language = if f.extension().is_some_and(|x| x == "json") {
            "json"
        } else {
            "wflow"
        };
        client.open(&uri, language, &text).expect("open");
        let diags = client.diagnostics(&uri, 1).expect("diagnostics");
        let codes: Codes = diags
            .iter()
            .map(|d| {
                let severity = if d["severity"] == 1 {
                    "error"
                } else {
                    "warning"
                };
                (
                    severity.to_string(),
                    d["code"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        if !codes.is_empty() {
            by_file.insert(key(f), codes);
        }
    }
    assert!(client.shutdown().expect("shutdown"));
    by_file
}

/// `folder/file`: how results are keyed.
fn key(f: &Path) -> String {
    let name = |p: Option<&std::ffi::OsStr>| p.map(|n| n.to_string_lossy().into_owned());
    format!(
        "{}/{}",
        name(f.parent().and_then(Path::file_name)).unwrap_or_default(),
        name(f.file_name()).unwrap_or_default()
    )
}

fn errors(codes: &Codes) -> BTreeSet<&str> {
    codes
        .iter()
        .filter(|(s, _)| s == "error")
        .map(|(_, c)| c.as_str())
        .collect()
}

/// `wflow serve` on the corpus: the refused files, each with what was printed before its
/// `refused:` line.
fn serve_refusals(dir: &Path) -> BTreeMap<String, String> {
    let store = std::env::temp_dir().join(format!("wflow-verdict-{}.db", std::process::id()));
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("WFLOW_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut refused = BTreeMap::new();
    let mut chunk = String::new();
    for line in stderr.lines() {
        let line = line.expect("line");
        if line.starts_with("serving ") {
            break;
        }
        if let Some(rest) = line.strip_prefix("refused: ") {
            let printed = std::mem::take(&mut chunk);
            let path = rest
                .split_once(" has errors")
                .or_else(|| rest.split_once(" cannot be read"));
            if let Some((path, _)) = path {
                refused.insert(key(Path::new(path)), printed);
            }
        } else {
            chunk.push_str(&line);
            chunk.push('\n');
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&store);
    refused
}

/// Whether `wflow serve DIR` (like `wflow check DIR`) takes the file for a workflow: every
/// `.wflow`, and JSON that has a workflow's keys. Other JSON in a folder is left alone.
fn served(f: &Path) -> bool {
    let text = std::fs::read_to_string(f).unwrap_or_default();
    f.extension().is_some_and(|x| x == "wflow")
        || ["\"nodes\"", "\"connections\"", "\"config\""]
            .iter()
            .any(|k| text.contains(k))
}

/// `wflow COMMAND FILE` in `dir`, with no configuration or store from the environment.
fn run(dir: &Path, command: &str, f: &Path) -> std::process::Output {
    Command::new(BIN)
        .arg(command)
        .arg(f)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("WFLOW_CONFIG")
        .env_remove("WFLOW_STORE")
        .stdin(Stdio::null())
        .output()
        .expect(command)
}

#[test]
fn check_lsp_exec_graph_and_serve_agree_on_every_corpus_file() {
    let dir = std::env::temp_dir().join(format!("wflow-one-verdict-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let folders = corpus(&dir);
    let files: Vec<PathBuf> = folders.iter().flat_map(|(_, f)| f.clone()).collect();
    assert!(files.len() > 150, "only {} corpus files", files.len());

    let mut check = BTreeMap::new();
    let mut refused = BTreeMap::new();
    for (folder, files) in &folders {
        check.extend(check_codes(files));
        refused.extend(serve_refusals(folder));
    }
    let readable: BTreeMap<String, Codes> = check
        .iter()
        .filter(|(_, c)| !c.iter().any(|(_, code)| code == "unreadable-file"))
        .map(|(f, c)| (f.clone(), c.clone()))
        .collect();
    assert_eq!(
        lsp_codes(&files),
        readable,
        "the language server disagrees with check"
    );

    let mut problems = Vec::new();
    for f in &files {
        let name = key(f);
        let codes = check.get(&name).cloned().unwrap_or_default();
        let errors = errors(&codes);
        let graph = run(&dir, "graph", f);
        let drawn = String::from_utf8_lossy(&graph.stderr);
        if errors.is_empty() && graph.status.code() != Some(0) {
            problems.push(format!("{name}: graph did not draw a clean file: {drawn}"));
        }
        if !errors.is_empty() && (graph.status.code() != Some(2) || !graph.stdout.is_empty()) {
            problems.push(format!("{name}: graph exited {:?}", graph.status.code()));
        }
        for code in &errors {
            if !drawn.contains(code) {
                problems.push(format!("{name}: graph did not name {code}: {drawn}"));
            }
        }
        match (errors.is_empty(), refused.get(&name)) {
            (true, Some(_)) => problems.push(format!("{name}: serve refused a clean file")),
            (true, None) => {}
            (false, None) if !served(f) => {}
            (false, None) => problems.push(format!("{name}: serve did not refuse {errors:?}")),
            (false, Some(printed)) => {
                let exec = run(&dir, "exec", f);
                let said = String::from_utf8_lossy(&exec.stderr);
                for code in &errors {
                    if !printed.contains(code) {
                        problems.push(format!("{name}: serve did not name {code}"));
                    }
                    if !said.contains(code) {
                        problems.push(format!("{name}: exec did not name {code}: {said}"));
                    }
                }
                if exec.status.code() != Some(2) {
                    problems.push(format!("{name}: exec exited {:?}", exec.status.code()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
