//! `wflow test` through the binary: the corpus of passing cases (retries an hour apart,
//! approvals, timeouts, parallel branches, GitHub, GitLab, Azure DevOps, Jira, Kafka and AI
//! mocked), deliberately failing
//! cases and broken test files whose reports are snapshots, virtual time, coverage, JUnit and
//! GitHub output, snapshots of runs, and the shipped examples' tests.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::{BIN, Scratch};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `wflow ARGS` from the repository root, colour off.
fn wflow(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run wflow")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The report without its wall time.
fn timeless(report: &str) -> String {
    report
        .lines()
        .map(|l| match l.find("; finished in ") {
            Some(i) => format!("{}; finished in [time]", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_corpus_passes_and_two_hours_of_backoff_take_no_wall_time() {
    let t0 = Instant::now();
    let o = wflow(&[
        "test",
        "tests/corpus/testing/release.test.wflow",
        "tests/corpus/testing/on-call.test.wflow",
    ]);
    let took = t0.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("test result: ok. 9 passed; 0 failed"),
        "{}",
        stdout(&o)
    );
    // The first case waits out two one-hour backoffs and the third a 25-hour wait; on the
    // virtual clock the whole file runs in well under a second of real time (10 s allows
    // for a loaded machine, still far from the hours the waits would take).
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// GitLab, Azure DevOps and Jira nodes mocked by how what they start ends: the double answers
/// in each service's REST shape (a GitLab pipeline's status, an Azure DevOps run's result, a
/// Jira transition), and a failed deploy takes its error path.
#[test]
fn integration_backends_are_mocked_in_their_rest_shape() {
    let o = wflow(&["test", "tests/corpus/testing/backends.test.wflow"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("test result: ok. 3 passed; 0 failed"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_shipped_examples_have_passing_tests() {
    let o = wflow(&["test", "examples/"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("4 passed; 0 failed"), "{}", stdout(&o));
}

#[test]
fn failing_cases_report_each_assertion_at_its_line() {
    let o = wflow(&["test", "tests/corpus/testing/failing"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    insta::assert_snapshot!("failing_report", timeless(&stdout(&o)));
}

#[test]
fn broken_test_files_are_diagnostics_and_nothing_runs() {
    let o = wflow(&["test", "tests/corpus/testing/invalid"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    insta::assert_snapshot!("invalid_diagnostics", stderr(&o));
    // `wflow check` gives the same verdict on the test file.
    let check = wflow(&["check", "tests/corpus/testing/invalid"]);
    assert_eq!(check.status.code(), Some(1));
    for code in [
        "unknown-workflow",
        "unknown-input-key",
        "mock-not-allowed",
        "no-such-field",
    ] {
        assert!(stderr(&o).contains(code), "test: {code}");
        assert!(stdout(&check).contains(code), "check: {code}");
    }
}

#[test]
fn coverage_names_what_no_case_reached() {
    let o = wflow(&[
        "test",
        "tests/corpus/testing/release.test.wflow",
        "--filter",
        "stopped",
        "--coverage",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: Json = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(doc["passed"], 1);
    let release = &doc["coverage"][0];
    assert_eq!(release["workflow"], "release");
    // trigger, approve, approve.stop and notify of 13 items.
    assert_eq!(release["total"], 13);
    assert_eq!(release["reached"], 4);
    let missed: Vec<&str> = release["missed"]
        .as_array()
        .expect("missed")
        .iter()
        .filter_map(Json::as_str)
        .collect();
    assert_eq!(
        missed,
        [
            "approve.go",
            "build",
            "build.error",
            "tests",
            "ready",
            "announce",
            "summarize",
            "record",
            "rollback"
        ]
    );
    let all = wflow(&[
        "test",
        "tests/corpus/testing/release.test.wflow",
        "--coverage",
    ]);
    assert!(
        stdout(&all).contains("release: 100% (13/13)"),
        "{}",
        stdout(&all)
    );
}

#[test]
fn junit_and_github_reports_name_each_failure() {
    let o = wflow(&["test", "tests/corpus/testing/failing", "--format", "junit"]);
    assert_eq!(o.status.code(), Some(1));
    let xml = stdout(&o);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("<testsuites name=\"wflow test\" tests=\"4\" failures=\"4\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 4, "{xml}");
    assert!(
        xml.contains("deploy.test.wflow:4:3: the run took another path"),
        "{xml}"
    );

    let o = wflow(&["test", "tests/corpus/testing/failing", "--format", "github"]);
    let annotations = stdout(&o);
    assert!(
        annotations
            .contains("::error file=tests/corpus/testing/failing/deploy.test.wflow,line=12,col=3,"),
        "{annotations}"
    );
    assert!(
        annotations.ends_with("0 passed; 4 failed\n"),
        "{annotations}"
    );
}

#[test]
fn update_records_snapshots_that_later_runs_compare_against() {
    let d = Scratch::new("test-snapshots");
    let src = root().join("tests/corpus/testing");
    std::fs::create_dir_all(d.0.join("blueprints")).expect("dir");
    for f in [
        "release.wflow",
        "release.test.wflow",
        "blueprints/release.json",
    ] {
        std::fs::copy(src.join(f), d.0.join(f)).expect("copy");
    }
    let dir = d.0.display().to_string();
    let o = wflow(&["test", &dir, "--update"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let snap = d.0.join("__snapshots__/release.test.wflow.json");
    let stored: Json =
        serde_json::from_str(&std::fs::read_to_string(&snap).expect("snapshot")).expect("json");
    let approved = &stored["an approved release builds after two failed attempts, an hour apart"];
    assert_eq!(approved["result"], "SUCCESS");
    let sent = approved["sent"].as_array().expect("sent");
    // Three build attempts, the GitHub dispatch and polls, the Kafka message, the AI call.
    assert_eq!(
        sent.iter().filter(|s| s["node"] == "build").count(),
        3,
        "{sent:?}"
    );
    assert!(sent.iter().any(|s| s["method"] == "PUBLISH"), "{sent:?}");
    // Unchanged: passes.
    let o = wflow(&["test", &dir]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // A mock answering otherwise changes the record: the case fails on its snapshot.
    let test_file = d.0.join("release.test.wflow");
    let text = std::fs::read_to_string(&test_file).expect("read");
    std::fs::write(
        &test_file,
        text.replace(
            "\"payments v1.4.0 is out\"\n",
            "\"payments v1.4.0 shipped\"\n",
        ),
    )
    .expect("write");
    let o = wflow(&["test", &dir]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let report = stdout(&o);
    assert!(
        report.contains("the run differs from its snapshot"),
        "{report}"
    );
    assert!(
        report.contains("payments v1.4.0 is out") && report.contains("payments v1.4.0 shipped"),
        "{report}"
    );
}
