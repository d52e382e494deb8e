//! `wflow test`: finds test files, checks them (and the workflows beside them), runs their
//! cases with `wflow-tester` and reports like `cargo test`: a line per case, each failure
//! with file:line:column and the expected and actual values, totals. Also JUnit XML, GitHub
//! annotations and JSON; coverage; snapshots. Exit 0 all passed, 1 a case failed, 2 a file
//! does not check or cannot be read.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value as Json, json};
use wflow_compiler::testfile::is_test_file;
use wflow_compiler::{Severity, syntax_of};
use wflow_engine::Plan;
use wflow_tester::coverage::{self, Coverage};
use wflow_tester::{Failure, Job, Outcome, Runner, Source};

use crate::excerpt::LineIndex;
use crate::render::{escape_data, escape_property, render_github, render_human};

/// How `wflow test` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Human,
    Junit,
    Github,
    Json,
}

#[derive(clap::Args)]
pub struct TestArgs {
    /// Test files (`*.test.wflow`) or directories (searched); defaults to the current
    /// directory. A test file runs the workflows of the files beside it.
    paths: Vec<PathBuf>,
    /// Output format: human, junit (XML for CI), github (annotations) or json.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    format: TestFormat,
    /// Report what no case reached, per workflow: nodes, condition outlets, approval buttons
    /// and error paths (text after the results; a `coverage` member with --format json).
    #[arg(long)]
    coverage: bool,
    /// Record each case's run (nodes, outputs, requests, entities) as its snapshot in
    /// `__snapshots__/<test file>.json` beside the test file; later runs compare against it.
    #[arg(long)]
    update: bool,
    /// Run only the cases whose description contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// How many cases run at once (default: 4 per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// A directory of Port blueprint JSON files (as for `wflow check`).
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
    /// The project configuration (as for `wflow check`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// A test file, read and checked.
struct Loaded {
    path: PathBuf,
    text: String,
    jobs: Vec<Job>,
}

/// Finds the test files under `paths` (files named are taken as they are).
fn find(paths: &[PathBuf], errors: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            crate::walk(p, &mut found, errors);
            found.retain(|f| is_test_file(f));
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            errors.push(format!("{}: no such file or directory", p.display()));
        }
    }
    out
}

pub fn run(args: TestArgs) -> ExitCode {
    let t0 = Instant::now();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let workspace = match crate::workspace(&paths, args.config.clone(), args.blueprints.clone()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut errors = workspace.problems.clone();
    let files = find(&paths, &mut errors);
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut refused = false;
    let mut loaded = Vec::new();
    let mut sources: BTreeMap<(PathBuf, String), Arc<Source>> = BTreeMap::new();
    // The workflows of each directory, checked once for all its test files.
    let mut dirs: BTreeMap<PathBuf, Arc<Vec<wflow_project::Beside>>> = BTreeMap::new();
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let shown = path.display().to_string();
        let dir = wflow_project::test_dir(&path);
        let beside = Arc::clone(dirs.entry(dir).or_insert_with_key(|d| {
            Arc::new(wflow_project::checked_workflows_in(d, &workspace.catalog))
        }));
        let (tests, diags) = wflow_project::check_test_file(&text, &beside, &workspace.catalog);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            refused = true;
            let out = match args.format {
                TestFormat::Github => render_github(&shown, &text, &diags),
                _ => render_human(&shown, &text, &diags, color),
            };
            eprint!("{out}");
            continue;
        }
        let mut jobs = Vec::new();
        for case in tests.cases {
            if args
                .filter
                .as_ref()
                .is_some_and(|f| !case.name.contains(f.as_str()))
            {
                continue;
            }
            let Some(file) = beside.iter().find(|b| {
                b.workflows
                    .iter()
                    .any(|w| w.identifier.value == case.workflow)
            }) else {
                continue;
            };
            if file.has_errors {
                refused = true;
                errors.push(format!(
                    "{} has errors, so its workflow `{}` cannot be tested; see `wflow check {}`",
                    file.path.display(),
                    case.workflow,
                    file.path.display()
                ));
                continue;
            }
            let key = (file.path.clone(), case.workflow.clone());
            let source = match sources.get(&key) {
                Some(s) => Arc::clone(s),
                None => {
                    let Some(wf) = file
                        .workflows
                        .iter()
                        .find(|w| w.identifier.value == case.workflow)
                    else {
                        continue;
                    };
                    let plan = match Plan::new(
                        wf.clone(),
                        file.text.clone(),
                        syntax_of(&file.path),
                        file.path.display().to_string(),
                    ) {
                        Ok(p) => p,
                        Err(problems) => {
                            refused = true;
                            errors.push(format!(
                                "{}: workflow `{}` cannot run: {}",
                                file.path.display(),
                                case.workflow,
                                problems.join("; ")
                            ));
                            continue;
                        }
                    };
                    let s = Arc::new(Source { plan });
                    sources.insert(key, Arc::clone(&s));
                    s
                }
            };
            jobs.push(Job {
                file: shown.clone(),
                case,
                source,
            });
        }
        loaded.push(Loaded { path, text, jobs });
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    if refused || !errors.is_empty() {
        eprintln!("error: nothing was run; fix the problems above first");
        return ExitCode::from(2);
    }
    let jobs: Vec<Job> = loaded.iter().flat_map(|l| l.jobs.clone()).collect();
    let parallel = args
        .jobs
        .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(1, |n| n.get()));
    let settings = workspace.settings.clone();
    let catalog = workspace.catalog.clone();
    // On a terminal, a progress line: cases done of all, and how many failed so far.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{pos}/{len} cases {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = bar.clone();
    let done: Arc<dyn Fn(&Outcome) + Send + Sync> = Arc::new(move |o: &Outcome| {
        if !o.passed() {
            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(bar) = &progress {
            let n = failed.load(std::sync::atomic::Ordering::Relaxed);
            if n > 0 {
                bar.set_message(format!("({n} failed)"));
            }
            bar.inc(1);
        }
    });
    let outcomes = match crate::block_on(async move {
        let runner = Runner::new(&catalog, &settings).await?;
        Ok::<_, String>(Arc::new(runner).run(jobs, parallel, done).await)
    }) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(code) => return code,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut outcomes = outcomes;
    if let Err(e) = snapshots(&loaded, &mut outcomes, args.update) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let workflows: Vec<&wflow_compiler::ir::Workflow> =
        sources.values().map(|s| &s.plan.workflow).collect();
    let covered = args.coverage.then(|| coverage::of(&workflows, &outcomes));
    let texts: BTreeMap<String, &str> = loaded
        .iter()
        .map(|l| (l.path.display().to_string(), l.text.as_str()))
        .collect();
    let report = match args.format {
        TestFormat::Human => human(&outcomes, &texts, covered.as_deref(), t0),
        TestFormat::Junit => junit(&outcomes, &texts),
        TestFormat::Github => github(&outcomes, &texts),
        TestFormat::Json => json_report(&outcomes, &texts, covered.as_deref()),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(report.as_bytes());
    if args.coverage && args.format != TestFormat::Human && args.format != TestFormat::Json {
        eprint!("{}", coverage_text(covered.as_deref().unwrap_or_default()));
    }
    if outcomes.iter().all(Outcome::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Where the snapshots of the test file `path` are kept.
fn snapshot_file(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.parent()
        .unwrap_or(Path::new("."))
        .join("__snapshots__")
        .join(format!("{name}.json"))
}

/// Compares each case's record with its snapshot (a difference is a failure on the `test`
/// line), or with `update` writes the records.
fn snapshots(loaded: &[Loaded], outcomes: &mut [Outcome], update: bool) -> Result<(), String> {
    for l in loaded {
        let file = snapshot_file(&l.path);
        let shown = l.path.display().to_string();
        let mut stored: serde_json::Map<String, Json> = match std::fs::read_to_string(&file) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| {
                format!(
                    "{}: not a snapshot file ({e}); delete it or run --update",
                    file.display()
                )
            })?,
            Err(_) => serde_json::Map::new(),
        };
        let mut changed = false;
        for o in outcomes.iter_mut().filter(|o| o.file == shown) {
            let record = o.record();
            if update {
                changed |= stored.get(&o.name) != Some(&record);
                stored.insert(o.name.clone(), record);
            } else if let Some(want) = stored.get(&o.name) {
                let mut diffs = Vec::new();
                diff("", want, &record, &mut diffs);
                if !diffs.is_empty() {
                    let shown_diffs: Vec<String> = diffs.iter().take(10).cloned().collect();
                    o.failures.push(Failure {
                        span: o.span,
                        message: format!(
                            "the run differs from its snapshot in {}; review it, then `wflow test --update`",
                            file.display()
                        ),
                        expected: None,
                        actual: Some(shown_diffs.join("\n")),
                    });
                }
            }
        }
        if update && changed {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let text =
                serde_json::to_string_pretty(&Json::Object(stored)).map_err(|e| e.to_string())?;
            std::fs::write(&file, format!("{text}\n"))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(())
}

/// The differences between `want` and `got`, one line each, by JSON pointer.
fn diff(at: &str, want: &Json, got: &Json, out: &mut Vec<String>) {
    match (want, got) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in a {
                let p = format!("{at}/{k}");
                match b.get(k) {
                    Some(w) => diff(&p, v, w, out),
                    None => out.push(format!("{p}: was {v}, now absent")),
                }
            }
            for (k, v) in b {
                if !a.contains_key(k) {
                    out.push(format!("{at}/{k}: was absent, now {v}"));
                }
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff(&format!("{at}/{i}"), v, w, out);
            }
        }
        _ if want != got => out.push(format!(
            "{}: was {want}, now {got}",
            if at.is_empty() { "/" } else { at }
        )),
        _ => {}
    }
}

fn line_col(texts: &BTreeMap<String, &str>, file: &str, f: &Failure) -> (usize, usize) {
    texts
        .get(file)
        .map_or((1, 1), |t| LineIndex::new(t).line_col(f.span.start))
}

fn human(
    outcomes: &[Outcome],
    texts: &BTreeMap<String, &str>,
    covered: Option<&[Coverage]>,
    t0: Instant,
) -> String {
    let mut s = format!(
        "running {} test{}\n",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" }
    );
    for o in outcomes {
        s.push_str(&format!(
            "test {} :: {} ... {}\n",
            o.file,
            o.name,
            if o.passed() { "ok" } else { "FAILED" }
        ));
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    if !failed.is_empty() {
        s.push_str("\nfailures:\n");
        for o in &failed {
            s.push_str(&format!("\n---- {} :: {} ----\n", o.file, o.name));
            for f in &o.failures {
                let (line, col) = line_col(texts, &o.file, f);
                s.push_str(&format!("{}:{line}:{col}: {}\n", o.file, f.message));
                if let Some(e) = &f.expected {
                    s.push_str(&format!("  expected: {}\n", indent(e)));
                }
                if let Some(a) = &f.actual {
                    s.push_str(&format!("  actual:   {}\n", indent(a)));
                }
            }
        }
        s.push('\n');
    }
    if let Some(c) = covered {
        s.push_str(&coverage_text(c));
    }
    let passed = outcomes.len() - failed.len();
    s.push_str(&format!(
        "test result: {}. {passed} passed; {} failed; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        t0.elapsed().as_secs_f64()
    ));
    s
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n            ")
}

fn coverage_text(covered: &[Coverage]) -> String {
    let mut s = String::from("coverage:\n");
    for c in covered {
        s.push_str(&format!(
            "  {}: {:.0}% ({}/{})",
            c.workflow,
            c.percent(),
            c.reached,
            c.total
        ));
        if c.missed.is_empty() {
            s.push('\n');
        } else {
            s.push_str(&format!("; not reached: {}\n", c.missed.join(", ")));
        }
    }
    s
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || *c >= ' ')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn failure_text(texts: &BTreeMap<String, &str>, o: &Outcome) -> String {
    let mut s = String::new();
    for f in &o.failures {
        let (line, col) = line_col(texts, &o.file, f);
        s.push_str(&format!("{}:{line}:{col}: {}\n", o.file, f.message));
        if let Some(e) = &f.expected {
            s.push_str(&format!("  expected: {e}\n"));
        }
        if let Some(a) = &f.actual {
            s.push_str(&format!("  actual:   {a}\n"));
        }
    }
    s
}

/// JUnit XML: a suite per test file, a case per test.
fn junit(outcomes: &[Outcome], texts: &BTreeMap<String, &str>) -> String {
    let mut by_file: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_file.entry(o.file.as_str()).or_default().push(o);
    }
    let total_failed = outcomes.iter().filter(|o| !o.passed()).count();
    let total_time: f64 = outcomes.iter().map(|o| o.took.as_secs_f64()).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"wflow test\" tests=\"{}\" failures=\"{total_failed}\" errors=\"0\" time=\"{total_time:.3}\">\n",
        outcomes.len()
    );
    for (file, cases) in by_file {
        let failed = cases.iter().filter(|o| !o.passed()).count();
        let time: f64 = cases.iter().map(|o| o.took.as_secs_f64()).sum();
        s.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">\n",
            xml(file),
            cases.len()
        ));
        for o in cases {
            let line = texts
                .get(&o.file)
                .map_or(1, |t| LineIndex::new(t).line_col(o.span.start).0);
            s.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{line}\" time=\"{:.3}\"",
                xml(&o.name),
                xml(&o.workflow),
                xml(&o.file),
                o.took.as_secs_f64()
            ));
            if o.passed() {
                s.push_str("/>\n");
            } else {
                let first = o.failures.first().map_or("", |f| f.message.as_str());
                s.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"assertion\">{}</failure>\n    </testcase>\n",
                    xml(first),
                    xml(&failure_text(texts, o))
                ));
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

/// GitHub annotations: an error per failed assertion, at its line.
fn github(outcomes: &[Outcome], texts: &BTreeMap<String, &str>) -> String {
    let mut s = String::new();
    for o in outcomes {
        for f in &o.failures {
            let (line, col) = line_col(texts, &o.file, f);
            let mut message = f.message.clone();
            if let Some(e) = &f.expected {
                message.push_str(&format!("\nexpected: {e}"));
            }
            if let Some(a) = &f.actual {
                message.push_str(&format!("\nactual: {a}"));
            }
            s.push_str(&format!(
                "::error file={},line={line},col={col},title={}::{}\n",
                escape_property(&o.file),
                escape_property(&format!("test failed: {}", o.name)),
                escape_data(&message)
            ));
        }
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    s.push_str(&format!(
        "{} passed; {failed} failed\n",
        outcomes.len() - failed
    ));
    s
}

fn json_report(
    outcomes: &[Outcome],
    texts: &BTreeMap<String, &str>,
    covered: Option<&[Coverage]>,
) -> String {
    let cases: Vec<Json> = outcomes
        .iter()
        .map(|o| {
            let failures: Vec<Json> = o
                .failures
                .iter()
                .map(|f| {
                    let (line, column) = line_col(texts, &o.file, f);
                    json!({ "line": line, "column": column, "message": f.message,
                            "expected": f.expected, "actual": f.actual })
                })
                .collect();
            json!({ "file": o.file, "workflow": o.workflow, "name": o.name, "passed": o.passed(),
                    "ms": o.took.as_secs_f64() * 1000.0, "failures": failures })
        })
        .collect();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let mut doc = json!({ "passed": outcomes.len() - failed, "failed": failed, "cases": cases });
    if let Some(c) = covered {
        doc["coverage"] = json!(c);
    }
    format!("{doc}\n")
}
