//! Time grows linearly with the input: doubling it must not much more than double the time.
//!
//! Each case grows its input until one check takes long enough to be above timer and scheduler
//! noise, then compares the fastest of several runs at `n` and at `2n`. A ratio, not an absolute
//! time, so a loaded machine slows both sides alike; a quadratic step gives about 4.

use std::time::{Duration, Instant};

use wflow_compiler::{Syntax, check_source};

/// Long enough that noise is small next to it.
const MEASURABLE: Duration = Duration::from_millis(300);
/// Linear gives 2; quadratic gives 4.
const MAX_RATIO: f64 = 3.0;

/// The fastest of `runs` runs of `f`.
fn fastest(runs: usize, f: &dyn Fn()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Asserts that `run(make(2n))` takes less than [`MAX_RATIO`] times `run(make(n))`.
fn assert_linear(what: &str, start: usize, make: &dyn Fn(usize) -> String, run: &dyn Fn(&str)) {
    // The first check builds the compiler's tables: not part of any measurement.
    run(&make(start));
    let mut n = start;
    while fastest(2, &|| run(&make(n))) < MEASURABLE && n < start << 16 {
        n *= 2;
    }
    let (small, large) = (make(n), make(2 * n));
    // Interleaved, so that a burst of load hits both sizes.
    let mut t1 = Duration::MAX;
    let mut t2 = Duration::MAX;
    for _ in 0..5 {
        t1 = t1.min(fastest(1, &|| run(&small)));
        t2 = t2.min(fastest(1, &|| run(&large)));
    }
    let ratio = t2.as_secs_f64() / t1.as_secs_f64().max(1e-9);
    eprintln!("{what}: n={n} t(n)={t1:?} t(2n)={t2:?} ratio={ratio:.2}");
    assert!(
        ratio < MAX_RATIO,
        "{what}: doubling n from {n} took {ratio:.2}x as long ({t1:?} -> {t2:?})"
    );
}

fn check(src: &str) {
    let checked = check_source(src, Syntax::Wflow);
    assert!(!checked.module.workflows.is_empty() || checked.has_errors());
}

/// One workflow of `n` webhook nodes in a chain, each reading its predecessor's output.
fn many_nodes(n: usize) -> String {
    let mut s =
        String::from("workflow many \"Many\" {\n  form trigger \"T\" { input a: string \"A\" }\n");
    let mut prev = "trigger".to_string();
    for i in 0..n {
        s.push_str(&format!(
            "  webhook n{i} \"N{i}\" {{\n    url \"https://x.example.com/{i}\"\n    body {{ v: \"{{{{ .outputs.{prev} }}}}\" }}\n  }}\n"
        ));
        prev = format!("n{i}");
    }
    s.push_str("  flow {\n    trigger -> n0\n");
    for i in 1..n {
        s.push_str(&format!("    n{} -> n{i}\n", i - 1));
    }
    s.push_str("  }\n}\n");
    s
}

/// A workflow whose webhook body reads a jq path of `n` segments (indexing a string: one
/// `bad-index`, whose message names the path).
fn long_path(n: usize) -> String {
    format!(
        "workflow p \"P\" {{\n  form trigger \"T\" {{ input a: string \"A\" }}\n  webhook h \"H\" {{\n    url \"https://x.example.com\"\n    body {{ v: \"{{{{ .outputs.trigger{} }}}}\" }}\n  }}\n  flow {{ trigger -> h }}\n}}\n",
        ".a".repeat(n)
    )
}

/// `n` small workflows in one file.
fn many_workflows(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "workflow w{i} \"W{i}\" {{\n  form trigger \"T\" {{ input v: string \"V\" }}\n  condition c \"C\" {{\n    outlet p \"P\" when `.outputs.trigger.v == \"1\"`\n  }}\n  webhook d \"D\" {{\n    url \"https://api.example.com/{i}\"\n    body {{ v: \"{{{{ .outputs.trigger.v }}}}\" }}\n  }}\n  flow {{\n    trigger -> c\n    c.p -> d\n  }}\n}}\n"
            )
        })
        .collect()
}

#[test]
fn many_nodes_in_one_workflow_check_in_linear_time() {
    assert_linear("nodes", 100, &many_nodes, &check);
}

#[test]
fn a_long_jq_path_checks_in_linear_time() {
    assert_linear("jq path", 1_000, &long_path, &check);
}

#[test]
fn the_generated_workflows_are_valid() {
    for src in [many_nodes(3), many_workflows(3)] {
        let checked = check_source(&src, Syntax::Wflow);
        assert_eq!(checked.diagnostics, vec![], "{src}");
    }
    let checked = check_source(&long_path(1_000), Syntax::Wflow);
    let messages: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(checked.diagnostics.len(), 1, "{messages:?}");
    assert_eq!(checked.diagnostics[0].code, "bad-index");
    assert_eq!(
        messages[0],
        "`.outputs.trigger.a` is a string, so it has no field `a`"
    );
}

#[test]
fn many_workflows_in_one_file_check_in_linear_time() {
    assert_linear("workflows", 20, &many_workflows, &check);
}

/// What `wflow check` runs: item by item, each workflow's IR dropped once checked.
#[test]
fn many_workflows_in_one_file_check_in_linear_time_for_their_diagnostics() {
    let catalog = wflow_compiler::catalog::Catalog::default();
    assert_linear("workflows, diagnostics only", 20, &many_workflows, &|src| {
        let path = std::path::Path::new("many.wflow");
        let diagnostics = wflow_compiler::check_file_diagnostics(path, src, &catalog);
        assert_eq!(diagnostics, vec![]);
    });
}

/// One piece per workflow, so that parsing holds one workflow's tree at a time.
#[test]
fn many_workflows_are_parsed_one_at_a_time() {
    let src = many_workflows(50);
    let pieces: Vec<usize> = wflow_grammar::parse_items(&src)
        .map(|p| p.file.statements.len())
        .collect();
    assert_eq!(pieces, vec![1; 50]);
}

#[test]
fn a_line_of_unclosed_braces_checks_in_linear_time() {
    assert_linear(
        "unclosed braces",
        1_000,
        &|n| format!("workflow w {}\n", "{ ".repeat(n)),
        &check,
    );
}

#[test]
fn a_long_chain_of_nodes_does_not_overflow_the_stack() {
    // Ordering the nodes recursed once per node of a chain.
    let checked = check_source(&many_nodes(20_000), Syntax::Wflow);
    assert_eq!(checked.module.workflows[0].nodes.len(), 20_001);
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["limit-exceeded"], "Port's node limit, nothing else");
}

#[test]
fn a_line_of_stray_braces_checks_in_linear_time_and_reports_a_bounded_number_of_errors() {
    assert_linear("stray braces", 1_000, &|n| "}".repeat(n) + "\n", &check);
    let checked = check_source(&"}".repeat(150), Syntax::Wflow);
    let messages: Vec<&str> = checked
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(messages.len(), wflow_compiler::MAX_SYNTAX_ERRORS + 1);
    assert!(messages[..100].iter().all(|m| *m == "unexpected `}`"));
    assert_eq!(
        messages[100],
        "50 more syntax errors from here on not shown (at most 100 per file)"
    );
    assert_eq!(checked.diagnostics[100].primary.span.start, 100);
}
