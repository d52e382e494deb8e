//! `wflow graph`: a workflow drawn by `wflow-graph` as SVG, Mermaid or DOT, optionally
//! coloured by what a stored run did; and `wflow bench --graph`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use wflow_compiler::{check_source_with, syntax_of};
use wflow_graph::{Format, Run};
use wflow_runtime::{Store, report};

/// The output formats of `wflow graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Self-contained SVG: inline icons and styles, no external fonts or links.
    Svg,
    /// A Mermaid `flowchart LR` (GitHub and GitLab render it in Markdown).
    Mermaid,
    /// A Graphviz `digraph` (`dot -Tpng`).
    Dot,
}

/// `wflow graph`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  wflow graph deploy.wflow -o deploy.svg
  wflow graph deploy.wflow --format mermaid
  wflow graph deploy.wflow --format dot | dot -Tpng -o deploy.png
  wflow graph deploy.wflow --run wfr_0123 -o run.svg    # coloured by a run of `wflow exec`

Exit codes: 0 drawn, 2 a file with errors (shown as `wflow check` shows them), a missing file,
workflow or run, or a store that cannot be read.")]
pub struct GraphArgs {
    /// A `.wflow` or Port workflow JSON file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Svg)]
    format: GraphFormat,
    /// Write the drawing to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Colour each node by its status in run RUN (succeeded, failed, running, waiting,
    /// skipped) and highlight the connections it took; the run is read from the store.
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Draw only workflow ID of the file (default: every workflow; with --run, the run's).
    #[arg(long, value_name = "ID")]
    workflow: Option<String>,
    /// A directory of Port blueprint JSON files the file is checked against, as for
    /// `wflow check` (`blueprints/` beside the file and beside `wflow.toml` are read too).
    #[arg(long, value_name = "DIR")]
    blueprints: Option<PathBuf>,
    /// The project configuration (default: `$WFLOW_CONFIG`, else the nearest `wflow.toml`
    /// above the file).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    store: crate::exec::StoreArgs,
}

/// Runs `wflow graph`.
pub fn graph(args: GraphArgs) -> ExitCode {
    match draw(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Prints `msg` as an error; the exit code of bad input.
fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn draw(args: &GraphArgs) -> Result<(), ExitCode> {
    let path = args.file.display().to_string();
    let file = crate::SourceFile::read(&args.file).map_err(bad)?;
    let workspace = crate::workspace(
        std::slice::from_ref(&args.file),
        args.config.clone(),
        args.blueprints.clone(),
    )
    .map_err(bad)?;
    let (diagnostics, mut workflows) = match file.unreadable {
        Some(d) => (vec![d], Vec::new()),
        None => {
            let checked = check_source_with(&file.text, syntax_of(&args.file), &workspace.catalog);
            (checked.diagnostics, checked.module.workflows)
        }
    };
    if diagnostics
        .iter()
        .any(|d| d.severity == wflow_compiler::Severity::Error)
    {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            crate::render_human(&path, &file.text, &diagnostics, color)
        );
        return Err(bad(format!("{path} has errors; nothing was drawn")));
    }
    let run = match &args.run {
        Some(id) => Some(crate::block_on(read_run(&args.store, id))?.map_err(bad)?),
        None => None,
    };
    let wanted = match (&args.workflow, &run) {
        (Some(w), Some((of, _))) if w != of => {
            return Err(bad(format!(
                "run {} is of workflow `{of}`, not `{w}`",
                args.run.as_deref().unwrap_or_default()
            )));
        }
        (Some(w), _) | (None, Some((w, _))) => Some(w),
        (None, None) => None,
    };
    if let Some(w) = wanted {
        workflows.retain(|wf| &wf.identifier.value == w);
        if workflows.is_empty() {
            return Err(bad(format!("{path} has no workflow `{w}`")));
        }
    }
    if workflows.is_empty() {
        return Err(bad(format!("{path} holds no workflow")));
    }
    let format = match args.format {
        GraphFormat::Svg => Format::Svg,
        GraphFormat::Mermaid => Format::Mermaid,
        GraphFormat::Dot => Format::Dot,
    };
    let text = wflow_graph::render(&workflows, run.as_ref().map(|(_, r)| r), format);
    match &args.output {
        Some(out) => std::fs::write(out, text)
            .map_err(|e| bad(format!("cannot write {}: {e}", out.display()))),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| bad(format!("cannot write the drawing: {e}"))),
    }
}

/// The workflow of stored run `id` and what each of its nodes did.
async fn read_run(store: &crate::exec::StoreArgs, id: &str) -> Result<(String, Run), String> {
    let store = Store::open(&store.store).await.map_err(|e| e.0)?;
    let run = report::run_graph(&store, id).await.map_err(|e| e.0)?;
    let location = store.location().to_string();
    store.close().await;
    run.ok_or_else(|| format!("no run `{id}` in {location}; see `wflow runs list`"))
}

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
pub fn bench(runs: usize) -> ExitCode {
    let runs = runs.max(1) * 20;
    let nodes = 100;
    let checked =
        wflow_compiler::check_source(&bench_workflow(nodes), wflow_compiler::Syntax::Wflow);
    if checked.has_errors() {
        return bad(format!(
            "the generated workflow has errors: {:?}",
            checked.diagnostics
        ));
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
