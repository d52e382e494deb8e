//! `wflow bench-serve` end to end, on a handful of runs (no figures are checked).

use std::process::Command;

/// Runs `wflow bench-serve` with `args`; its stdout, once every run succeeded.
fn bench_serve(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .arg("bench-serve")
        .args(args)
        .output()
        .expect("wflow runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn bench_serve_runs_every_run_to_success() {
    let stdout = bench_serve(&["--runs", "40", "--concurrency", "4"]);
    assert!(stdout.contains("40 of 40 accepted"), "{stdout}");
    assert!(stdout.contains("40 of 40 webhooks seen"), "{stdout}");
    assert!(stdout.contains(r#"{"SUCCESS": 40}"#), "{stdout}");
    assert!(
        stdout.contains("reproduce: wflow bench-serve --runs 40 --concurrency 4 --processes 1\n"),
        "{stdout}"
    );
}

#[test]
fn bench_serve_over_mcp_runs_every_run_to_success() {
    let stdout = bench_serve(&["--runs", "20", "--concurrency", "2", "--mcp"]);
    assert!(stdout.contains("tool call -> first node"), "{stdout}");
    assert!(stdout.contains("20 of 20 webhooks seen"), "{stdout}");
    assert!(stdout.contains(r#"{"SUCCESS": 20}"#), "{stdout}");
    assert!(stdout.contains("--processes 1 --mcp"), "{stdout}");
}

#[test]
fn bench_serve_runs_the_parallel_workflow_to_success() {
    let stdout = bench_serve(&["--runs", "40", "--concurrency", "4", "--parallel"]);
    assert!(stdout.contains("two parallel branches"), "{stdout}");
    assert!(stdout.contains(r#"{"SUCCESS": 40}"#), "{stdout}");
    assert!(stdout.contains("--parallel"), "{stdout}");
}
