//! Checks one file and prints how many diagnostics it has, the time it took and the peak memory
//! of the process (Linux): the compiler alone, for profiling generated inputs
//! (`tests/perf/gen.py`).
//!
//! `cargo run --release -p wflow-compiler --example check_file -- big.wflow`

use std::process::ExitCode;
use std::time::Instant;

/// The process's peak resident memory in MiB, from `/proc/self/status` (0 elsewhere).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check_file FILE");
        return ExitCode::FAILURE;
    };
    let src = match std::fs::read_to_string(&path) {
        Ok(src) => src,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let checked = wflow_compiler::check_source(&src, wflow_compiler::syntax_of(path.as_ref()));
    println!(
        "{} workflows, {} diagnostics in {:.2?}; input {:.1} MiB, peak RSS {:.1} MiB",
        checked.module.workflows.len(),
        checked.diagnostics.len(),
        start.elapsed(),
        src.len() as f64 / f64::from(1 << 20),
        peak_rss_mib(),
    );
    ExitCode::SUCCESS
}
