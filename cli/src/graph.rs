//! `wflow graph`: a workflow drawn by `wflow-graph` as SVG, Mermaid or DOT, optionally
//! coloured by what a stored run did; and `wflow bench --graph`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use wflow_compiler::check_file;
use wflow_engine::{Store, report};
use wflow_graph::{Format, Run};

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
            let checked = check_file(&args.file, &file.text, &workspace.catalog);
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
