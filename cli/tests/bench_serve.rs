//! `wflow bench-serve` end to end, on a handful of runs (no figures are checked).

use std::process::Command;

/// Runs `wflow bench-serve` with `extra` after `--runs 40 --concurrency 4`; its stdout.
fn bench(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["bench-serve", "--runs", "40", "--concurrency", "4"])
        .args(extra)
        .output()
        .expect("wflow runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("40 of 40 accepted"), "{stdout}");
    assert!(stdout.contains("40 of 40 webhooks seen"), "{stdout}");
    assert!(stdout.contains(r#"{"SUCCESS": 40}"#), "{stdout}");
    stdout.into_owned()
}

#[test]
fn bench_serve_runs_every_run_to_success() {
    let stdout = bench(&[]);
    assert!(
        stdout.contains("reproduce: wflow bench-serve --runs 40 --concurrency 4 --processes 1\n"),
        "{stdout}"
    );
}

#[test]
fn bench_serve_runs_the_parallel_workflow_to_success() {
    let stdout = bench(&["--parallel"]);
    assert!(stdout.contains("two parallel branches"), "{stdout}");
    assert!(stdout.contains("--parallel"), "{stdout}");
}
