//! `wflow bench-serve` end to end, on a handful of runs (no figures are checked).

use std::process::Command;

#[test]
fn bench_serve_runs_every_run_to_success() {
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["bench-serve", "--runs", "40", "--concurrency", "4"])
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
    assert!(
        stdout.contains("reproduce: wflow bench-serve --runs 40 --concurrency 4"),
        "{stdout}"
    );
}

#[test]
fn bench_serve_over_mcp_runs_every_run_to_success() {
    let out = Command::new(env!("CARGO_BIN_EXE_wflow"))
        .args(["bench-serve", "--runs", "20", "--concurrency", "2", "--mcp"])
        .output()
        .expect("wflow runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tool call -> first node"), "{stdout}");
    assert!(stdout.contains("20 of 20 webhooks seen"), "{stdout}");
    assert!(stdout.contains(r#"{"SUCCESS": 20}"#), "{stdout}");
    assert!(stdout.contains("--processes 1 --mcp"), "{stdout}");
}
