//! The `wflow` command line: argument parsing, file discovery, rendering and exit codes. All
//! checking is done by `wflow-compiler`.

/// `print!` to standard output that ends the process quietly when the reader has gone
/// (`wflow compile x.wflow | head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => { $crate::write_out(format_args!($($t)*)) };
}

/// `println!` with the same care as [`out!`].
macro_rules! outln {
    () => { $crate::write_out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::write_out(format_args!("{}\n", format_args!($($t)*))) };
}

/// Writes to standard output; a closed pipe ends the process with success, as `cat` does.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(2);
    }
}

mod excerpt;
mod exec;
pub mod graph;
mod interop;
mod progress;
mod render;
mod serve;
mod test;

pub use render::{Format, render_github, render_human, render_json_entries};

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wflow_compiler::{Severity, check_source, syntax_of};

/// Workflows as code: check, compile and run Port-style workflows.
#[derive(Parser)]
#[command(
    name = "wflow",
    version,
    about = "Workflows as code for developer portals: check, format, run and serve Port-style \
             workflows written as .wflow text or Port JSON"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check `.wflow` and Port workflow JSON files (directories are searched).
    Check {
        /// Files or directories; defaults to the current directory.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Print this process's peak memory to stderr at the end (used by `wflow bench`).
        #[arg(long, hide = true)]
        report_peak_memory: bool,
        /// A directory of Port blueprint JSON files; `blueprints/*.json` beside the checked
        /// files and beside `wflow.toml` is read too.
        #[arg(long, value_name = "DIR")]
        blueprints: Option<PathBuf>,
        /// The project configuration (default: `$WFLOW_CONFIG`, else the nearest `wflow.toml`
        /// above the first path); its directory's `blueprints/` is read too.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Generate a corpus of workflow files and time `wflow check` on it.
    Bench {
        /// Where to write the corpus (replaced if it exists).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// How many files to generate.
        #[arg(long, default_value_t = 1500)]
        files: usize,
        /// How many timed runs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Benchmark the language server instead: edit latency on a 1,000-line file with 50
        /// files open, and the server's memory.
        #[arg(long)]
        lsp: bool,
        /// With --lsp: send this many random edits (with requests) instead, and print the
        /// server's memory at the start and every 10,000 edits.
        #[arg(long, requires = "lsp")]
        storm: Option<usize>,
        /// Benchmark `wflow graph` instead: the time to lay out and draw a 100-node workflow
        /// in each format (20 × --runs times).
        #[arg(long, conflicts_with = "lsp")]
        graph: bool,
        /// Benchmark `wflow test` instead: 1,000 generated cases over 50 workflows (written to
        /// --dir), the whole command timed --runs times.
        #[arg(long, conflicts_with_all = ["lsp", "graph"])]
        test: bool,
        /// Also time this actionlint binary, alternating with `wflow check`, on a GitHub
        /// Actions corpus of as many workflows of the same shape, and print the ratio of
        /// lines per second.
        #[arg(long, value_name = "ACTIONLINT", conflicts_with_all = ["lsp", "graph", "test"])]
        actionlint: Option<PathBuf>,
        /// Benchmark one big file instead: write a `.wflow` file of this many MB (to --dir, or
        /// the temporary directory) and time `wflow check` on it --runs times, against the
        /// figure of at most 10 s and 10 times the file's size in peak memory.
        #[arg(long, value_name = "MB", conflicts_with_all = ["lsp", "graph", "test", "actionlint"])]
        big: Option<usize>,
    },
    /// Run the language server on stdin/stdout (for editors).
    Lsp,
    /// Print a file's IR as JSON.
    Compile {
        /// A `.wflow` or Port JSON file.
        file: PathBuf,
    },
    /// Format `.wflow` files canonically (directories are searched).
    Fmt {
        /// Files or directories; defaults to the current directory.
        paths: Vec<PathBuf>,
        /// Change nothing; list the files that are not formatted and exit 1 if any.
        #[arg(long, conflicts_with = "stdout")]
        check: bool,
        /// Change nothing; print the formatted text of the files instead.
        #[arg(long)]
        stdout: bool,
    },
    /// Convert Port workflow JSON to `.wflow`.
    Import {
        /// Port JSON files: one workflow, an array, or the API's `{"ok": true, "workflow": ...}`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write `<DIR>/<name>.wflow` for each file instead of printing.
        #[arg(short, long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Print workflows as Port JSON (newest schema unless --legacy).
    Export {
        /// `.wflow` (or Port JSON) files, or directories (searched).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write Port's beta schema (`options`, `sourceOptionIdentifier`, `GITHUB`).
        #[arg(long)]
        legacy: bool,
        /// Write `<DIR>/<identifier>.json` for each workflow instead of printing.
        #[arg(short, long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Create or update workflows in a Port organisation.
    Push {
        /// `.wflow` (or Port JSON) files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Port's API, e.g. https://api.getport.io (https://api.us.getport.io in the US).
        #[arg(long)]
        base_url: String,
        /// Port client id; defaults to $PORT_CLIENT_ID.
        #[arg(long)]
        client_id: Option<String>,
        /// Port client secret; defaults to $PORT_CLIENT_SECRET.
        #[arg(long)]
        client_secret: Option<String>,
        /// Change nothing; show how each workflow differs from what Port has.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run a workflow on this machine (exit 0 SUCCESS, 1 FAILED/CANCELLED, 2 bad input,
    /// 3 waiting for an approval or an outside completion).
    Exec(exec::ExecArgs),
    /// List, inspect, resume, answer and cancel runs.
    Runs(exec::RunsArgs),
    /// The local catalog of blueprints and entities.
    Catalog(exec::CatalogArgs),
    /// Measure the runtime: per-node overhead, runs per second, memory over many runs.
    BenchExec(wflow_bench::exec::BenchExecArgs),
    /// Measure `wflow serve`: self-service runs per second through the HTTP API and the time
    /// from request to first node started.
    BenchServe(wflow_bench::serve::BenchServeArgs),
    /// Serve a workflows directory: the HTTP API, catalog events, schedules, approvals.
    Serve(serve::ServeArgs),
    /// Serve a workflows directory to an AI agent over MCP on stdin/stdout: each self-service
    /// workflow you may run is a tool (also at `/mcp` of `wflow serve`).
    ///
    /// Tools: one per published self-service trigger the caller may run (named after its
    /// workflow; its input schema is the form's), `get_run` (a run, its node runs and outputs,
    /// secrets redacted) and `list_runs_waiting_for_me` (approvals the caller may answer).
    /// Approvals stay with people: no tool answers one. Bad inputs are tool errors naming each
    /// field by JSON pointer.
    ///
    /// Without --auth the process acts as a local admin; with --auth FILE --as EMAIL, as that
    /// user of the file, with the permissions `wflow serve` gives their token. Stdout carries
    /// only MCP frames; logs and the workflows' diagnostics go to stderr. Runs it starts are
    /// driven until they finish or wait for someone (up to 30 s after the client closes);
    /// schedules, catalog events and timers are `wflow serve`'s work. See docs/runtime.md.
    Mcp(serve::McpArgs),
    /// Draw a workflow left to right (SVG, Mermaid or DOT), optionally coloured by a run.
    Graph(graph::GraphArgs),
    /// Run the cases of test files (`*.test.wflow`) on the real engine with the outside world
    /// mocked and time virtual (exit 0 all passed, 1 a case failed, 2 a file does not check).
    Test(test::TestArgs),
}

/// Parses the command line and runs the command. Exit codes: 0 no errors, 1 errors found,
/// 2 usage or IO error.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            paths,
            format,
            report_peak_memory,
            blueprints,
            config,
        } => {
            let code = check(paths, format, blueprints, config);
            if report_peak_memory {
                eprintln!(
                    "peak memory: {}",
                    peak_memory().unwrap_or_else(|| "unknown".into())
                );
            }
            code
        }
        Command::Bench {
            lsp: true, storm, ..
        } => wflow_bench::lsp::run(storm),
        Command::Bench {
            graph: true, runs, ..
        } => wflow_bench::graph::run(runs),
        Command::Bench {
            test: true,
            runs,
            dir,
            ..
        } => wflow_bench::test::run(dir.as_deref(), runs),
        Command::Bench {
            big: Some(megabytes),
            dir,
            runs,
            ..
        } => {
            let dir = dir.unwrap_or_else(std::env::temp_dir);
            let path = dir.join(format!("wflow-bench-big-{megabytes}.wflow"));
            wflow_bench::check::big(&wflow_bench::check::BigOptions {
                path,
                megabytes,
                runs,
            })
        }
        Command::Bench {
            dir,
            files,
            runs,
            actionlint,
            ..
        } => {
            let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("wflow-bench"));
            wflow_bench::check::run(&wflow_bench::check::BenchOptions {
                dir,
                files,
                runs,
                actionlint,
            })
        }
        Command::Compile { file } => compile(&file),
        Command::Fmt {
            paths,
            check,
            stdout,
        } => interop::fmt(paths, check, stdout),
        Command::Import { files, out } => interop::import(files, out),
        Command::Export { files, legacy, out } => interop::export_cmd(files, legacy, out),
        Command::Push {
            files,
            base_url,
            client_id,
            client_secret,
            dry_run,
        } => interop::push(interop::PushOptions {
            files,
            base_url,
            client_id,
            client_secret,
            dry_run,
        }),
        Command::Exec(args) => exec::exec(args),
        Command::Runs(args) => exec::runs(args),
        Command::Catalog(args) => exec::catalog(args),
        Command::BenchExec(args) => run_async(wflow_bench::exec::run(args)),
        Command::BenchServe(args) => run_async(wflow_bench::serve::run(args)),
        Command::Serve(args) => serve::serve(args),
        Command::Mcp(args) => serve::mcp(args),
        Command::Graph(args) => graph::graph(args),
        Command::Test(args) => test::run(args),
        Command::Lsp => lsp(),
    }
}

/// One checked file: its text and diagnostics (the IR is dropped as soon as it is checked).
pub struct FileResult {
    pub path: PathBuf,
    pub src: String,
    pub diagnostics: Vec<wflow_compiler::Diagnostic>,
}

impl FileResult {
    fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

fn check(
    paths: Vec<PathBuf>,
    format: Format,
    blueprints: Option<PathBuf>,
    config: Option<PathBuf>,
) -> ExitCode {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths
    };
    let workspace = match workspace(&paths, config, blueprints) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (files, mut io_errors) = discover_with_tests(&paths);
    io_errors.extend(workspace.problems);
    let results = check_files_with(files, &workspace.catalog);
    let mut out = std::io::stdout().lock();
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = match format {
        Format::Human => {
            let mut s = String::new();
            for r in &results {
                s.push_str(&render_human(
                    &r.path.display().to_string(),
                    &r.src,
                    &r.diagnostics,
                    color,
                ));
            }
            s.push_str(&summary(&results));
            s
        }
        Format::Json => render::render_json(&results),
        Format::Github => {
            let mut s = String::new();
            for r in &results {
                s.push_str(&render_github(
                    &r.path.display().to_string(),
                    &r.src,
                    &r.diagnostics,
                ));
            }
            s
        }
    };
    let _ = out.write_all(text.as_bytes());
    for e in &io_errors {
        eprintln!("error: {e}");
    }
    if !io_errors.is_empty() {
        ExitCode::from(2)
    } else if results.iter().any(|r| r.has_errors()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// "checked N files: E errors, W warnings".
fn summary(results: &[FileResult]) -> String {
    let count = |sev| {
        results
            .iter()
            .flat_map(|r| &r.diagnostics)
            .filter(|d| d.severity == sev)
            .count()
    };
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("1 {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    format!(
        "checked {}: {}, {}\n",
        plural(results.len(), "file"),
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    )
}

/// The project of `paths` as every command sees it (configuration, blueprints, services),
/// with the process environment.
pub(crate) fn workspace(
    paths: &[PathBuf],
    config: Option<PathBuf>,
    blueprints: Option<PathBuf>,
) -> Result<wflow_project::Workspace, String> {
    let env = |k: &str| std::env::var(k).ok();
    wflow_project::Workspace::discover(
        paths,
        &wflow_project::Options {
            config,
            blueprints,
            env: &env,
        },
    )
}

/// How the CLI tells users to provide what a run's preflight found missing.
pub fn preflight_help() -> wflow_compiler::preflight::How {
    wflow_compiler::preflight::How {
        secret: |name| {
            format!(
                "set {} or pass --secrets-file with a `{name}=value` line",
                wflow_engine::secrets::env_name(name)
            )
        },
        kafka: "set `[kafka] brokers` and `topic` in wflow.toml (or --config FILE), or \
                WFLOW_KAFKA_BROKERS and WFLOW_KAFKA_TOPIC",
        ai: "set `[ai] base_url` in wflow.toml (or --config FILE), or WFLOW_AI_BASE_URL",
        service: |section| {
            format!(
                "set `[{section}] api_url` in wflow.toml (or --config FILE), or WFLOW_{}_API_URL",
                section.to_ascii_uppercase()
            )
        },
        blueprint: |bp| {
            format!("load it first: wflow catalog load {bp}.json (Port blueprint JSON)")
        },
    }
}

/// Checks files on all cores; results come back in the order given.
pub fn check_files(files: Vec<SourceFile>) -> Vec<FileResult> {
    check_files_with(files, &wflow_compiler::catalog::Catalog::new(Vec::new()))
}

/// [`check_files`] against the blueprints of `catalog`. An unreadable file's result is the
/// diagnostic saying so.
pub fn check_files_with(
    files: Vec<SourceFile>,
    catalog: &wflow_compiler::catalog::Catalog,
) -> Vec<FileResult> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Vec<wflow_compiler::Diagnostic>>> = files
        .iter()
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(i) else {
                        break;
                    };
                    let diagnostics = match &file.unreadable {
                        Some(d) => vec![d.clone()],
                        None if wflow_compiler::testfile::is_test_file(&file.path) => {
                            let dir = wflow_project::test_dir(&file.path);
                            let beside = wflow_project::checked_workflows_in(&dir, catalog);
                            wflow_project::check_test_file(&file.text, &beside, catalog).1
                        }
                        None => {
                            wflow_compiler::check_file_diagnostics(&file.path, &file.text, catalog)
                        }
                    };
                    if let Some(Ok(mut slot)) = slots.get(i).map(|s| s.lock()) {
                        *slot = diagnostics;
                    }
                }
            });
        }
    });
    files
        .into_iter()
        .zip(slots)
        .map(|(file, slot)| FileResult {
            path: file.path,
            src: file.text,
            diagnostics: slot.into_inner().unwrap_or_default(),
        })
        .collect()
}

/// A file as read for checking.
pub struct SourceFile {
    pub path: PathBuf,
    /// The text; for an unreadable file, what could be read (to show where the problem is).
    pub text: String,
    /// Why the file cannot be read as text (`unreadable-file`), if it cannot.
    pub unreadable: Option<wflow_compiler::Diagnostic>,
}

impl SourceFile {
    /// Reads `path`. A file that cannot be read or is not UTF-8 is a file with the diagnostic
    /// saying so; only a path that does not exist is an error.
    pub fn read(path: &Path) -> Result<SourceFile, String> {
        // A file over the size limit is refused without being read into memory.
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if let Some(d) = usize::try_from(len)
            .ok()
            .and_then(wflow_compiler::too_large)
        {
            return Ok(SourceFile {
                path: path.to_path_buf(),
                text: String::new(),
                unreadable: Some(d),
            });
        }
        let (text, unreadable) = match std::fs::read(path) {
            Ok(bytes) => wflow_compiler::decode(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", path.display()));
            }
            Err(e) => {
                let d = wflow_compiler::Diagnostic::error(
                    "unreadable-file",
                    wflow_grammar::Span::new(0, 0),
                    format!("the file cannot be read: {e}"),
                )
                .help("make the file readable (check its permissions), or leave it out");
                (String::new(), Some(d))
            }
        };
        Ok(SourceFile {
            path: path.to_path_buf(),
            text,
            unreadable,
        })
    }
}

/// Expands directories into the `.wflow` and Port workflow JSON files under them, sorted.
/// Files named explicitly are always included. Returns the files (unreadable ones with their
/// diagnostic), and IO errors: a path that does not exist, a directory that cannot be listed.
pub fn discover(paths: &[PathBuf]) -> (Vec<SourceFile>, Vec<String>) {
    discover_where(paths, wflow_project::is_workflow_source)
}

/// [`discover`], test files (`*.test.wflow`) included: what `wflow check` checks.
pub fn discover_with_tests(paths: &[PathBuf]) -> (Vec<SourceFile>, Vec<String>) {
    discover_where(paths, |path, text| {
        wflow_compiler::testfile::is_test_file(path)
            || wflow_project::is_workflow_source(path, text)
    })
}

fn discover_where(
    paths: &[PathBuf],
    keep: impl Fn(&Path, &str) -> bool,
) -> (Vec<SourceFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found, &mut errors);
            found.sort();
            for f in found {
                match SourceFile::read(&f) {
                    Ok(file) if keep(&f, &file.text) => files.push(file),
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
        } else {
            match SourceFile::read(p) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            }
        }
    }
    (files, errors)
}

pub(crate) fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out, errors),
            Ok(_) if name.ends_with(".wflow") || name.ends_with(".json") => out.push(path),
            _ => {}
        }
    }
}

/// Peak resident memory of this process, from /proc (Linux); None elsewhere.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{:.1} MB", kb / 1024.0))
}

/// Runs `f` to completion on a multi-threaded tokio runtime. When the runtime cannot start,
/// says so and returns the exit code for it (2).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, ExitCode> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Runs `f` to its end: exit 0 when it succeeds, else print its error and exit 2.
fn run_async<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    match block_on(f) {
        Ok(r) => report_error(r),
        Err(code) => code,
    }
}

/// Exit 0 when `r` is Ok, else print the error and exit 2.
pub(crate) fn report_error<E: std::fmt::Display>(r: Result<(), E>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Exit 0 after `shutdown` then `exit`, 1 when the client exits (or closes stdin) without
/// `shutdown`, as the LSP spec says.
fn lsp() -> ExitCode {
    match block_on(wflow_lsp::serve_stdio()) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(e)) => {
            eprintln!("error: wflow lsp cannot start: {e}");
            ExitCode::from(2)
        }
        Err(code) => code,
    }
}

fn compile(file: &Path) -> ExitCode {
    let (src, unreadable) = match SourceFile::read(file) {
        Ok(f) => (f.text, f.unreadable),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let color = std::io::stderr().is_terminal();
    let name = file.display().to_string();
    if let Some(d) = unreadable {
        eprint!("{}", render_human(&name, &src, &[d], color));
        return ExitCode::from(1);
    }
    let checked = check_source(&src, syntax_of(file));
    if checked.has_errors() {
        eprint!("{}", render_human(&name, &src, &checked.diagnostics, color));
        return ExitCode::from(1);
    }
    match serde_json::to_string_pretty(&checked.module) {
        Ok(json) => {
            outln!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
