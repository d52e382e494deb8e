//! `wflow serve`: loads and checks a workflows directory and serves it with
//! `wflow_runtime::server` (the HTTP API, catalog events, schedules). Broken workflows are
//! refused with their diagnostics; the others serve.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use wflow_compiler::syntax_of;
use wflow_runtime::server::{self, Auth, Options, Refusal, Server, SystemClock};
use wflow_runtime::{Plan, Secrets, Store};

/// `wflow serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The workflows directory (`.wflow` and Port workflow JSON files under it).
    dir: PathBuf,
    /// The SQLite store (created if missing).
    #[arg(long, env = "WFLOW_STORE", default_value = ".wflow/wflow.db")]
    store: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A JSON file of users and their bearer tokens; without it every request acts as an admin.
    #[arg(long, value_name = "FILE")]
    auth: Option<PathBuf>,
    /// A file of `NAME=value` lines with secrets (the environment's `WFLOW_SECRET_NAME` wins).
    #[arg(long, env = "WFLOW_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
}

/// Runs `wflow serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Option<PathBuf>, what: &str) -> Result<Option<String>, String> {
    path.as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the {what} {}: {e}", p.display()))
        })
        .transpose()
}

/// Checks every workflow file under `dir`; prints why each refused one is refused.
fn load(dir: &PathBuf, secrets_file: Option<&str>) -> Result<Vec<Plan>, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let (files, errors) = crate::discover(std::slice::from_ref(dir));
    for e in errors {
        eprintln!("error: {e}");
    }
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut plans = Vec::new();
    let mut ids = BTreeSet::new();
    for (path, src) in files {
        let name = path.display().to_string();
        match server::prepare(&src, syntax_of(&path), &name) {
            Err(Refusal::Errors(diags)) => {
                eprint!("{}", crate::render_human(&name, &src, &diags, color));
                eprintln!("refused: {name} has errors; its workflows are not served");
            }
            Err(Refusal::Problems(problems)) => {
                eprintln!("refused: {name}:\n  {}", problems.join("\n  "));
            }
            Ok(found) => {
                for plan in found {
                    let id = plan.workflow.identifier.value.clone();
                    if let Err(missing) = Secrets::load(&plan.secrets, secrets_file) {
                        eprintln!(
                            "refused: workflow `{id}` ({name}) reads secrets nobody provided: {}",
                            missing.join(", ")
                        );
                    } else if !ids.insert(id.clone()) {
                        eprintln!(
                            "refused: workflow `{id}` ({name}): another file already defines it"
                        );
                    } else {
                        plans.push(plan);
                    }
                }
            }
        }
    }
    Ok(plans)
}

async fn run(args: ServeArgs) -> Result<(), String> {
    let auth = read(&args.auth, "auth file")?
        .map(|t| Auth::parse(&t))
        .transpose()
        .map_err(|p| format!("the auth file is not valid:\n  {}", p.join("\n  ")))?;
    let secrets_file = read(&args.secrets_file, "secrets file")?;
    let plans = load(&args.dir, secrets_file.as_deref())?;
    let store = Store::open(&args.store).await.map_err(|e| e.0)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if auth.is_none() {
        eprintln!("warning: no --auth file; every request acts as an admin");
    }
    let n = plans.len();
    let server = Server::new(
        store,
        plans,
        Options {
            auth,
            secrets_file,
            ..Options::default()
        },
    )
    .map_err(|e| e.0)?;
    eprintln!(
        "serving {n} workflow{} on http://{addr}",
        if n == 1 { "" } else { "s" }
    );
    server
        .serve(
            listener,
            Arc::new(SystemClock),
            shutdown_signal(),
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| format!("the server failed: {e}"))?;
    eprintln!("stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
