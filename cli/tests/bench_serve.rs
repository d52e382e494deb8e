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

/// `--recovery`: runs held at their webhook, the server killed (-9) and restarted on the same
/// SQLite file; the benchmark fails unless each run ends SUCCESS exactly once and its webhook
/// is re-sent once, with the key it had before the kill.
#[test]
fn bench_serve_recovery_resumes_every_run_once_with_its_key() {
    let stdout = bench_serve(&["--recovery", "30", "--concurrency", "4"]);
    assert!(
        stdout.contains("killed (SIGKILL) and restarted on SQLite"),
        "{stdout}"
    );
    assert!(stdout.contains("(30 of 30 webhooks re-sent)"), "{stdout}");
    assert!(stdout.contains(r#"results: {"SUCCESS": 30}"#), "{stdout}");
    assert!(
        stdout.contains("Idempotency-Key: 30 of 30 resumed webhooks re-sent with the key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("exactly once: every run SUCCESS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reproduce: wflow bench-serve --recovery 30 --concurrency 4\n"),
        "{stdout}"
    );
}

/// The same on PostgreSQL (a fresh database on `WFLOW_IT_PG`), where the restarted server
/// takes the killed one's runs over once their 3 s leases expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_serve_recovery_on_postgres_waits_out_the_leases_and_resumes_every_run() {
    let Some(database) = wflow_testkit::Database::fresh("wflow_bench_recovery").await else {
        return;
    };
    let url = database.url.clone();
    let stdout = tokio::task::spawn_blocking(move || {
        bench_serve(&[
            "--recovery",
            "20",
            "--concurrency",
            "4",
            "--store",
            &url,
            "--lease-seconds",
            "3",
        ])
    })
    .await
    .expect("join");
    assert!(stdout.contains("restarted on PostgreSQL"), "{stdout}");
    assert!(stdout.contains(r#"results: {"SUCCESS": 20}"#), "{stdout}");
    assert!(
        stdout.contains("Idempotency-Key: 20 of 20 resumed webhooks"),
        "{stdout}"
    );
    assert!(stdout.contains("--lease-seconds 3\n"), "{stdout}");
    database.drop().await;
}
