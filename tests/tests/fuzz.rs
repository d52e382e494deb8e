//! The fuzzer (see `src/fuzz.rs`) in CI: a fixed, seeded budget of inputs, and every input it
//! ever broke the tools with, kept in `corpus/regressions/`. The long run is
//! `cargo run --release -p wflow-tests --example fuzz -- --cases 1000000 --seed 1`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wflow_tests::fuzz::{Generator, Input, Outcome, Runner, fuzz};

/// Over this, an input counts as a hang. Debug builds are slow and CI machines shared.
const HANG: Duration = Duration::from_secs(5);

/// How many generated inputs CI runs (each from its own seed).
const CASES: usize = 1_000;

/// The CI budget: nesting past the readers' limit (128) and runs short enough for a debug
/// build.
fn ci_generator() -> Generator {
    let mut generator = Generator::from_dir(&corpus("valid")).expect("the valid corpus");
    generator.max_depth = 160;
    generator.max_run = 3_000;
    generator
}

fn corpus(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(dir)
}

#[test]
fn seeded_inputs_neither_crash_nor_hang() {
    let generator = ci_generator();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    let report = fuzz(&generator, 20_261_202, CASES, HANG, &out, |_| {}).expect("fuzz");
    assert_eq!(report.cases, CASES);
    let failures: Vec<String> = report
        .failures
        .iter()
        .map(|(what, path)| format!("{}: {what}", path.display()))
        .collect();
    assert!(
        failures.is_empty(),
        "copy each input to tests/corpus/regressions/ and fix it:\n{}",
        failures.join("\n")
    );
}

#[test]
fn regression_inputs_neither_crash_nor_hang() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus("regressions"))
        .expect("corpus/regressions")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wflow" || x == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 5, "found {} regression files", paths.len());
    let mut runner = Runner::new(HANG).expect("runner");
    let mut problems = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let input = Input {
            syntax: wflow_compiler::syntax_of(path),
            bytes: std::fs::read(path).expect("read"),
        };
        match runner.run(input).expect("run") {
            Outcome::Done(_) => {}
            Outcome::Panic(message) => problems.push(format!("{name}: {message}")),
            Outcome::Hang => problems.push(format!("{name}: over {HANG:?}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_runner_reports_panics_and_hangs_and_goes_on() {
    fn misbehave(input: &Input) {
        match input.bytes.as_slice() {
            b"panic" => panic!("boom"),
            b"hang" => std::thread::sleep(Duration::from_secs(3)),
            _ => {}
        }
    }
    let mut runner = Runner::of(misbehave, Duration::from_millis(300)).expect("runner");
    let input = |text: &str| Input {
        syntax: wflow_compiler::Syntax::Wflow,
        bytes: text.as_bytes().to_vec(),
    };
    match runner.run(input("panic")).expect("run") {
        Outcome::Panic(message) => assert!(message.contains("boom"), "{message}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert!(matches!(
        runner.run(input("hang")).expect("run"),
        Outcome::Hang
    ));
    assert!(matches!(
        runner.run(input("fine")).expect("run"),
        Outcome::Done(_)
    ));
}
