//! The release-mode fuzz runner: `cargo run --release -p wflow-tests --example fuzz --
//! --cases 1000000 --seed 1`. Prints cases/s, crashes, hangs and the slowest input; failing
//! inputs are written to `--out` (default `target/fuzz`). Exit 1 when anything failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wflow_tests::fuzz::{Generator, fuzz};

struct Args {
    cases: usize,
    seed: u64,
    hang: Duration,
    out: PathBuf,
    max_depth: usize,
    max_run: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        cases: 10_000,
        seed: 1,
        hang: Duration::from_secs(5),
        out: PathBuf::from("target/fuzz"),
        max_depth: 200,
        max_run: 80_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("`{flag} {value}`: {e}"))
        };
        match flag.as_str() {
            "--cases" => args.cases = number()? as usize,
            "--seed" => args.seed = number()?,
            "--hang-secs" => args.hang = Duration::from_secs(number()?),
            "--max-depth" => args.max_depth = number()? as usize,
            "--max-run" => args.max_run = number()? as usize,
            "--out" => args.out = PathBuf::from(value),
            _ => {
                return Err(format!(
                    "unknown flag `{flag}`; flags: --cases N --seed N --hang-secs N --max-depth N --max-run N --out DIR"
                ));
            }
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/valid");
    let mut generator = match Generator::from_dir(&corpus) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {}: {e}", corpus.display());
            return ExitCode::from(2);
        }
    };
    generator.max_depth = args.max_depth;
    generator.max_run = args.max_run;
    let start = Instant::now();
    let mut last = Instant::now();
    let result = fuzz(
        &generator,
        args.seed,
        args.cases,
        args.hang,
        &args.out,
        |r| {
            if last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                eprintln!(
                    "{} cases (last seed {}), {:.0}/s, {} crashes, {} hangs",
                    r.cases,
                    args.seed + r.cases as u64 - 1,
                    r.cases as f64 / start.elapsed().as_secs_f64(),
                    r.crashes,
                    r.hangs
                );
            }
        },
    );
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let secs = start.elapsed().as_secs_f64();
    for (what, path) in &report.failures {
        println!("{}: {what}", path.display());
    }
    println!(
        "{} cases in {secs:.1} s ({:.0}/s), seeds {}..{}: {} crashes, {} hangs over {:?}; slowest {:.3} s (seed {})",
        report.cases,
        report.cases as f64 / secs,
        args.seed,
        args.seed + report.cases as u64,
        report.crashes,
        report.hangs,
        args.hang,
        report.slowest.0.as_secs_f64(),
        report.slowest.1
    );
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
