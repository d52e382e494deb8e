//! `wflow bench --graph`: the time to lay out and draw a large workflow.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use wflow_graph::Format;

/// A workflow of a trigger and `n - 1` nodes: a chain of webhooks with a condition every tenth
/// node whose second outlet skips three nodes ahead (long edges, merges, crossings to avoid).
pub fn bench_workflow(n: usize) -> String {
    let mut src = String::from(
        "workflow big \"Big\" {\n  form trigger \"Start\" { input x: string \"X\" }\n",
    );
    let mut flow = String::from("  flow {\n    trigger -> n1\n");
    for i in 1..n {
        let next = i + 1 < n;
        if i % 10 == 5 {
            src.push_str(&format!(
                "  condition n{i} \"Check {i}\" {{\n    outlet a \"A\" when `.outputs.trigger.x == \"a\"`\n    outlet b \"B\" when `.outputs.trigger.x != \"a\"`\n  }}\n"
            ));
            if next {
                flow.push_str(&format!("    n{i}.a -> n{}\n", i + 1));
            }
            let skip = (i + 4).min(n - 1);
            if skip > i {
                flow.push_str(&format!("    n{i}.b -> n{skip}\n"));
            }
        } else {
            src.push_str(&format!(
                "  webhook n{i} \"Step {i}\" {{ url \"https://example.com/{i}\" }}\n"
            ));
            if next {
                flow.push_str(&format!("    n{i} -> n{}\n", i + 1));
            }
        }
    }
    src.push_str(&flow);
    src.push_str("  }\n}\n");
    src
}

/// `wflow bench --graph`: the time to lay out and draw a 100-node workflow, in each format,
/// `20 × runs` times.
pub fn run(runs: usize) -> ExitCode {
    let runs = runs.max(1) * 20;
    let nodes = 100;
    let checked =
        wflow_compiler::check_source(&bench_workflow(nodes), wflow_compiler::Syntax::Wflow);
    if checked.has_errors() {
        eprintln!(
            "the generated workflow has errors: {:?}",
            checked.diagnostics
        );
        return ExitCode::from(2);
    }
    let wfs = checked.module.workflows;
    let edges: usize = wfs.iter().map(|w| w.connections.len()).sum();
    println!(
        "{nodes} nodes, {edges} connections: the time to lay out and draw, {runs} runs of each \
         format"
    );
    for (name, format) in [
        ("svg", Format::Svg),
        ("mermaid", Format::Mermaid),
        ("dot", Format::Dot),
    ] {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let out = wflow_graph::render(&wfs, None, format);
                let took = start.elapsed();
                std::hint::black_box(out);
                took
            })
            .collect();
        times.sort();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
        println!(
            "{name:<8} median {:.2} ms, max {:.2} ms",
            ms(times.get(times.len() / 2)),
            ms(times.last())
        );
    }
    ExitCode::SUCCESS
}
