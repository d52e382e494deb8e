//! The fast reader (`grammar/src/fast.rs`) against pest. Wherever the fast reader reads a text,
//! pest reads it cleanly to the same tree: on generated workflows, on the fuzzer's mutations, on
//! valid files with the grammar's corner cases dropped in, and on every file of the repository.
//! And the fast reader does read every valid file: the valid corpus, the examples, the Port
//! examples imported, the benchmark's corpus, and each of these formatted. (`parser_props.rs`
//! compares the two on its inputs too.)

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::prelude::*;
use wflow_compiler::print;
use wflow_grammar::fast_vs_pest;
use wflow_tests::fuzz::{Generator, Rng};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `.wflow` files under `dir`, at any depth, in order.
fn wflow_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
    {
        if path.is_dir() {
            out.extend(wflow_files(&path));
        } else if path.extension().is_some_and(|x| x == "wflow") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Valid `.wflow` texts, named: the corpora of valid files, the examples, the Port examples
/// imported (where they import), and files of the benchmark's corpus.
fn valid_texts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [
        "tests/corpus/valid",
        "tests/corpus/preflight",
        "tests/corpus/testing",
        "examples",
    ] {
        for path in wflow_files(&repo().join(dir)) {
            out.push((path.display().to_string(), read(&path)));
        }
    }
    let port = repo().join("../shared/docs/port-examples");
    for path in std::fs::read_dir(&port)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        if let Ok(imported) = print::import(&read(&path)) {
            out.push((format!("{} imported", path.display()), imported));
        }
    }
    for i in [0, 1, 7, 59, 1499] {
        out.push((
            format!("bench file {i}"),
            wflow_bench::check::wflow_workflow(i),
        ));
    }
    let big = read(&repo().join("tests/perf/workflow.tmpl")).replace("{i}", "3");
    out.push(("tests/perf/workflow.tmpl".into(), big));
    out
}

#[test]
fn the_fast_reader_reads_every_valid_file_as_pest_does() {
    let mut refused = Vec::new();
    for (name, src) in valid_texts() {
        let formatted = print::format(&src).unwrap_or_default();
        for (what, text) in [("", &src), (" formatted", &formatted)] {
            match fast_vs_pest(text) {
                Ok(true) => {}
                Ok(false) => refused.push(format!("{name}{what}")),
                Err(e) => panic!("{name}{what}: {e}"),
            }
        }
    }
    assert!(refused.is_empty(), "left to pest: {refused:#?}");
}

#[test]
fn the_fast_reader_agrees_with_pest_on_every_file() {
    for path in wflow_files(&repo()) {
        if path.components().any(|c| c.as_os_str() == "target") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = fast_vs_pest(&String::from_utf8_lossy(&bytes)) {
            panic!("{}: {e}", path.display());
        }
    }
}

/// The corners of the grammar, dropped into valid files by [`with_corners`].
const CORNERS: &[&str] = &[
    "-", "->", ":", ": ", "::", "-:", ".", "?", "$", "@", "_", ",", ";", " ", "\t", "\n", "\r",
    "\r\n", "\u{FEFF}", "\u{a0}", "é", "²", "日", "🚀", "1", "-1", "1.", "1.5", "1e", "1e5", "E",
    "+", "true", "null", "false", "input ", "input", "x", "{", "}", "{}", "[", "]", "[]", "(", ")",
    "\"", "\"\"", "`", "{{", "}}", "\\", "\\(", "\\\"", "\\u", "\\u00e9", "\\ud800", "//",
    "// c\n", "=",
];

/// A valid file with up to 4 corner pieces inserted at random char positions.
fn with_corners() -> impl Strategy<Value = String> {
    let texts: Vec<String> = valid_texts().into_iter().map(|(_, t)| t).collect();
    let n = texts.len();
    (
        0..n,
        prop::collection::vec(
            (any::<prop::sample::Index>(), prop::sample::select(CORNERS)),
            1..4,
        ),
    )
        .prop_map(move |(i, inserts)| {
            let mut text = texts[i].clone();
            for (at, piece) in inserts {
                let boundaries: Vec<usize> = text
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([text.len()])
                    .collect();
                text.insert_str(*at.get(&boundaries), piece);
            }
            text
        })
}

/// The fuzzer, on the valid corpus, with runs short enough for a debug build.
static FUZZER: LazyLock<Generator> = LazyLock::new(|| {
    let mut generator =
        Generator::from_dir(&repo().join("tests/corpus/valid")).expect("the valid corpus");
    generator.max_run = 3_000;
    generator
});

// 256 cases each, or `PROPTEST_CASES`.
proptest! {
    #[test]
    fn valid_files_with_corners(src in with_corners()) {
        fast_vs_pest(&src).map_err(TestCaseError::fail)?;
    }

    /// The fuzzer's inputs: workflows spliced from the valid corpus's nodes, corpus files, each
    /// put through up to four of its mutations.
    #[test]
    fn fuzzer_inputs(seed in any::<u64>()) {
        let input = FUZZER.input(&mut Rng::new(seed));
        fast_vs_pest(&String::from_utf8_lossy(&input.bytes)).map_err(TestCaseError::fail)?;
    }
}
